# fomm_teach: `make demo` and `make test` do all set-up on a fresh machine.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# torch is installed first and on its own: these releases lie on the course machines' disk
# (other versions download gigabytes). The package itself only asks for lower bounds.
TORCH_PACKAGES ?= torch==2.14.1 torchvision==0.29.1
INSTALLED := $(VENV)/.installed
NOTEBOOK_TIMEOUT ?= 300

.PHONY: install demo lab test unit export notebooks check-generated

install: $(INSTALLED)

$(INSTALLED): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet $(TORCH_PACKAGES)
	$(PY) -m pip install --quiet -e '.[course,test]'
	touch $@

demo: $(INSTALLED)
	$(VENV)/bin/fomm-teach demo --out out

lab: $(INSTALLED)
	$(VENV)/bin/jupyter lab notebooks/00_start_here.ipynb

export: $(INSTALLED)
	$(PY) tools/export.py

notebooks: $(INSTALLED)
	$(PY) tools/build_notebooks.py

check-generated: $(INSTALLED)
	$(PY) tools/export.py --check
	$(PY) tools/build_notebooks.py --check

unit: $(INSTALLED)
	FOMM_TEACH_QUICK=1 $(PY) -m pytest -q tests

test: check-generated unit
	FOMM_TEACH_QUICK=1 FOMM_TEACH_STRICT=1 $(PY) -m pytest -q -p tools.notebook_timing \
		--nbval-lax --nbval-current-env --nbval-cell-timeout=$(NOTEBOOK_TIMEOUT) notebooks/*.ipynb
	FOMM_TEACH_QUICK=1 $(PY) -m pytest -q -p tools.notebook_timing \
		--nbval-lax --nbval-current-env --nbval-cell-timeout=$(NOTEBOOK_TIMEOUT) notebooks/student/*.ipynb
