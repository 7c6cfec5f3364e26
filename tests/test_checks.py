"""fomm_teach.checks: the check-with-fallback framework, and every chapter checker against the library."""

from __future__ import annotations

import functools
import importlib
import inspect
import itertools
import linecache
import pkgutil
import re
import threading
import time
import types

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


def _copy(fn):
    """A new function object with fn's code: the same behaviour, but not the library's own object."""
    if not inspect.isfunction(fn):
        return fn
    copied = types.FunctionType(fn.__code__, fn.__globals__, fn.__name__, fn.__defaults__, fn.__closure__)
    copied.__kwdefaults__ = fn.__kwdefaults__
    return copied


def _is_fallback_for(result, learner):
    """The check handed back a library fallback that remembers ``learner``."""
    return result is not learner and checks.learner_function(result) is learner


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
    same = _copy(reference)
    assert checks.check_function(same, reference, CASES, name="toy") is same
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
    result = checks.check_function(learner, reference, CASES, name="toy")
    assert _is_fallback_for(result, learner) and result(torch.ones(2))["stats"][1] == 2
    out = capsys.readouterr().out
    assert out.startswith("❌ toy: case 'random 3×4'") and expected in out
    assert "using the library's toy" in out


def test_a_later_failing_case_is_named(lenient, capsys):
    def learner(x, scale=1.0):
        return {"scaled": x, "stats": (x.sum(), x.shape[0])}  # ignores scale: only case 2 catches it

    assert checks.check_function(learner, reference, CASES, name="toy") is learner  # zeros * 2 == zeros
    cases = CASES + [("ones, scale 3", (torch.ones(2),), {"scale": 3.0})]
    assert _is_fallback_for(checks.check_function(learner, reference, cases, name="toy"), learner)
    assert "case 'ones, scale 3'" in capsys.readouterr().out


def test_not_attempted_is_skipped_with_a_notice(lenient, capsys):
    def stub(x, scale=1.0):
        raise NotImplementedError("Exercise 0.0")

    assert _is_fallback_for(checks.check_function(stub, reference, CASES, name="toy"), stub)
    assert capsys.readouterr().out.startswith("⏭ toy: not attempted")


def test_strict_mode_raises_on_failure_and_on_not_attempted(strict):
    def stub(x, scale=1.0):
        raise NotImplementedError

    with pytest.raises(AssertionError, match="toy: case 'random 3×4'"):
        checks.check_function(lambda x, scale=1.0: None, reference, CASES, name="toy")
    with pytest.raises(AssertionError, match="not attempted"):
        checks.check_function(stub, reference, CASES, name="toy")
    same = _copy(reference)
    assert checks.check_function(same, reference, CASES, name="toy") is same
    with pytest.raises(AssertionError, match="not attempted"):  # a fallback is judged by what it replaced
        checks.check_function(checks.library_fallback(reference, stub, "toy", "not attempted"), reference,
                              CASES, name="toy")


def test_the_learner_cannot_change_the_references_inputs(lenient):
    def in_place(x, scale=1.0):
        x.mul_(0)
        return reference(x, scale)

    assert _is_fallback_for(checks.check_function(in_place, reference, CASES, name="toy"), in_place)


def test_tolerances_are_respected(lenient):
    def close(x, scale=1.0):
        return {"scaled": x * scale * (1 + 1e-3), "stats": (x.sum(), x.shape[0])}

    assert _is_fallback_for(checks.check_function(close, reference, CASES, name="toy"), close)
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
    library_copy = _copy(library_fn)
    assert checker(library_copy) is library_copy
    with pytest.raises(AssertionError):
        checker(lambda *args, **kwargs: None)
    wrong = _Perturbed(library_fn)
    try:
        checker(wrong)
    except AssertionError:
        return
    assert not wrong.changed, f"{checker_name} accepted outputs shifted by 0.05"


# --- a check always judges the learner's own current code (DESIGN.md §4) ---------------------------

STUB = '''
def spatial_softmax(logits, temperature):
    raise NotImplementedError("Exercise 1.1")
'''
WRONG = '''
def spatial_softmax(logits, temperature):
    return torch.softmax(logits / temperature, dim=-1)
'''
RIGHT = '''
def spatial_softmax(logits, temperature):
    b, k, h, w = logits.shape
    return torch.softmax(logits.reshape(b, k, h * w) / temperature, dim=2).reshape(b, k, h, w)
'''
CHECK_CELL = "spatial_softmax = checks.check_spatial_softmax(spatial_softmax)"


