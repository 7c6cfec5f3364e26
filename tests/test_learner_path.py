"""Learners land on the student notebooks (DESIGN.md §4): make lab, Binder, and chapter 00 say so."""

from __future__ import annotations

import re
import subprocess
import urllib.parse

from tools.notebook_source import ROOT

FIRST = "notebooks/student/00_start_here.ipynb"


def test_make_lab_opens_the_first_student_notebook():
    dry_run = subprocess.run(["make", "-n", "lab", "INSTALLED=Makefile"], cwd=ROOT, capture_output=True, text=True,
                             check=True).stdout
    commands = [line for line in dry_run.splitlines() if "jupyter lab" in line]
    assert commands and commands[-1].split()[-1] == FIRST, dry_run
    assert (ROOT / FIRST).is_file()


def test_the_binder_badge_opens_the_first_student_notebook():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    badges = re.findall(r"\(https://mybinder\.org/v2/gh/[^)]*\)", readme)
    assert badges, "README.md has no Binder badge"
    for badge in badges:
        query = urllib.parse.parse_qs(urllib.parse.urlparse(badge[1:-1]).query)
        assert query.get("labpath") == [FIRST], badge
    assert FIRST in (ROOT / "binder" / "postBuild").read_text(encoding="utf-8")


def test_chapter_00_tells_learners_where_their_notebooks_are():
    text = (ROOT / "notebooks" / "00_start_here.py").read_text(encoding="utf-8")
    assert "**Where you work: `notebooks/student/`.**" in text
    assert "instructor" in text and "for instructors" in text
