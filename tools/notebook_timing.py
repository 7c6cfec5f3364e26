"""pytest plugin: report the wall time of each notebook at the end of an nbval run.

Enable it with ``-p tools.notebook_timing`` (``make test`` does). For every ``.ipynb`` file it adds
up the time from the start to the end of each of its cells' test items, kernel start-up and
shutdown included, and prints one line per notebook, slowest first, just above pytest's summary.
"""

from __future__ import annotations

import time
from collections import defaultdict

_started: dict[str, float] = {}
_seconds: dict[str, float] = defaultdict(float)
_cells: dict[str, int] = defaultdict(int)


def _notebook(nodeid: str) -> str | None:
    path = nodeid.split("::", 1)[0]
    return path if path.endswith(".ipynb") else None


def pytest_runtest_logstart(nodeid, location):
    if _notebook(nodeid):
        _started[nodeid] = time.perf_counter()


def pytest_runtest_logfinish(nodeid, location):
    notebook = _notebook(nodeid)
    if notebook and nodeid in _started:
        _seconds[notebook] += time.perf_counter() - _started.pop(nodeid)
        _cells[notebook] += 1


def pytest_terminal_summary(terminalreporter):
    if not _seconds:
        return
    terminalreporter.section("notebook wall time")
    for notebook, seconds in sorted(_seconds.items(), key=lambda item: -item[1]):
        terminalreporter.write_line(f"{seconds:7.1f} s  {notebook}  ({_cells[notebook]} cells)")
    terminalreporter.write_line(f"{sum(_seconds.values()):7.1f} s  total")
