"""The learner's path through the student notebooks, in JupyterLab in a real (headless) browser.

What a learner would see is asserted from the rendered page: no error output in a notebook run
from top to bottom; ✅/❌/⏭ in a check cell's output; explorer pictures (``<img>``) that change
when a control moves; pictures that are still there after saving and reopening; and text in
every figure at least 8 CSS px tall at the size the figure is drawn in a notebook column of about
950 px (the JupyterLab window is 1280 px wide with the file browser open).

Each notebook is opened and run once, in its own tab; later tests reuse the tab in order (the
save-and-reopen test comes last). Quick mode. Measured on 2 cores shared with other test runs:
7.7 minutes in all at load average 4-6 ("Run All" 227 s of it, chapters 05 and 06 136 s), 11 to
16 minutes at load average 7-10. The summary at the end lists, per notebook, the smallest text measured and the
time "Run All" took, and the folder of the screenshots of every state.
"""

from __future__ import annotations

import json
import re

import pytest

from conftest import MEASURED, screenshot_dir
from notebook import Notebook

MIN_TEXT_PX = 8.0
STUDENT = "notebooks/student/{}.ipynb"
# Chapter 07 has its own module (test_chapter_07.py); a new chapter gets one too, or joins this list.
CHAPTERS = ["00_start_here", "01_keypoints", "02_local_affine_motion", "03_dense_motion", "04_generator",
            "05_losses", "06_training", "08_gpu_training", "09_ablation"]
# The cell that displays each explorer (a regular expression on its source); add new explorers here.
EXPLORER_CELLS = {"01_keypoints": r"temperature_explorer\(", "02_local_affine_motion": r"sparse_motion_explorer\(",
                  "03_dense_motion": r"dense_motion_explorer\(", "06_training": r"checkpoint_explorer\("}

_tabs: dict[str, Notebook] = {}
run_seconds: dict[str, float] = {}


@pytest.fixture(scope="module")
def context(browser):
    from conftest import VIEWPORT

    context = browser.new_context(viewport=VIEWPORT)
    try:
        yield context
    finally:
        _tabs.clear()
        context.close()


@pytest.fixture
def ran(context, lab):
    """ran(name): the student notebook ``name``, open in its own tab and run from top to bottom once."""

    def get(name: str) -> Notebook:
        if name not in _tabs:
            page = context.new_page()
            page.set_default_timeout(60_000)
            notebook = Notebook(page, lab, STUDENT.format(name), screenshot_dir()).open()
            run_seconds[name] = notebook.run_all()
            _tabs[name] = notebook
        return _tabs[name]

    return get


def _marks(text: str) -> set[str]:
    return {mark for mark in ("✅", "❌", "⏭") if mark in text}


def test_student_00_runs_without_errors(ran):
    notebook = ran("00_start_here")
    assert notebook.errors() == []
    setup = notebook.find_cell(r"setup works")
    assert "setup works" in notebook.output_text(setup)
    notebook.screenshot(setup, "setup-check")


def _solution(lab, name: str, function: str) -> str:
    """The instructor notebook's solution of ``function`` (what the student notebook folds away)."""
    instructor = json.loads((lab.root / "notebooks" / f"{name}.ipynb").read_text())
    for cell in instructor["cells"]:
        source = "".join(cell["source"])
        if "solution" in cell["metadata"].get("tags", []) and re.search(rf"^def {function}\(", source, re.M):
            return source
    raise AssertionError(f"no solution of {function} in the instructor notebook {name}")


def test_chapter_01_check_judges_the_learners_own_code(ran, lab):
    """A check never reports ✅ for a stub, however often it runs; a wrong answer gets ❌, the solution ✅."""
    notebook = ran("01_keypoints")
    stub_cell = notebook.find_cell(r'raise NotImplementedError\("Exercise 1\.1')
    check_cell = notebook.find_cell(r"check_spatial_softmax\(")
    stub = notebook.cell_sources()[stub_cell][1]

    def check(label: str) -> set[str]:
        notebook.run_cell(check_cell)
        notebook.screenshot(check_cell, f"check-{label}")
        return _marks(notebook.output_text(check_cell))

    after_run_all = _marks(notebook.output_text(check_cell))
    notebook.screenshot(check_cell, "check-after-run-all")
    assert "✅" not in after_run_all and "⏭" in after_run_all, notebook.output_text(check_cell)
    assert "✅" not in check("stub-rerun"), "re-running the check cell passed the untouched stub"

    notebook.set_source(stub_cell, "def spatial_softmax(logits, temperature):\n"
                                   "    return torch.softmax(logits / temperature, dim=-1)   # over W only\n")
    notebook.run_cell(stub_cell)
    assert check("wrong-answer") == {"❌"}, notebook.output_text(check_cell)
    assert "✅" not in check("wrong-answer-rerun"), "re-running the check cell passed a wrong answer"

    notebook.set_source(stub_cell, _solution(lab, "01_keypoints", "spatial_softmax"))
    notebook.run_cell(stub_cell)
    assert check("solution") == {"✅"}, notebook.output_text(check_cell)

    notebook.set_source(stub_cell, stub)
    notebook.run_cell(stub_cell)
    assert "✅" not in check("stub-again"), "the check passed the stub after a correct answer was replaced"
    assert "✅" not in check("stub-again-rerun")