def _run_cell(namespace, code, capsys):
    """Run one notebook cell's code in ``namespace``; return what it printed."""
    exec(compile(code, "<cell>", "exec"), namespace)
    return capsys.readouterr().out


def test_rerunning_the_check_cell_never_passes_a_stub(lenient, capsys):
    namespace = {"checks": checks, "torch": torch}
    _run_cell(namespace, STUB, capsys)
    stub = namespace["spatial_softmax"]
    for _ in range(3):  # the check cell run again and again, the stub cell not
        out = _run_cell(namespace, CHECK_CELL, capsys)
        assert out.startswith("⏭ spatial_softmax: not attempted") and "✅" not in out
        assert checks.learner_function(namespace["spatial_softmax"]) is stub
    # the fallback keeps the rest of the notebook running with the library's results
    logits = torch.randn(1, 2, 3, 4)
    from fomm_teach.keypoints import spatial_softmax
    assert torch.equal(namespace["spatial_softmax"](logits, 0.5), spatial_softmax(logits, 0.5))
    assert inspect.signature(namespace["spatial_softmax"]) == inspect.signature(spatial_softmax)


def test_the_check_follows_the_learners_edits(lenient, capsys):
    namespace = {"checks": checks, "torch": torch}
    sequence = [(STUB, "⏭"), (WRONG, "❌"), (RIGHT, "✅"), (STUB, "⏭"), (RIGHT, "✅")]
    for code, verdict in sequence:
        _run_cell(namespace, code, capsys)
        learner = namespace["spatial_softmax"]
        for _ in range(2):
            out = _run_cell(namespace, CHECK_CELL, capsys)
            assert out.startswith(verdict + " spatial_softmax"), out
        if verdict == "✅":
            assert namespace["spatial_softmax"] is learner
        else:
            assert _is_fallback_for(namespace["spatial_softmax"], learner)


def test_the_library_function_itself_is_not_the_learners(lenient, strict, capsys):
    from fomm_teach.keypoints import spatial_softmax

    with pytest.raises(AssertionError, match="library's own"):
        checks.check_spatial_softmax(spatial_softmax)


def test_the_library_function_itself_falls_back_without_a_tick(lenient, capsys):
    from fomm_teach.keypoints import spatial_softmax

    result = checks.check_spatial_softmax(spatial_softmax)
    out = capsys.readouterr().out
    assert out.startswith("⏭ spatial_softmax: this is the library's own") and "✅" not in out
    assert result is not spatial_softmax and torch.equal(result(torch.ones(1, 1, 2, 2), 1.0),
                                                        spatial_softmax(torch.ones(1, 1, 2, 2), 1.0))


@pytest.mark.parametrize("checker_name", CHECKERS)
def test_every_checker_rechecks_the_stub_behind_its_fallback(lenient, capsys, checker_name):
    def stub(*args, **kwargs):
        raise NotImplementedError

    checker = getattr(checks, checker_name)
    first = checker(stub)
    second = checker(first)
    out = capsys.readouterr().out
    assert out.count("⏭") == 2 and "✅" not in out
    assert _is_fallback_for(first, stub) and _is_fallback_for(second, stub)


def test_strict_mode_raises_when_a_fallback_is_checked_again(lenient, monkeypatch, capsys):
    def stub(logits, temperature):
        raise NotImplementedError

    fallback = checks.check_spatial_softmax(stub)
    monkeypatch.setenv("FOMM_TEACH_STRICT", "1")
    with pytest.raises(AssertionError, match="not attempted"):
        checks.check_spatial_softmax(fallback)


def test_a_fallback_for_a_class_is_a_subclass_that_remembers_the_learners(lenient):
    class Library:
        def __init__(self, n):
            self.n = n

    class Learners:
        pass

    fallback = checks.library_fallback(Library, Learners, "Library", "not attempted")
    assert issubclass(fallback, Library) and fallback(3).n == 3
    assert checks.learner_function(fallback) is Learners


# --- feedback that helps fix the code ------------------------------------------------------------


