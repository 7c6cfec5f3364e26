"""Chapter 07 (animation) in JupyterLab in a real (headless) browser: the student notebook runs
from top to bottom without an error, its three exercise checks skip the untouched stubs, the live
puppet redraws its picture when a slider moves and when another keypoint is picked, each keypoint
keeps its own pose, and a saved, reopened notebook (kernel stopped) still shows the puppet's picture.

Quick mode, one tab for the whole module (the tests run in file order, the save-and-reopen test
last). Measured on 2 cores shared with other test runs (load average 6-8): 156 s and 234 s in all,
of which "Run All" took 68 s and 80 s; each puppet redraw takes 1-3 s there, and the tests wait for
about 14 of them. The summary at the end prints the Run All time, the smallest text of the
chapter's figures as rendered, and the screenshot folder.

The pose-per-keypoint test found a bug in the first ``puppet_explorer`` (a new keypoint inherited
the previous one's slider values); it now guards the fix.
"""

from __future__ import annotations

import re

import pytest

from conftest import MEASURED, screenshot_dir
from notebook import Notebook

PATH = "notebooks/student/07_animation.ipynb"
PUPPET = r"puppet_explorer\("
CHECKS = ["check_convex_hull_area", "check_normalize_kp", "check_generate_frames"]
MIN_TEXT_PX = 8.0

_state: dict = {}


@pytest.fixture(scope="module")
def notebook(browser, lab):
    """The student notebook 07, open in its own tab and run from top to bottom once."""
    from conftest import VIEWPORT

    context = browser.new_context(viewport=VIEWPORT)
    try:
        page = context.new_page()
        page.set_default_timeout(60_000)
        opened = Notebook(page, lab, PATH, screenshot_dir()).open()
        _state["run_all"] = opened.run_all()
        yield opened
    finally:
        context.close()
        lab.shutdown_kernels()


def _puppet_cell(notebook: Notebook) -> int:
    return notebook.find_cell(PUPPET)


def _slider(notebook: Notebook, cell: int, description: str) -> float:
    """A slider's value as its readout shows it (which may write a minus sign as U+2212)."""
    return float(notebook.slider_value(cell, description).replace("\u2212", "-"))


def test_student_07_runs_without_errors_and_skips_the_stubs(notebook):
    assert notebook.errors() == []
    for check in CHECKS:
        cell = notebook.find_cell(rf"checks\.{check}\(")
        text = notebook.output_text(cell)
        notebook.screenshot(cell, f"{check}-stub")
        assert "✅" not in text and "⏭" in text, f"{check} on the untouched stub printed:\n{text}"


def test_puppet_redraws_when_a_slider_moves_and_when_the_keypoint_changes(notebook):
    cell = _puppet_cell(notebook)
    picture = notebook.wait_for_new_picture(cell, before="")
    notebook.screenshot(cell, "puppet-start")
    for description, value in [("dx", -0.3), ("dy", 0.4), ("angle (°)", 60), ("scale", 1.4)]:
        notebook.set_slider(cell, description, value)
        picture = notebook.wait_for_new_picture(cell, before=picture)
        notebook.screenshot(cell, "puppet-" + re.sub(r"\W+", "-", description).strip("-"))
    # Another keypoint: its own (untouched) pose, a new highlighted ring, so a new picture.
    notebook.select(cell, "keypoint", "keypoint 3")
    picture = notebook.wait_for_new_picture(cell, before=picture)
    notebook.screenshot(cell, "puppet-keypoint-3")
    notebook.set_slider(cell, "dx", 0.5)
    picture = notebook.wait_for_new_picture(cell, before=picture)
    notebook.screenshot(cell, "puppet-keypoint-3-moved")
    assert len(notebook.images(cell)) == 1   # one picture, replaced in place
    _state["last_picture"] = picture


def test_puppet_keeps_each_keypoints_own_pose(notebook):
    """The notebook says: 'Each keypoint keeps its own pose when you switch to another.'"""
    cell = _puppet_cell(notebook)
    picture = notebook.wait_for_new_picture(cell, before="")
    notebook.select(cell, "keypoint", "keypoint 1")   # the shipped model has 5 keypoints
    picture = notebook.wait_for_new_picture(cell, before=picture)
    notebook.set_slider(cell, "dy", -0.2)
    picture = notebook.wait_for_new_picture(cell, before=picture)
    notebook.set_slider(cell, "angle (°)", 45)
    picture = notebook.wait_for_new_picture(cell, before=picture)
    notebook.select(cell, "keypoint", "keypoint 2")   # never touched
    picture = notebook.wait_for_new_picture(cell, before=picture)
    notebook.screenshot(cell, "puppet-keypoint-2-fresh")
    fresh = {name: _slider(notebook, cell, name) for name in ("dx", "dy", "angle (°)", "scale")}
    notebook.select(cell, "keypoint", "keypoint 1")
    notebook.wait_for_new_picture(cell, before=picture)
    notebook.screenshot(cell, "puppet-keypoint-1-again")
    kept = {name: _slider(notebook, cell, name) for name in ("dy", "angle (°)")}
    assert fresh == {"dx": 0.0, "dy": 0.0, "angle (°)": 0.0, "scale": 1.0}, f"keypoint 2 starts at {fresh}"
    assert kept == {"dy": pytest.approx(-0.2), "angle (°)": pytest.approx(45.0)}, f"keypoint 1 came back as {kept}"


def test_every_figure_is_legible(notebook):
    """Smallest text of every figure, in CSS px as drawn (see test_learner_path.py)."""
    widths = notebook.widths()
    assert 900 <= widths["panel"] <= 1000, f"the notebook panel is {widths['panel']} px wide, not about 950"
    sizes = notebook.figure_text_px()
    measured = [pixels for _, _, pixels in sizes]
    too_small = [f"cell {image['cell']}: {record['min_pt']} pt text {record['min_text']!r} is {pixels:.1f} px "
                 f"(figure {image['natural']} px drawn at {image['rendered']:.0f} px)"
                 for image, record, pixels in sizes if pixels < MIN_TEXT_PX]
    assert measured, "no figure measured"
    MEASURED["07_animation"] = (f"{len(measured)} figures, smallest text {min(measured):.1f} px as rendered "
                                f"(notebook panel {widths['panel']:.0f} px); run all {_state.get('run_all', 0):.0f} s")
    assert not too_small, f"text under {MIN_TEXT_PX} px:\n" + "\n".join(too_small)


def test_saved_and_reopened_notebook_still_shows_the_puppet(notebook, lab):
    """Save, stop the kernel, reopen: the puppet's cell still shows its latest picture."""
    cell = _puppet_cell(notebook)
    last = notebook.wait_for_new_picture(cell, before="")
    notebook.save()
    lab.shutdown_kernels()
    reopened = Notebook(notebook.page, lab, PATH, screenshot_dir()).open()
    reopened.wait_for_kernel()             # a fresh kernel: the puppet's widget models are gone
    reopened.page.wait_for_timeout(1500)   # let the widget manager give up on them
    cell = reopened.find_cell(PUPPET)
    reopened.screenshot(cell, "puppet-reopened")
    pictures = [image for image in reopened.images(cell) if image["complete"] and image["natural"] > 0]
    assert pictures, f"the reopened notebook shows no picture for the puppet in cell {cell}"
    assert pictures[-1]["src"] == last, "the reopened picture is not the last one drawn"
