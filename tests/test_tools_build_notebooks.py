"""tools/build_notebooks.py: instructor and student notebooks, stable bytes, --check, the build guard."""

from __future__ import annotations

import json
import re
import textwrap
from pathlib import Path

import nbformat
import pytest

from fomm_teach.errors import FommTeachError
from tools import build_notebooks
from tools.notebook_source import ROOT

HEADER = """\
# ---
# jupyter:
#   fomm_teach:
#     module: toy
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---
"""

SOLUTION_LINE = "return [2 * item for item in values]  # the secret"

TOY = f'''
# %% [markdown]
# # 99 · A toy chapter
# Some prose.

# %%
from fomm_teach import checks

# %% tags=["exercise"]
def double(values, *, scale=2):
    """Double every value."""
    raise NotImplementedError("Exercise 99.1: double the values")

# %% [markdown]
# Try it first.

# %% tags=["solution", "export"]
def double(values, *, scale=2):
    """Double every value."""
    {SOLUTION_LINE}

# %%
double = checks.check_double(double)

# %% tags=["helper"]
def plot_helper():
    pass

# %% tags=["gpu"]
print("a big run")
'''


def write_source(root: Path, body: str = TOY, name: str = "99_toy") -> Path:
    path = root / "notebooks" / f"{name}.py"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(HEADER + textwrap.dedent(body), encoding="utf-8")
    return path


def build(root: Path) -> tuple[dict, dict]:
    if not (root / "notebooks" / "99_toy.py").exists():
        write_source(root)
    assert build_notebooks.main(["--root", str(root)]) == 0
    instructor = json.loads((root / "notebooks" / "99_toy.ipynb").read_text())
    student = json.loads((root / "notebooks" / "student" / "99_toy.ipynb").read_text())
    return instructor, student


def sources(notebook: dict, cell_type: str) -> list[str]:
    return ["".join(cell["source"]) for cell in notebook["cells"] if cell["cell_type"] == cell_type]


def test_instructor_notebook_layout(tmp_path):
    instructor, _ = build(tmp_path)
    nbformat.validate(nbformat.from_dict(instructor))
    assert instructor["metadata"]["kernelspec"]["name"] == "python3"
    cells = instructor["cells"]
    assert "".join(cells[0]["source"]).startswith("# 99 · A toy chapter")
    assert "colab.research.google.com/github/" in "".join(cells[1]["source"])
    assert "notebooks/99_toy.ipynb" in "".join(cells[1]["source"])
    assert '"google.colab" in sys.modules' in "".join(cells[2]["source"])
    assert "torch" not in re.findall(r'"([^"]*@ git\+[^"]*)"', "".join(cells[2]["source"]))[0].split("@")[0]
    code = sources(instructor, "code")
    assert any(SOLUTION_LINE in cell for cell in code)  # solutions run in the instructor notebook
    assert all(cell["outputs"] == [] and cell["execution_count"] is None for cell in cells if cell["cell_type"] == "code")
    gpu = [cell for cell in cells if "gpu" in cell["metadata"].get("tags", [])]
    assert "".join(gpu[0]["source"]).startswith("%%gpu\n")
    helper = [cell for cell in cells if "helper" in cell["metadata"].get("tags", [])]
    assert helper[0]["metadata"]["jupyter"]["source_hidden"] is True


def test_student_build_strips_solutions_into_details(tmp_path):
    _, student = build(tmp_path)
    assert "notebooks/student/99_toy.ipynb" in "".join(student["cells"][1]["source"])
    code = sources(student, "code")
    assert not any(SOLUTION_LINE in cell for cell in code)
    assert any('raise NotImplementedError("Exercise 99.1' in cell for cell in code)  # the stub stays
    details = [cell for cell in sources(student, "markdown") if SOLUTION_LINE in cell]
    assert len(details) == 1
    assert details[0].startswith("<details>") and details[0].rstrip().endswith("</details>")
    assert "double = checks.check_double(double)" in code  # the check stays


