"""``fomm-teach notebooks DIR``: copies the shipped notebooks, never overwrites an edited one."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from fomm_teach import cli, notebooks_cli
from fomm_teach.errors import FommTeachError

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def shipped(tmp_path, monkeypatch):
    """Two fake shipped notebooks per kind, in a folder the test can change."""
    source = tmp_path / "shipped"
    files = {}
    for kind in notebooks_cli.KINDS:
        for name in ("00_start_here.ipynb", "01_keypoints.ipynb"):
            path = source / kind / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(f'{{"kind": "{kind}", "name": "{name}", "version": 1}}\n')
            files[f"{kind}/{name}"] = path
    monkeypatch.setattr(notebooks_cli, "shipped_notebooks", lambda: dict(files))
    return files


def test_a_checkout_ships_every_generated_notebook():
    found = notebooks_cli.shipped_notebooks()
    expected = {f"instructor/{p.name}" for p in (ROOT / "notebooks").glob("[0-9]*.ipynb")}
    expected |= {f"student/{p.name}" for p in (ROOT / "notebooks" / "student").glob("[0-9]*.ipynb")}
    assert set(found) == expected and "student/00_start_here.ipynb" in found


def test_copies_both_kinds_and_a_second_run_changes_nothing(shipped, tmp_path):
    target = tmp_path / "course"
    first = notebooks_cli.copy_notebooks(target)
    assert len(first["written"]) == 4 and first["unchanged"] == []
    assert (target / "student" / "00_start_here.ipynb").read_bytes() == shipped["student/00_start_here.ipynb"].read_bytes()
    second = notebooks_cli.copy_notebooks(target)
    assert second == {"written": [], "unchanged": sorted(shipped)}


def test_only_student(shipped, tmp_path):
    result = notebooks_cli.copy_notebooks(tmp_path / "course", only="student")
    assert result["written"] == ["student/00_start_here.ipynb", "student/01_keypoints.ipynb"]
    assert not (tmp_path / "course" / "instructor").exists()


def test_an_edited_notebook_is_never_overwritten_and_nothing_is_copied(shipped, tmp_path):
    target = tmp_path / "course"
    notebooks_cli.copy_notebooks(target)
    edited = target / "student" / "01_keypoints.ipynb"
    edited.write_text('{"my": "work"}\n')
    (target / "instructor" / "00_start_here.ipynb").unlink()  # would be copied, but the run stops first
    with pytest.raises(FommTeachError, match=r"not overwriting 1 notebook.*student/01_keypoints.ipynb.*Nothing was copied"):
        notebooks_cli.copy_notebooks(target)
    assert edited.read_text() == '{"my": "work"}\n'
    assert not (target / "instructor" / "00_start_here.ipynb").exists()


def test_a_file_that_was_there_before_is_not_overwritten(shipped, tmp_path):
    target = tmp_path / "course"
    (target / "student").mkdir(parents=True)
    (target / "student" / "00_start_here.ipynb").write_text("someone else's file\n")
    with pytest.raises(FommTeachError, match="not overwriting"):
        notebooks_cli.copy_notebooks(target)


def test_an_untouched_copy_is_updated_by_a_newer_package(shipped, tmp_path):
    target = tmp_path / "course"
    notebooks_cli.copy_notebooks(target)
    newer = '{"version": 2}\n'
    shipped["student/00_start_here.ipynb"].write_text(newer)
    result = notebooks_cli.copy_notebooks(target)
    assert result["written"] == ["student/00_start_here.ipynb"]
    assert (target / "student" / "00_start_here.ipynb").read_text() == newer
    manifest = json.loads((target / notebooks_cli.MANIFEST).read_text())
    assert set(manifest["files"]) == set(shipped)


def test_cli_reports_a_refusal_in_one_line(shipped, tmp_path, capsys):
    target = tmp_path / "course"
    assert cli.main(["notebooks", str(target)]) == 0
    assert "4 written" in capsys.readouterr().out
    (target / "instructor" / "01_keypoints.ipynb").write_text("edited\n")
    assert cli.main(["notebooks", str(target)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("fomm-teach notebooks: error: not overwriting") and "\n" not in err


def test_python_dash_m_is_the_same_command():
    result = subprocess.run([sys.executable, "-m", "fomm_teach", "notebooks", "--help"],
                            capture_output=True, text=True, cwd=ROOT, check=True)
    assert result.stdout.startswith("usage: fomm-teach notebooks")
