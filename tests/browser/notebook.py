"""Driving one JupyterLab notebook tab with Playwright, and reading what a learner sees in it.

Actions go through JupyterLab's own commands (``window.jupyterapp``, exposed by
``--LabApp.expose_app_in_browser``) or the widgets' DOM (typing into a slider's readout, picking
from a drop-down); what the tests assert is read from the rendered page: output text, ``<img>``
elements and their rendered sizes. The kernel's outputs (``output_type == "error"``) are read from
the notebook model, which is what the page renders.
"""

from __future__ import annotations

import base64
import json
import re
import struct
import time
from pathlib import Path

CURRENT = "window.jupyterapp.shell.currentWidget"


def png_text_record(data_url: str):
    """The ``fomm-teach-text`` record (figure_audit.py) of a PNG data URL, or None."""
    if not data_url.startswith("data:image/png;base64,"):
        return None
    png = base64.b64decode(data_url.split(",", 1)[1])
    position = 8
    while position < len(png):
        length, kind = struct.unpack(">I4s", png[position:position + 8])
        body = png[position + 8:position + 8 + length]
        if kind == b"tEXt":
            keyword, _, text = body.partition(b"\0")
            if keyword == b"fomm-teach-text":
                return json.loads(text.decode("latin-1"))
        position += 12 + length
    return None