def test_a_wrong_value_shows_expected_and_got_around_the_worst_element(lenient, capsys):
    def learner(x, scale=1.0):
        out = reference(x, scale)
        out["scaled"] = out["scaled"].clone()
        out["scaled"][1, 2] += 0.5
        return out

    checks.check_function(learner, reference, CASES, name="toy")
    out = capsys.readouterr().out
    assert "largest error 0.5 at output['scaled'][1, 2]" in out
    lines = out.splitlines()
    expected_line = next(line for line in lines if line.strip().startswith("expected"))
    got_line = next(line for line in lines if line.strip().startswith("got"))
    x = CASES[0][1][0]
    assert f"{float(x[1, 2]):.4g}" in expected_line and f"{float(x[1, 2]) + 0.5:.4g}" in got_line


@pytest.mark.parametrize(
    "checker_name, wrong, hint",
    [
        ("check_spatial_softmax", lambda logits, t: torch.softmax(logits / t, dim=-1), "softmax over one axis only"),
        ("check_spatial_softmax", lambda logits, t: torch.softmax(logits.flatten(2), 2).view(logits.shape),
         "temperature left out"),
        ("check_heatmap_to_keypoints", "heatmap_to_keypoints:flip", "(x, y) swapped"),
        ("check_pool_jacobians", "pool_jacobians:transpose", "transposed"),
        ("check_sparse_motion", "sparse_motion:wrong_order", "J_d⁻¹ J_s in the wrong order"),
        ("check_sparse_motion", "sparse_motion:forward", "forward map"),
        ("check_kp2gaussian", "kp2gaussian:no_half", "the ½ is missing"),
        ("check_column_to_x", lambda column, width: 2 * column.float() / width - 1, "divide by width - 1"),
        ("check_tps_offset", "tps_offset:l2", "L1 distance"),
        ("check_equivariance_jacobian_loss", "equivariance_jacobian_loss:no_inverse", "must be inverted"),
        ("check_heatmap_representation", "heatmap_representation:swapped", "G(driving) − G(source)"),
        ("check_tps_offset", "tps_offset:no_epsilon", "U(0) must be 0, not NaN"),
        ("check_equivariance_value_loss",
         lambda value_d, value_t, transform: torch.abs(transform.warp_coordinates(value_d) - value_t).mean(),
         "wrong way round"),
        ("check_generator_gan_loss", lambda prediction: (prediction ** 2).mean(), "the generator wants D to say 1"),
        ("check_discriminator_gan_loss", lambda real, fake: (real ** 2 + (1 - fake) ** 2).mean(), "targets swapped"),
        ("check_feature_matching_loss", lambda real, fake, weights: sum((r - f).abs().mean() for r, f in zip(real, fake)),
         "its own weight"),
        ("check_linear_fit_r2", lambda f, t, fs, ts: _library_functions()["linear_fit_r2"](f, t, f, t),
         "score on the held-out rows"),
        ("check_ideal_occlusion_map", lambda source, driving, flow, align_corners=True:
         (source * driving).sum(1, keepdim=True).clamp(0, 1), "read where the flow points"),
        ("check_warp_features", "warp_features:blend", "not a blend with the un-warped features"),
        ("check_warp_features", "warp_features:mask_first", "warp first, then multiply"),
    ],
)
def test_predictable_mistakes_get_a_hint(lenient, capsys, checker_name, wrong, hint):
    if isinstance(wrong, str):
        name, mistake = wrong.split(":")
        library_fn = _library_functions()[name]
        wrong = {
            "flip": lambda *a: library_fn(*a).flip(-1),
            "transpose": lambda *a: library_fn(*a).transpose(-1, -2),
            "wrong_order": lambda s, d, size: library_fn(
                *[{"value": kp["value"], **({"jacobian": kp["jacobian"]} if "jacobian" in kp else {})}
                  for kp in (s, d)], size) if "jacobian" not in s or "jacobian" not in d else
            (torch.inverse(d["jacobian"]) @ s["jacobian"])[:, :, None, None].matmul(
                (_library_functions()["make_coordinate_grid"](size)[None, None] - d["value"][:, :, None, None])
                .unsqueeze(-1)).squeeze(-1) + s["value"][:, :, None, None],
            "forward": lambda s, d, size: library_fn(d, s, size),
            "no_half": lambda kp, size, variance: library_fn(kp, size, variance / 2),
            "l2": lambda c, p, w: (lambda d: (d ** 2 * torch.log(d + 1e-6) * w).sum(-1, keepdim=True))(
                (c[:, :, None, :] - p[None, None]).norm(dim=-1)),
            "no_inverse": lambda j_d, j_t, w: torch.abs(torch.eye(2) - j_d @ w @ j_t).mean(),
            "swapped": lambda d, s, size, **kw: library_fn(s, d, size, **kw),
            "blend": lambda features, motion, align_corners=True: library_fn(features, motion, align_corners) + (
                1 - motion["occlusion_map"]) * features if "occlusion_map" in motion else library_fn(features, motion),
            "mask_first": lambda features, motion, align_corners=True: library_fn(
                features * motion["occlusion_map"] if "occlusion_map" in motion else features,
                {"deformation": motion["deformation"]}, align_corners),
            "no_epsilon": lambda c, p, w: (lambda d: (d ** 2 * torch.log(d) * w).sum(-1, keepdim=True))(
                (c[:, :, None, :] - p[None, None]).abs().sum(-1)),
        }[mistake]
    result = getattr(checks, checker_name)(wrong)
    out = capsys.readouterr().out
    assert out.startswith("❌") and "   hint: " in out and hint in out, out
    assert checks.learner_function(result) is wrong


