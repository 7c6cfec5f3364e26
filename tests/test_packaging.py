"""The package as people get it: the wheel in a fresh environment, the Colab cell, the project files.

The wheel test builds the sdist, builds the wheel from it (so a missing sdist file fails here),
installs the wheel with ``--no-deps`` into a new virtual environment in a temporary folder, and
uses it from there: ``python -m fomm_teach --help``, ``fomm-teach notebooks DIR``, and nbval over
one student notebook from DIR in quick mode. The new environment reuses this one's packages
(torch above all) through a ``.pth`` line; nothing is downloaded.
"""

import os
import re
import subprocess
import sys
import sysconfig
import tarfile
import time
import zipfile
from pathlib import Path

import pytest
import yaml

from fomm_teach import __version__
from tools import build_notebooks

ROOT = Path(__file__).resolve().parent.parent
FIRST_NOTEBOOK = "00_start_here.ipynb"


def _run(command, cwd, env=None, timeout=600):
    result = subprocess.run([str(part) for part in command], cwd=cwd, env=env, capture_output=True, text=True,
                            timeout=timeout)
    assert result.returncode == 0, f"{' '.join(map(str, command))} failed:\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
    return result.stdout


def _clean_env(**extra):
    """This environment without anything that would make the repository importable."""
    env = {key: value for key, value in os.environ.items() if key not in {"PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV"}}
    env.update(extra)
    return env


