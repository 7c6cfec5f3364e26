"""tools/notebook_timing.py: nbval runs end with a per-notebook wall-time report, then pytest's summary."""

from __future__ import annotations

import os
import subprocess
import sys

import nbformat
from nbformat import v4

from tools.notebook_source import ROOT


def test_timing_report_lists_each_notebook_before_the_summary_line(tmp_path):
    for name, seconds in (("fast.ipynb", 0.0), ("slow.ipynb", 0.6)):
        notebook = v4.new_notebook(cells=[v4.new_code_cell("import time"), v4.new_code_cell(f"time.sleep({seconds})")])
        notebook.metadata["kernelspec"] = {"display_name": "Python 3", "language": "python", "name": "python3"}
        nbformat.write(notebook, tmp_path / name)
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "tools.notebook_timing", "--nbval-lax", "--nbval-current-env",
         "-p", "no:cacheprovider", "fast.ipynb", "slow.ipynb"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
    )
    lines = result.stdout.strip().splitlines()
    assert result.returncode == 0, result.stdout + result.stderr
    report = lines[next(i for i, line in enumerate(lines) if "notebook wall time" in line) + 1:]
    assert "slow.ipynb  (2 cells)" in report[0] and "fast.ipynb  (2 cells)" in report[1]  # slowest first
    assert float(report[0].split()[0]) >= 0.6
    assert "total" in report[2]
    assert lines[-1].startswith("4 passed")