def test_generic_hints_catch_a_sign_flip(lenient, capsys):
    checks.check_function(lambda x, scale=1.0: {"scaled": -x * scale, "stats": (x.sum(), x.shape[0])},
                          reference, CASES, name="toy")
    assert "hint: the sign is flipped" in capsys.readouterr().out


def test_no_hint_when_no_known_mistake_matches(lenient, capsys):
    checks.check_function(lambda x, scale=1.0: {"scaled": x * scale + 0.3, "stats": (x.sum(), x.shape[0])},
                          reference, CASES, name="toy")
    assert "hint:" not in capsys.readouterr().out


def test_an_error_shows_the_learners_own_line(lenient, capsys):
    def learner(x, scale=1.0):
        flat = x.reshape(-1)
        return torch.nn.functional.softmax(flat, dim=3)  # the learner's mistake: dim 3 of a 1-d tensor

    result = checks.check_function(learner, reference, CASES, name="toy")
    out = capsys.readouterr().out
    assert out.startswith("❌ toy: case 'random 3×4' raised IndexError")
    line = learner.__code__.co_firstlineno + 2
    assert f"in your code, test_checks.py, line {line}: return torch.nn.functional.softmax(flat, dim=3)" in out
    assert _is_fallback_for(result, learner)


def test_an_error_in_a_notebook_cell_names_the_cell(lenient, capsys, monkeypatch):
    filename = "/tmp/ipykernel_0/123456.py"  # how ipykernel names a cell's code
    code = "def learner(x, scale=1.0):\n    y = x * scale\n    return y[100]\n"
    linecache.cache[filename] = (len(code), None, code.splitlines(True), filename)
    namespace = {}
    exec(compile(code, filename, "exec"), namespace)

    class Shell:
        compile = types.SimpleNamespace(_filename_map={filename: 7})

    monkeypatch.setattr("IPython.get_ipython", lambda: Shell())
    try:
        checks.check_function(namespace["learner"], reference, CASES, name="toy")
    finally:
        linecache.cache.pop(filename, None)
    assert "in your code, Cell In[7], line 3: return y[100]" in capsys.readouterr().out


def test_an_endless_loop_is_stopped(lenient, capsys):
    def learner(x, scale=1.0):
        while True:
            pass

    start = time.monotonic()
    result = checks.check_function(learner, reference, CASES, name="toy", timeout=0.3)
    assert time.monotonic() - start < 5
    out = capsys.readouterr().out
    assert out.startswith("❌ toy: case 'random 3×4' still ran after 0.3 s (an endless loop?); it was stopped.")
    assert "background" not in out and _is_fallback_for(result, learner)


