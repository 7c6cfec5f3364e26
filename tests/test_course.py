"""fomm_teach.course.start: seeds, threads, device, quick mode, the one-line report, the %%gpu magic."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from fomm_teach import course as course_module
from fomm_teach.course import Course, start


@pytest.fixture(autouse=True)
def keep_threads():
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


def test_start_seeds_python_numpy_and_torch(capsys):
    start(seed=3, verbose=False)
    first = (random.random(), np.random.rand(), torch.rand(2))
    start(seed=3, verbose=False)
    second = (random.random(), np.random.rand(), torch.rand(2))
    assert first[0] == second[0] and first[1] == second[1] and torch.equal(first[2], second[2])
    start(seed=4, verbose=False)
    assert not torch.equal(torch.rand(2), first[2])


def test_start_sets_threads_and_picks_the_device(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    course = start(threads=1, verbose=False)
    assert torch.get_num_threads() == 1 and course.threads == 1
    assert course.device == torch.device("cpu")
    default = start(verbose=False)
    assert 1 <= default.threads <= 2 and torch.get_num_threads() == default.threads


@pytest.mark.parametrize("value, quick", [(None, False), ("", False), ("0", False), ("1", True), ("yes", True)])
def test_quick_mode_comes_from_the_environment(monkeypatch, value, quick):
    if value is None:
        monkeypatch.delenv("FOMM_TEACH_QUICK", raising=False)
    else:
        monkeypatch.setenv("FOMM_TEACH_QUICK", value)
    assert start(verbose=False).quick is quick


def test_start_prints_one_line_with_versions_device_and_mode(monkeypatch, capsys):
    monkeypatch.setenv("FOMM_TEACH_QUICK", "1")
    start(seed=7)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1
    for expected in (f"torch {torch.__version__}", f"numpy {np.__version__}", "device ", "quick mode on", "seed 7"):
        assert expected in lines[0]


def test_pick_chooses_by_mode():
    cpu, gpu = torch.device("cpu"), torch.device("cuda")
    assert Course(cpu, quick=True, seed=0, threads=1).pick(quick=8, full=64, gpu=256) == 8
    assert Course(cpu, quick=False, seed=0, threads=1).pick(quick=8, full=64, gpu=256) == 64
    assert Course(gpu, quick=False, seed=0, threads=1).pick(quick=8, full=64, gpu=256) == 256
    assert Course(gpu, quick=False, seed=0, threads=1).pick(quick=8, full=64) == 64


def test_gpu_magic_skips_on_cpu_and_runs_on_cuda(monkeypatch, capsys):
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    monkeypatch.setattr("IPython.get_ipython", lambda: shell)
    course_module._register_gpu_magic(Course(torch.device("cpu"), quick=False, seed=0, threads=1))
    shell.run_cell("%%gpu\nran_on_gpu = True")
    assert "ran_on_gpu" not in shell.user_ns
    assert "skipped: this cell needs a GPU" in capsys.readouterr().out
    course_module._register_gpu_magic(Course(torch.device("cuda"), quick=False, seed=0, threads=1))
    shell.run_cell("%%gpu\nran_on_gpu = True")
    assert shell.user_ns["ran_on_gpu"] is True
    result = shell.run_cell("%%gpu\nraise ValueError('inside a gpu cell')")
    assert isinstance(result.error_in_exec, ValueError)
