"""fomm_teach.checks: the check-with-fallback framework, and every chapter checker against the library."""

from __future__ import annotations

import functools
import importlib
import re
import inspect
import pkgutil

import pytest
import torch

import fomm_teach
from fomm_teach import checks

torch.set_num_threads(1)


def reference(x, scale=1.0):
    """A toy library function with a nested output: a dict holding a tensor and a tuple."""
    return {"scaled": x * scale, "stats": (x.sum(), x.shape[0])}


CASES = [
    ("random 3×4", (torch.randn(3, 4, generator=checks.seeded_generator(1)),), {}),
    ("zeros, scale 2", (torch.zeros(2, 2),), {"scale": 2.0}),
]


@pytest.fixture
def lenient(monkeypatch):
    monkeypatch.delenv("FOMM_TEACH_STRICT", raising=False)


@pytest.fixture
def strict(monkeypatch):
    monkeypatch.setenv("FOMM_TEACH_STRICT", "1")


def test_a_correct_function_is_handed_back_with_a_tick(lenient, capsys):
    def learner(x, scale=1.0):
        return {"scaled": scale * x + 1e-7, "stats": [x.sum(), x.shape[0]]}

    assert checks.check_function(learner, reference, CASES, name="toy") is learner
    out = capsys.readouterr().out
    assert out.startswith("✅ toy: all 2 cases match") and re.search(r"largest error 1(\.\d)?e-07", out)


def test_an_exact_match_says_so(lenient, capsys):
    assert checks.check_function(reference, reference, CASES, name="toy") is reference
    assert "exact match" in capsys.readouterr().out


@pytest.mark.parametrize(
    "learner, expected",
    [
        (lambda x, scale=1.0: {"scaled": x * scale + 1e-2, "stats": (x.sum(), x.shape[0])}, "largest error 0.01"),
        (lambda x, scale=1.0: {"scaled": (x * scale).T, "stats": (x.sum(), x.shape[0])}, "expected shape (3, 4), got (4, 3)"),
        (lambda x, scale=1.0: {"scaled": x * scale}, "expected a dict with keys ['scaled', 'stats']"),
        (lambda x, scale=1.0: {"scaled": x * scale, "stats": (x.sum(), x.shape[1])}, "expected 3, got 4"),
        (lambda x, scale=1.0: {"scaled": x * float("nan"), "stats": (x.sum(), 3)}, "NaN"),
        (lambda x, scale=1.0: x[100], "raised IndexError"),
    ],
)
def test_a_wrong_function_is_replaced_by_the_library_and_the_case_named(lenient, capsys, learner, expected):
    assert checks.check_function(learner, reference, CASES, name="toy") is reference
    out = capsys.readouterr().out
    assert out.startswith("❌ toy: case 'random 3×4'") and expected in out
    assert "using the library's toy" in out


def test_a_later_failing_case_is_named(lenient, capsys):
    def learner(x, scale=1.0):
        return {"scaled": x, "stats": (x.sum(), x.shape[0])}  # ignores scale: only case 2 catches it

    assert checks.check_function(learner, reference, CASES, name="toy") is learner  # zeros * 2 == zeros
    cases = CASES + [("ones, scale 3", (torch.ones(2),), {"scale": 3.0})]
    assert checks.check_function(learner, reference, cases, name="toy") is reference
    assert "case 'ones, scale 3'" in capsys.readouterr().out


def test_not_attempted_is_skipped_with_a_notice(lenient, capsys):
    def stub(x, scale=1.0):
        raise NotImplementedError("Exercise 0.0")

    assert checks.check_function(stub, reference, CASES, name="toy") is reference
    assert capsys.readouterr().out.startswith("⏭ toy: not attempted")


def test_strict_mode_raises_on_failure_and_on_not_attempted(strict):
    def stub(x, scale=1.0):
        raise NotImplementedError

    with pytest.raises(AssertionError, match="toy: case 'random 3×4'"):
        checks.check_function(lambda x, scale=1.0: None, reference, CASES, name="toy")
    with pytest.raises(AssertionError, match="not attempted"):
        checks.check_function(stub, reference, CASES, name="toy")
    assert checks.check_function(reference, reference, CASES, name="toy") is reference


def test_the_learner_cannot_change_the_references_inputs(lenient):
    def in_place(x, scale=1.0):
        x.mul_(0)
        return reference(x, scale)

    assert checks.check_function(in_place, reference, CASES, name="toy") is reference


def test_tolerances_are_respected(lenient):
    def close(x, scale=1.0):
        return {"scaled": x * scale * (1 + 1e-3), "stats": (x.sum(), x.shape[0])}

    assert checks.check_function(close, reference, CASES, name="toy") is reference
    assert checks.check_function(close, reference, CASES, name="toy", rtol=1e-2) is close


# --- every chapter checker: accepts the library's function, rejects a perturbed one ---------------


@functools.lru_cache(maxsize=1)
def _library_functions() -> dict:
    """Public functions of every importable fomm_teach module, by name."""
    found = {}
    for info in pkgutil.walk_packages(fomm_teach.__path__, prefix="fomm_teach."):
        if info.name in ("fomm_teach.checks", "fomm_teach.cli", "fomm_teach.demo") or ".data.check" in info.name:
            continue
        try:
            module = importlib.import_module(info.name)
        except Exception:  # a module whose chapter is still being written
            continue
        for name, value in vars(module).items():
            if inspect.isfunction(value) and value.__module__ == info.name:
                found.setdefault(name, value)
    return found


CHECKERS = sorted(name for name in dir(checks) if name.startswith("check_") and name != "check_function")


class _Perturbed:
    """fn with every number in its output shifted: floats by 0.05 (plus 5 %), integers by 1.

    ``changed`` records whether any output held a number to shift (an output made only of other
    objects, e.g. optimizers, cannot be perturbed this way).
    """

    def __init__(self, fn):
        self.fn = fn
        self.changed = False

    def shift(self, value):
        if isinstance(value, torch.Tensor) and value.dtype != torch.bool:
            self.changed = True
            return value + 0.05 + 0.05 * value.abs() if value.is_floating_point() else value + 1
        if isinstance(value, float) or (isinstance(value, int) and not isinstance(value, bool)):
            self.changed = True
            return value + 0.05 + 0.05 * abs(value) if isinstance(value, float) else value + 1
        if isinstance(value, dict):
            return {key: self.shift(item) for key, item in value.items()}
        if isinstance(value, (tuple, list)):
            return type(value)(self.shift(item) for item in value)
        return value

    def __call__(self, *args, **kwargs):
        return self.shift(self.fn(*args, **kwargs))


@pytest.mark.parametrize("checker_name", CHECKERS)
def test_chapter_checker_accepts_the_library_and_rejects_a_wrong_answer(strict, checker_name):
    if checker_name == "check_column_to_x":  # chapter 00: the reference is read off make_coordinate_grid
        library_fn = lambda column, width: 2 * column.float() / (width - 1) - 1  # noqa: E731
    else:
        library_fn = _library_functions().get(checker_name[len("check_"):])
    if library_fn is None:
        pytest.skip(f"no library function for {checker_name} yet")
    checker = getattr(checks, checker_name)
    assert checker(library_fn) is library_fn
    with pytest.raises(AssertionError):
        checker(lambda *args, **kwargs: None)
    wrong = _Perturbed(library_fn)
    try:
        checker(wrong)
    except AssertionError:
        return
    assert not wrong.changed, f"{checker_name} accepted outputs shifted by 0.05"