def test_regenerating_gives_identical_bytes_and_stable_ids(tmp_path):
    build(tmp_path)
    paths = [tmp_path / "notebooks" / "99_toy.ipynb", tmp_path / "notebooks" / "student" / "99_toy.ipynb"]
    first = [path.read_bytes() for path in paths]
    build(tmp_path)
    assert [path.read_bytes() for path in paths] == first
    ids = [cell["id"] for cell in json.loads(first[0])["cells"]]
    assert len(ids) == len(set(ids)) and all(re.fullmatch(r"[a-zA-Z0-9_-]{1,64}", i) for i in ids)


def test_check_fails_naming_the_notebook_that_drifted(tmp_path, capsys):
    source = write_source(tmp_path)
    build(tmp_path)
    assert build_notebooks.main(["--root", str(tmp_path), "--check"]) == 0
    source.write_text(source.read_text().replace("Some prose.", "Other prose."))
    before = (tmp_path / "notebooks" / "99_toy.ipynb").read_bytes()
    assert build_notebooks.main(["--root", str(tmp_path), "--check"]) == 1
    err = capsys.readouterr().err
    assert "notebooks/99_toy.ipynb" in err and "notebooks/student/99_toy.ipynb" in err
    assert (tmp_path / "notebooks" / "99_toy.ipynb").read_bytes() == before  # --check writes nothing


def test_check_reports_a_hand_edited_and_an_orphaned_notebook(tmp_path, capsys):
    build(tmp_path)
    instructor = tmp_path / "notebooks" / "99_toy.ipynb"
    instructor.write_text(instructor.read_text().replace("Some prose.", "Edited in Jupyter."))
    (tmp_path / "notebooks" / "student" / "42_gone.ipynb").write_text("{}")
    assert build_notebooks.main(["--root", str(tmp_path), "--check"]) == 1
    err = capsys.readouterr().err
    assert "notebooks/99_toy.ipynb: differs" in err and "notebooks/student/42_gone.ipynb: no source" in err


def guard_error(tmp_path, body: str) -> str:
    write_source(tmp_path, body)
    with pytest.raises(FommTeachError) as info:
        build_notebooks.plan(tmp_path)
    assert build_notebooks.main(["--root", str(tmp_path)]) == 2
    assert not (tmp_path / "notebooks" / "99_toy.ipynb").exists()  # nothing written
    return str(info.value)


def test_guard_catches_a_signature_mismatch(tmp_path):
    message = guard_error(tmp_path, TOY.replace("def double(values, *, scale=2):\n    \"\"\"Double every value.\"\"\"\n    return",
                                                "def double(values, scale=2):\n    \"\"\"Double every value.\"\"\"\n    return"))
    assert "notebooks/99_toy.py, cell 5" in message and "signature mismatch" in message
    assert "def double(values, *, scale=2)" in message and "def double(values, scale=2)" in message


def test_guard_catches_a_class_method_signature_mismatch(tmp_path):
    body = '''
# %% tags=["exercise"]
class Net:
    def forward(self, image):
        raise NotImplementedError

# %% tags=["solution"]
class Net:
    def forward(self, image, kp):
        return image

# %%
Net = checks.check_net(Net)
'''
    message = guard_error(tmp_path, body)
    assert "def forward(self, image)" in message and "def forward(self, image, kp)" in message


def test_guard_catches_an_exercise_without_solution(tmp_path):
    message = guard_error(tmp_path, TOY.replace('tags=["solution", "export"]', 'tags=["export"]'))
    assert "notebooks/99_toy.py, cell 3" in message and "exercise without a solution" in message


def test_guard_catches_a_solution_without_a_check(tmp_path):
    message = guard_error(tmp_path, TOY.replace("double = checks.check_double(double)", "print(double([1]))"))
    assert "notebooks/99_toy.py, cell 5" in message and "solution without a check" in message