class Notebook:
    """A notebook open in JupyterLab in ``page``."""

    _opened = 0

    def __init__(self, page, lab, path: str, shots: Path):
        self.page, self.lab, self.path = page, lab, path
        self.shots = shots
        self.name = Path(path).stem

    # --- opening, running, saving -----------------------------------------------------------

    def open(self, timeout: float = 120) -> "Notebook":
        # A workspace of its own, reset: JupyterLab restores nothing else (no other notebook, no kernel).
        Notebook._opened += 1
        workspace = f"test{Notebook._opened}"
        self.page.goto(f"{self.lab.url}/lab/workspaces/{workspace}/tree/{self.path}?reset&token={self.lab.token}")
        self.page.wait_for_function(
            f"() => window.jupyterapp && {CURRENT} && {CURRENT}.context && {CURRENT}.context.path === {json.dumps(self.path)}"
            f" && {CURRENT}.context.isReady && {CURRENT}.content.widgets.length > 0", timeout=timeout * 1000)
        return self

    def wait_for_kernel(self, timeout: float = 120) -> None:
        self.page.wait_for_function(
            f"() => {{ const k = {CURRENT}.sessionContext.session?.kernel; return k && k.status === 'idle'; }}",
            timeout=timeout * 1000)

    def command(self, name: str, args: dict | None = None, timeout: float = 600):
        self.page.set_default_timeout(timeout * 1000)
        try:
            return self.page.evaluate(f"([name, args]) => window.jupyterapp.commands.execute(name, args)",
                                      [name, args or {}])
        finally:
            self.page.set_default_timeout(60_000)

    def run_all(self, timeout: float = 600) -> float:
        """Run all cells (Run → Run All Cells); return the seconds it took."""
        self.wait_for_kernel()
        start = time.monotonic()
        self.command("notebook:run-all-cells", timeout=timeout)
        self.wait_for_kernel(timeout)
        return time.monotonic() - start

    def save(self) -> None:
        self.command("docmanager:save")
        self.page.wait_for_function(f"() => !{CURRENT}.context.model.dirty")

    # --- cells --------------------------------------------------------------------------------

    def cell_sources(self) -> list[tuple[str, str]]:
        return self.page.evaluate(f"() => {CURRENT}.content.widgets.map(c => [c.model.type, c.model.sharedModel.getSource()])")

    def find_cell(self, pattern: str, kind: str = "code") -> int:
        """Index of the first cell of type ``kind`` whose source matches the regular expression."""
        for index, (cell_type, source) in enumerate(self.cell_sources()):
            if cell_type == kind and re.search(pattern, source):
                return index
        raise AssertionError(f"{self.path}: no {kind} cell matches {pattern!r}")

    def set_source(self, index: int, source: str) -> None:
        """Replace a cell's text, as a learner editing it would."""
        self.page.evaluate(f"([i, s]) => {CURRENT}.content.widgets[i].model.sharedModel.setSource(s)", [index, source])

    def run_cell(self, index: int, timeout: float = 300) -> None:
        """Select cell ``index`` and run it (Shift+Enter's command), then wait until the kernel is idle."""
        self.page.evaluate(f"(i) => {{ {CURRENT}.content.activeCellIndex = i; }}", index)
        self.command("notebook:run-cell", timeout=timeout)
        self.wait_for_kernel(timeout)

    def output_text(self, index: int) -> str:
        """The text a learner sees in cell ``index``'s output area."""
        return self.page.evaluate(f"(i) => {CURRENT}.content.widgets[i].outputArea.node.innerText", index)

    def errors(self) -> list[str]:
        """'cell N: ename: evalue' for every error output in the notebook."""
        return self.page.evaluate(
            f"""() => {CURRENT}.content.widgets.flatMap((c, i) => c.model.type !== 'code' ? [] :
                   c.model.outputs.toJSON().filter(o => o.output_type === 'error')
                    .map(o => `cell ${{i}}: ${{o.ename}}: ${{o.evalue}}`))""")

    def images(self, index: int | None = None) -> list[dict]:
        """Every ``<img>`` in the outputs (of cell ``index``, or all): cell, src, natural and rendered width."""
        return self.page.evaluate(
            f"""(only) => {CURRENT}.content.widgets.flatMap((c, i) => (only !== null && i !== only) ? [] :
                   [...c.node.querySelectorAll('.jp-OutputArea-output img')].map(img => ({{
                       cell: i, src: img.src, natural: img.naturalWidth, rendered: img.getBoundingClientRect().width,
                       complete: img.complete}})))""", index)

    def figure_text_px(self) -> list[tuple[dict, dict, float]]:
        """(image, its text record, smallest text in CSS px as drawn) for every figure that records its
        text (tests/browser/figure_audit.py), each one screenshotted: points × dpi / 72 × rendered /
        natural width."""
        sizes = []
        for image in self.images():
            record = png_text_record(image["src"])
            if record is None or record["min_pt"] is None:
                continue   # a picture that is not a matplotlib figure, or one without text
            self.screenshot(image["cell"], f"figure-cell{image['cell']}")
            sizes.append((image, record, record["min_pt"] * record["dpi"] / 72 * image["rendered"] / image["natural"]))
        return sizes

    def widths(self) -> dict:
        """Widths (CSS px) of the notebook panel and of a cell's output area."""
        return self.page.evaluate(
            f"""() => ({{panel: {CURRENT}.node.getBoundingClientRect().width,
                        output: Math.max(...{CURRENT}.content.widgets.filter(c => c.model.type === 'code')
                                  .map(c => c.outputArea.node.getBoundingClientRect().width))}})""")

    def cell_locator(self, index: int):
        self.page.evaluate(f"(i) => {CURRENT}.content.widgets[i].node.scrollIntoView()", index)
        return self.page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook > .jp-WindowedPanel-outer .jp-Cell").nth(index)

    def screenshot(self, index: int, label: str) -> Path:
        """A screenshot of cell ``index`` (input and output) into the screenshot folder."""
        path = self.shots / f"{self.name}-{label}.png"
        self.page.evaluate(f"(i) => {CURRENT}.content.widgets[i].node.scrollIntoView()", index)
        self.page.wait_for_timeout(200)
        handle = self.page.evaluate_handle(f"(i) => {CURRENT}.content.widgets[i].node", index)
        handle.as_element().screenshot(path=str(path))
        return path

    def wait_for_new_picture(self, index: int, before: str, timeout: float = 60) -> str:
        """Wait until cell ``index`` shows a picture whose data differs from ``before``; return it."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            sources = [image["src"] for image in self.images(index) if image["complete"]]
            if sources and sources[-1] != before:
                return sources[-1]
            self.page.wait_for_timeout(200)
        raise AssertionError(f"{self.path}: cell {index}'s picture did not change within {timeout:.0f} s")

    # --- widgets ------------------------------------------------------------------------------

    def set_slider(self, index: int, description: str, value: float) -> None:
        """Type ``value`` into the readout of the slider labelled ``description``, then press Enter."""
        area = self.page.evaluate_handle(f"(i) => {CURRENT}.content.widgets[i].outputArea.node", index).as_element()
        slider = area.query_selector(f".widget-slider:has(label:text-is({json.dumps(description, ensure_ascii=False)})) .widget-readout")
        assert slider is not None, f"{self.path}: no slider {description!r} in cell {index}"
        slider.click()
        self.page.keyboard.press("Control+A")
        self.page.keyboard.type(str(value))
        self.page.keyboard.press("Enter")

    def slider_value(self, index: int, description: str) -> str:
        area = self.page.evaluate_handle(f"(i) => {CURRENT}.content.widgets[i].outputArea.node", index).as_element()
        readout = area.query_selector(f".widget-slider:has(label:text-is({json.dumps(description, ensure_ascii=False)})) .widget-readout")
        return readout.inner_text().replace("\u2212", "-")   # ipywidgets writes negatives with U+2212

    def select(self, index: int, description: str, label: str) -> None:
        """Pick ``label`` in the drop-down labelled ``description``."""
        area = self.page.evaluate_handle(f"(i) => {CURRENT}.content.widgets[i].outputArea.node", index).as_element()
        select = area.query_selector(f".widget-dropdown:has(label:text-is({json.dumps(description, ensure_ascii=False)})) select")
        assert select is not None, f"{self.path}: no drop-down {description!r} in cell {index}"
        select.select_option(label=label)
