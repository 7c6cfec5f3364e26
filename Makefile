# fomm_teach: `make demo` and `make test` do all set-up on a fresh machine.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# torch is installed first and on its own: these releases lie on the course machines' disk
# (other versions download gigabytes). The package itself only asks for lower bounds.
TORCH_PACKAGES ?= torch==2.14.1 torchvision==0.29.1
INSTALLED := $(VENV)/.installed
NOTEBOOK_TIMEOUT ?= 300

# nbval over the committed notebooks, in quick mode, with a per-cell timeout and a per-notebook
# time report (tools/notebook_timing.py). Only existing notebooks are listed, so pytest never
# meets an empty selection.
INSTRUCTOR_NOTEBOOKS := $(sort $(wildcard notebooks/[0-9]*.ipynb))
STUDENT_NOTEBOOKS := $(sort $(wildcard notebooks/student/[0-9]*.ipynb))
NBVAL := FOMM_TEACH_QUICK=1 PYTHONPATH=$(CURDIR) $(PY) -m pytest -q -p tools.notebook_timing \
	--nbval-lax --nbval-current-env --nbval-cell-timeout=$(NOTEBOOK_TIMEOUT)

.PHONY: install demo lab test unit export notebooks check-generated nbval-instructor nbval-student test-browser

install: $(INSTALLED)

$(INSTALLED): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet $(TORCH_PACKAGES)
	$(PY) -m pip install --quiet -e '.[course,test]'
	touch $@

demo: $(INSTALLED)
	$(VENV)/bin/fomm-teach demo --out out

# Learners work in the student notebooks (exercises open, solutions folded away).
lab: $(INSTALLED)
	$(VENV)/bin/jupyter lab notebooks/student/00_start_here.ipynb

# Regenerate the library modules and the notebooks from notebooks/*.py.
export: $(INSTALLED)
	$(PY) tools/export.py

notebooks: $(INSTALLED)
	$(PY) tools/build_notebooks.py

check-generated: $(INSTALLED)
	$(PY) tools/export.py --check
	$(PY) tools/build_notebooks.py --check

unit: $(INSTALLED)
	FOMM_TEACH_QUICK=1 $(PY) -m pytest -q tests --ignore=tests/browser

# Instructor notebooks run their solutions; FOMM_TEACH_STRICT=1 makes every failed check an error.
nbval-instructor: $(INSTALLED)
	$(if $(INSTRUCTOR_NOTEBOOKS),FOMM_TEACH_STRICT=1 $(NBVAL) $(INSTRUCTOR_NOTEBOOKS),@echo "no instructor notebooks")

# Student notebooks must run to the end with the exercises not attempted (the checks fall back).
nbval-student: $(INSTALLED)
	$(if $(STUDENT_NOTEBOOKS),$(NBVAL) $(STUDENT_NOTEBOOKS),@echo "no student notebooks")

# The learner's path in JupyterLab in headless Chromium (tests/browser/, Playwright driving Debian's
# /usr/bin/chromium; .ci/run installs it). Student notebooks in quick mode; screenshots of every
# state go to the folder printed at the end (FOMM_TEACH_SCREENSHOTS to choose it).
test-browser: $(INSTALLED)
	FOMM_TEACH_QUICK=1 $(PY) -m pytest -q -p no:cacheprovider tests/browser

# What CI runs (.ci/run). Every step must pass; the last line is pytest's summary.
test: check-generated unit nbval-instructor nbval-student test-browser