def test_guard_catches_a_check_of_another_function(tmp_path):
    message = guard_error(tmp_path, TOY.replace("double = checks.check_double(double)", "triple = checks.check_triple(triple)"))
    assert "notebooks/99_toy.py, cell 6" in message and "does not mention double" in message


def test_guard_catches_a_check_that_does_not_rebind_the_name(tmp_path):
    message = guard_error(tmp_path, TOY.replace("double = checks.check_double(double)", "_ = checks.check_double(double)"))
    assert "notebooks/99_toy.py, cell 6" in message and "`double = checks.check_double(double)`" in message


def test_notebook_metadata_is_what_jupyterlab_writes_on_connecting(tmp_path):
    """JupyterLab replaces kernelspec and language_info when the kernel connects and marks the
    notebook unsaved unless they are equal: they must be what the python3 kernel reports."""
    from ipykernel.ipkernel import IPythonKernel
    from jupyter_client.kernelspec import KernelSpecManager

    instructor, student = build(tmp_path)
    spec = KernelSpecManager().get_kernel_spec("python3")
    for notebook in (instructor, student):
        assert notebook["metadata"]["kernelspec"] == {"name": "python3", "display_name": spec.display_name,
                                                      "language": spec.language}
        language_info = dict(IPythonKernel.language_info)
        assert notebook["metadata"]["language_info"] == {**language_info, "version": build_notebooks.PYTHON_VERSION}
    runtime = (ROOT / "binder" / "runtime.txt").read_text().strip()  # e.g. python-3.11
    assert build_notebooks.PYTHON_VERSION.startswith(runtime.split("-")[1] + ".")


def test_guard_catches_a_stub_that_does_not_raise(tmp_path):
    message = guard_error(tmp_path, TOY.replace('raise NotImplementedError("Exercise 99.1: double the values")', "pass"))
    assert "must raise NotImplementedError" in message


def test_guard_catches_an_unknown_tag(tmp_path):
    message = guard_error(tmp_path, TOY.replace('tags=["helper"]', 'tags=["helpers"]'))
    assert "cell 7" in message and "unknown tag" in message and "helpers" in message


def test_repository_student_notebooks_have_no_solution_cells():
    """Every committed student notebook holds each solution only as its <details> block.

    (Whether the committed notebooks are up to date is `build_notebooks.py --check`, a step of `make test`.)
    """
    for source_path in sorted((ROOT / "notebooks").glob("*.py")):
        source = build_notebooks.read_notebook(source_path)
        solutions = [cell.source for cell in source.cells if "solution" in cell.metadata.get("tags", [])]
        student = json.loads((ROOT / "notebooks" / "student" / f"{source_path.stem}.ipynb").read_text())
        tagged = [cell for cell in student["cells"] if "solution" in cell["metadata"].get("tags", [])]
        assert all(cell["cell_type"] == "markdown" for cell in tagged), source_path.name
        assert ["".join(cell["source"]) for cell in tagged] == [build_notebooks.solution_block(code) for code in solutions]


def test_jupytext_toml_keeps_version_stamps_out_of_saved_sources(tmp_path):
    """Saving a notebook as py:percent (what Jupyter + jupytext do) writes the course header only."""
    import shutil
    import subprocess
    import sys

    build(tmp_path)

    def saved_header(folder: Path) -> str:
        subprocess.run([sys.executable, "-m", "jupytext", "--quiet", "--to", "py:percent", "-o", "notebooks/saved.py",
                        "notebooks/99_toy.ipynb"], cwd=folder, check=True, capture_output=True)
        text = (folder / "notebooks" / "saved.py").read_text()
        return text[: text.index("# ---", 5)]

    without = saved_header(tmp_path)
    assert "jupytext_version" in without  # jupytext's default, which the config removes
    shutil.copy(ROOT / "jupytext.toml", tmp_path / "jupytext.toml")
    header = saved_header(tmp_path)
    assert "jupytext" not in header and "fomm_teach:\n#     module: toy" in header and "name: python3" in header