@pytest.mark.slow
def test_wheel_installs_outside_the_repository_and_runs_a_student_notebook(tmp_path):
    started = time.monotonic()
    # 1. sdist, from the checkout; tests and tools stay out of it, the notebooks go in.
    dist = tmp_path / "dist"
    sdist_name = _run([sys.executable, "-c", "import sys; from setuptools import build_meta as b; print(b.build_sdist(sys.argv[1]))",
                       dist], cwd=ROOT).strip().splitlines()[-1]
    with tarfile.open(dist / sdist_name) as archive:
        names = archive.getnames()
        archive.extractall(tmp_path / "sdist", **({"filter": "data"} if hasattr(tarfile, "data_filter") else {}))
    top = f"fomm_teach-{__version__}"
    assert not [name for name in names if name.startswith(f"{top}/tests/")], "the sdist must not ship tests"
    assert f"{top}/LICENSE" in names and f"{top}/notebooks/student/{FIRST_NOTEBOOK}" in names

    # 2. the wheel, from the unpacked sdist, offline, with this environment's setuptools.
    _run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation", "--no-index",
          "--wheel-dir", dist, tmp_path / "sdist" / top], cwd=tmp_path)
    wheel = next(dist.glob("fomm_teach-*.whl"))
    with zipfile.ZipFile(wheel) as archive:
        contents = set(archive.namelist())
    assert {"fomm_teach/py.typed", "fomm_teach/__main__.py", f"fomm_teach/course_notebooks/student/{FIRST_NOTEBOOK}",
            f"fomm_teach-{__version__}.dist-info/licenses/LICENSE"} <= contents

    # 3. a fresh venv outside the repository that reuses this environment's packages (torch, nbval, ...)
    # through a .pth line; .pth files in that folder (this checkout's editable install) are not run.
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", venv], cwd=tmp_path)
    python = venv / "bin" / "python"
    site = Path(_run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], cwd=tmp_path).strip())
    reused = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    (site / "_reuse_test_environment.pth").write_text("\n".join(sorted(reused)) + "\n")
    _run([python, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index", "--ignore-installed", wheel], cwd=tmp_path)
    where = _run([python, "-c", "import fomm_teach; print(fomm_teach.__file__)"], cwd=tmp_path, env=_clean_env())
    assert Path(where.strip()).is_relative_to(venv), f"fomm_teach imported from {where}, not the new venv"

    # 4. the commands a pip user types.
    help_text = _run([python, "-m", "fomm_teach", "--help"], cwd=tmp_path, env=_clean_env())
    assert "notebooks" in help_text and "demo" in help_text
    course = tmp_path / "course"
    _run([venv / "bin" / "fomm-teach", "notebooks", course], cwd=tmp_path, env=_clean_env())
    for kind, folder in {"student": ROOT / "notebooks" / "student", "instructor": ROOT / "notebooks"}.items():
        expected = sorted(path.name for path in folder.glob("[0-9]*.ipynb"))
        assert sorted(path.name for path in (course / kind).glob("*.ipynb")) == expected
        assert (course / kind / FIRST_NOTEBOOK).read_bytes() == (folder / FIRST_NOTEBOOK).read_bytes()

    # 5. a student notebook from DIR, run by nbval with the new venv's kernel, in quick mode.
    output = _run([python, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--rootdir", course, "--nbval-lax",
                   "--nbval-current-env", "--nbval-cell-timeout=300", course / "student" / FIRST_NOTEBOOK],
                  cwd=course, env=_clean_env(FOMM_TEACH_QUICK="1"))
    assert re.search(r"\d+ passed", output) and "failed" not in output
    print(f"wheel test: {time.monotonic() - started:.0f} s")


# --- the Colab install cell ---------------------------------------------------------------------


def _run_colab_cell(monkeypatch, returncode):
    """Run the install cell as Colab would (google.colab imported), with pip replaced by a stub."""
    calls = []

    def fake_run(command, **kwargs):
        calls.append(command)
        return subprocess.CompletedProcess(command, returncode, stdout="pip says no", stderr="")

    monkeypatch.setitem(sys.modules, "google.colab", type(sys)("google.colab"))
    monkeypatch.setattr(subprocess, "run", fake_run)
    exec(compile(build_notebooks.COLAB_SETUP, "colab-cell", "exec"), {})
    return calls


def test_colab_cell_installs_the_release_of_this_version_and_nothing_else(monkeypatch):
    calls = _run_colab_cell(monkeypatch, returncode=0)
    assert len(calls) == 1
    requirement = calls[0][-1]
    assert requirement == f"fomm_teach @ git+https://github.com/{build_notebooks.REPOSITORY}@v{__version__}"
    assert not any(name in " ".join(calls[0]) for name in ("torch", "ipywidgets", "--upgrade", "@main"))


def test_colab_cell_says_what_to_do_when_the_repository_is_wrong(monkeypatch):
    with pytest.raises(RuntimeError, match=r"fork or a renamed repository.*REPOSITORY"):
        _run_colab_cell(monkeypatch, returncode=1)


def test_colab_cell_is_a_form_and_does_nothing_outside_colab():
    source = build_notebooks.COLAB_SETUP
    assert source.startswith("#@title ") and '{ display-mode: "form" }' in source.splitlines()[0]
    assert re.search(r'^REPOSITORY = "[^"]+"  #@param \{type:"string"\}$', source, re.MULTILINE)
    notebook = yaml.safe_load((ROOT / "notebooks" / "student" / FIRST_NOTEBOOK).read_text())  # JSON is YAML
    setup = next(cell for cell in notebook["cells"] if "".join(cell["source"]).startswith("#@title Colab setup"))
    assert setup["metadata"]["cellView"] == "form"
    namespace = {}
    exec(compile(source, "colab-cell", "exec"), namespace)  # not on Colab: only sets REPOSITORY
    assert namespace["REPOSITORY"] == build_notebooks.REPOSITORY


# --- the project's files ------------------------------------------------------------------------

# Repositories that are not this one (cited, or the authors' code).
OTHER_REPOSITORIES = {"AliaksandrSiarohin/first-order-model"}


def test_the_repository_slug_has_one_setting():
    """Every github.com/OWNER/NAME (and Binder gh/OWNER/NAME) of this project is build_notebooks.REPOSITORY."""
    pattern = re.compile(r"(?:github\.com/|mybinder\.org/v2/gh/)([\w.-]+/[\w.-]+?)(?=[/)\s\"'>#?]|\.git|$)")
    files = ["README.md", "CONTRIBUTING.md", "CITATION.cff", "pyproject.toml", "CHANGELOG.md"]
    found = {}
    for name in files:
        for slug in pattern.findall((ROOT / name).read_text(encoding="utf-8")):
            found.setdefault(slug, set()).add(name)
    ours = {slug: names for slug, names in found.items() if slug not in OTHER_REPOSITORIES}
    assert set(ours) == {build_notebooks.REPOSITORY}, f"slugs other than REPOSITORY: {ours}"


def test_readme_colab_badge_opens_the_release_tag_like_the_notebooks():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    colab = re.findall(r"colab\.research\.google\.com/github/[^)\s]+", readme)
    assert colab and all(f"/blob/{build_notebooks.RELEASE_TAG}/notebooks/student/" in link for link in colab)
    assert "labpath=notebooks%2Fstudent%2F00_start_here.ipynb" in readme  # Binder lands on the student notebook


def test_readme_picture_and_relative_links_exist():
    """The README renders with its picture: every relative link and image points at a committed file."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    targets = re.findall(r"\]\((?!https?://|#)([^)\s]+)\)", readme)
    assert "docs/demo.gif" in targets
    missing = [target for target in targets if not (ROOT / target).exists()]
    assert not missing, f"README links to missing files: {missing}"
    gif = (ROOT / "docs" / "demo.gif").read_bytes()
    assert gif[:6] in (b"GIF87a", b"GIF89a") and len(gif) < 3_000_000  # small enough for a README


def test_project_files_exist_and_agree_with_the_version():
    assert "MIT License" in (ROOT / "LICENSE").read_text() and "Aliaksandr Siarohin" in (ROOT / "LICENSE").read_text()
    citation = yaml.safe_load((ROOT / "CITATION.cff").read_text(encoding="utf-8"))
    assert citation["cff-version"] == "1.2.0" and citation["version"] == __version__
    assert {"title", "authors", "message", "license"} <= set(citation)
    assert any(ref["title"] == "First Order Motion Model for Image Animation" for ref in citation["references"])
    assert f"## {__version__}" in (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    assert "@inproceedings{siarohin2019first," in (ROOT / "README.md").read_text(encoding="utf-8")


def test_help_texts_name_no_file_that_a_wheel_does_not_install():
    """Every ``--help`` of ``fomm-teach``: no path that exists only in the repository."""
    import argparse

    from fomm_teach import cli

    repository_only = re.compile(r"\b(benchmarks|tests|tools|notebooks)/[\w./-]+")
    parser = cli.build_parser()
    parsers = [parser]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            parsers += list(action.choices.values())
    offenders = {p.prog: repository_only.findall(p.format_help()) for p in parsers}
    assert not {prog: paths for prog, paths in offenders.items() if paths}