def test_chapter_02_explorer_redraws_for_every_slider(ran):
    notebook = ran("02_local_affine_motion")
    assert notebook.errors() == []
    cell = notebook.find_cell(EXPLORER_CELLS["02_local_affine_motion"])
    picture = notebook.wait_for_new_picture(cell, before="")
    notebook.screenshot(cell, "explorer-start")
    for description, value in [("driving x", -0.4), ("driving y", 0.5), ("rotation (°)", 170),
                               ("scale", 0.6), ("shear", 0.3)]:
        notebook.set_slider(cell, description, value)
        picture = notebook.wait_for_new_picture(cell, before=picture)
        notebook.screenshot(cell, "explorer-" + re.sub(r"\W+", "-", description).strip("-"))
    assert len(notebook.images(cell)) == 1   # one picture, replaced in place


def test_chapter_03_explorer_redraws_when_the_part_changes_and_keeps_each_pose(ran):
    notebook = ran("03_dense_motion")
    assert notebook.errors() == []
    cell = notebook.find_cell(EXPLORER_CELLS["03_dense_motion"])
    picture = notebook.wait_for_new_picture(cell, before="")
    notebook.screenshot(cell, "explorer-start")
    notebook.set_slider(cell, "dx", 0.3)
    picture = notebook.wait_for_new_picture(cell, before=picture)
    notebook.screenshot(cell, "explorer-part1-moved")
    notebook.select(cell, "part", "2 (square 1)")
    picture = notebook.wait_for_new_picture(cell, before=picture)
    notebook.screenshot(cell, "explorer-part2")
    assert float(notebook.slider_value(cell, "dx")) == 0.0   # the sliders show part 2's own pose
    notebook.set_slider(cell, "turn (°)", 90)
    picture = notebook.wait_for_new_picture(cell, before=picture)
    notebook.select(cell, "part", "1 (square 0)")
    picture = notebook.wait_for_new_picture(cell, before=picture)
    notebook.screenshot(cell, "explorer-back-to-part1")
    assert float(notebook.slider_value(cell, "dx")) == pytest.approx(0.3)   # part 1 kept its offset
    assert float(notebook.slider_value(cell, "turn (°)")) == 0.0


@pytest.mark.parametrize("name", CHAPTERS)
def test_every_figure_is_legible(ran, lab, name):
    """Smallest text of every figure, in CSS px as drawn: points × dpi / 72 × rendered / natural width."""
    notebook = ran(name)
    assert notebook.errors() == [], f"{name}: error outputs"
    widths = notebook.widths()
    assert 900 <= widths["panel"] <= 1000, f"the notebook panel is {widths['panel']} px wide, not about 950"
    sizes = notebook.figure_text_px()
    measured = [pixels for _, _, pixels in sizes]
    too_small = [f"cell {image['cell']}: {record['min_pt']} pt text {record['min_text']!r} is {pixels:.1f} px "
                 f"(figure {image['natural']} px drawn at {image['rendered']:.0f} px; "
                 f"screenshot {name}-figure-cell{image['cell']}.png)"
                 for image, record, pixels in sizes if pixels < MIN_TEXT_PX]
    if name not in EXPLORER_CELLS:   # nothing later needs this notebook: free its kernel
        lab.shutdown_kernels(notebook.path)
    assert measured, f"{name}: no figure measured"
    MEASURED[name] = (f"{len(measured)} figures, smallest text {min(measured):.1f} px as rendered "
                      f"(notebook panel {widths['panel']:.0f} px); run all {run_seconds.get(name, 0):.0f} s")
    assert not too_small, f"{name}: text under {MIN_TEXT_PX} px:\n" + "\n".join(too_small)


@pytest.mark.parametrize("name", sorted(EXPLORER_CELLS))
def test_saved_and_reopened_notebook_keeps_every_widget_picture(ran, lab, name):
    """Save, stop the kernel, reopen: every explorer cell still shows its (latest) picture."""
    notebook = ran(name)
    cell = notebook.find_cell(EXPLORER_CELLS[name])
    last = notebook.wait_for_new_picture(cell, before="")
    notebook.save()
    lab.shutdown_kernels()
    reopened = Notebook(notebook.page, lab, notebook.path, screenshot_dir()).open()
    reopened.wait_for_kernel()             # a fresh kernel: the explorer's widget models are gone
    reopened.page.wait_for_timeout(1500)   # let the widget manager give up on them
    cell = reopened.find_cell(EXPLORER_CELLS[name])
    reopened.screenshot(cell, "reopened")
    pictures = [image for image in reopened.images(cell) if image["complete"] and image["natural"] > 0]
    assert pictures, f"{name}: the reopened notebook shows no picture for the explorer in cell {cell}"
    assert pictures[-1]["src"] == last, f"{name}: the reopened picture is not the last one drawn"
    _tabs.pop(name, None)