def test_an_endless_loop_outside_the_main_thread_is_left_behind_with_a_notice(lenient, capsys):
    stop = threading.Event()

    def learner(x, scale=1.0):
        while not stop.is_set():
            time.sleep(0.01)

    results = []
    checker = threading.Thread(target=lambda: results.append(
        checks.check_function(learner, reference, CASES, name="toy", timeout=0.3)))
    checker.start()
    checker.join(10)
    stop.set()
    assert results and _is_fallback_for(results[0], learner)
    out = capsys.readouterr().out
    assert "still ran after 0.3 s" in out and "keeps running in the background" in out


def test_the_alarm_is_restored_after_a_check(lenient):
    import signal

    before = signal.getsignal(signal.SIGALRM)
    checks.check_function(_copy(reference), reference, CASES, name="toy")
    assert signal.getsignal(signal.SIGALRM) is before and signal.getitimer(signal.ITIMER_REAL)[0] == 0


def test_changing_an_input_in_place_is_reported(lenient, capsys):
    def learner(x, scale=1.0):
        out = reference(x.clone(), scale)
        x.zero_()
        return out

    result = checks.check_function(learner, reference, CASES, name="toy")
    out = capsys.readouterr().out
    assert out.startswith("❌ toy: case 'random 3×4': the output matches, but your function changed its input `x` in place")
    assert _is_fallback_for(result, learner)


def test_changing_an_input_in_place_raises_in_strict_mode(strict):
    def reference_fn(kp, spatial_size, kp_variance):
        return kp.sum()

    def editing(kp, spatial_size, kp_variance):
        result = kp.sum()
        kp[0] = 5
        return result

    with pytest.raises(AssertionError, match="in place"):
        checks.check_function(editing, reference_fn, [("one", (torch.zeros(2), (2, 2)), {"kp_variance": 0.1})],
                              name="toy")


def test_a_short_list_of_numbers_is_shown_whole(lenient, capsys):
    def feature_sizes(image_size, num_blocks=4):   # 4×4 unpadded convs, a 2×2 pool after all but the last
        return list(itertools.accumulate(range(num_blocks), lambda s, i: (s - 3) // 2 if i < num_blocks - 1 else s - 3,
                                         initial=image_size))[1:]

    def sizes(image_size, num_blocks=4):
        return [image_size // 2 ** (i + 1) for i in range(num_blocks)]

    checks.check_function(sizes, feature_sizes, [("256 px", (256,), {})], name="toy", atol=0, rtol=0)
    out = capsys.readouterr().out
    assert "expected [126, 61, 29, 26]" in out and "got      [128, 64, 32, 16]" in out


def test_an_error_in_an_older_ipython_cell_names_the_cell(lenient, capsys, monkeypatch):
    filename = "<ipython-input-12-0123456789ab>"  # how IPython < 8 (Colab) names a cell's code
    code = "def learner(x, scale=1.0):\n    return x.reshape(7)\n"
    linecache.cache[filename] = (len(code), None, code.splitlines(True), filename)
    namespace = {}
    exec(compile(code, filename, "exec"), namespace)
    monkeypatch.setattr("IPython.get_ipython", lambda: None)
    try:
        checks.check_function(namespace["learner"], reference, CASES, name="toy")
    finally:
        linecache.cache.pop(filename, None)
    assert "in your code, Cell In[12], line 2: return x.reshape(7)" in capsys.readouterr().out


def _hints_of(checker_name, monkeypatch):
    """The hints a chapter checker passes to check_function."""
    seen = []
    real = checks.check_function

    def spy(learner_fn, reference_fn, cases, **kwargs):
        seen.extend(kwargs.get("hints", ()))
        return real(learner_fn, reference_fn, cases, **kwargs)

    monkeypatch.setattr(checks, "check_function", spy)
    getattr(checks, checker_name)(lambda *args, **kwargs: None)
    monkeypatch.setattr(checks, "check_function", real)
    return seen


@pytest.mark.parametrize("checker_name", CHECKERS)
def test_every_hint_fires_for_the_mistake_it_describes(lenient, capsys, monkeypatch, checker_name):
    hints = _hints_of(checker_name, monkeypatch)
    capsys.readouterr()
    for hint in hints:
        result = getattr(checks, checker_name)(hint.wrong)
        out = capsys.readouterr().out
        assert out.startswith("❌") and checks.learner_function(result) is hint.wrong, out
        assert " ".join(hint.text.split()) in " ".join(out.split()), f"{hint.text!r} not shown for its mistake:\n{out}"
