"""Exercise checkers: compare a learner's function with the library's and hand back one that works.

Every exercise in the course ends with a check cell::

    heatmap_to_keypoints = checks.check_heatmap_to_keypoints(heatmap_to_keypoints)

The checker runs the learner's function and the library's reference on the same seeded and
edge-case inputs and prints one line:

- ✅ every case matches, with the largest absolute error seen;
- ❌ the first case that does not match, with its largest error (or the error raised), and a
  notice that the library's version is used from here on, so the rest of the notebook still runs;
- ⏭ the stub still raises ``NotImplementedError``: "not attempted", the library's version is used.

With the environment variable ``FOMM_TEACH_STRICT=1`` (set by ``make test`` for the instructor
notebooks) a failure or a not-attempted exercise raises ``AssertionError`` instead.

The framework is the top part of this file. Chapter checkers ``check_<function_name>(fn)`` are
appended at the end, one ``# --- chapter NN ---`` section per notebook; each builds its inputs
with :func:`seeded_generator` and calls :func:`check_function` with the library function as the
reference.
"""

from __future__ import annotations

import copy
import math
import numbers
import os
from typing import Any, Callable, Sequence

import torch

# A case: (label shown to the learner, positional arguments, keyword arguments).
Case = tuple[str, tuple, dict]


class Mismatch(Exception):
    """Raised inside the comparison when the learner's output differs in structure or value."""


def strict_mode() -> bool:
    """True when ``FOMM_TEACH_STRICT=1``: a failed or skipped exercise raises instead of falling back."""
    return os.environ.get("FOMM_TEACH_STRICT", "") not in ("", "0")


def seeded_generator(seed: int = 0, device: str | torch.device = "cpu") -> torch.Generator:
    """A ``torch.Generator`` with a fixed seed, so a checker's random inputs are the same every run."""
    generator = torch.Generator(device=device)
    generator.manual_seed(seed)
    return generator


def _max_error(learner: Any, reference: Any, atol: float, rtol: float, where: str) -> float:
    """Largest absolute difference between two outputs of the same structure.

    Tensors, Python/NumPy numbers, and tuples/lists/dicts of them are compared recursively.
    Raises :class:`Mismatch` when the structure, shape, or a value differs beyond
    ``|learner - reference| <= atol + rtol * |reference|`` (the rule of ``torch.allclose``).
    """
    if isinstance(reference, torch.Tensor):
        if not isinstance(learner, torch.Tensor):
            raise Mismatch(f"{where}: expected a tensor, got {type(learner).__name__}")
        if learner.shape != reference.shape:
            raise Mismatch(
                f"{where}: expected shape {tuple(reference.shape)}, got {tuple(learner.shape)}"
            )
        if reference.numel() == 0:
            return 0.0
        got = learner.detach().to(device="cpu", dtype=torch.float64)
        want = reference.detach().to(device="cpu", dtype=torch.float64)
        if not torch.equal(torch.isnan(got), torch.isnan(want)):
            raise Mismatch(f"{where}: NaN where the reference has none (or the other way round)")
        got, want = torch.nan_to_num(got, nan=0.0), torch.nan_to_num(want, nan=0.0)
        error = (got - want).abs()
        worst = float(error.max())
        if bool((error > atol + rtol * want.abs()).any()):
            raise Mismatch(f"{where}: values differ, largest error {worst:.3g}")
        return worst
    if isinstance(reference, (bool, str, type(None))):
        if learner != reference:
            raise Mismatch(f"{where}: expected {reference!r}, got {learner!r}")
        return 0.0
    if isinstance(reference, numbers.Number):
        if isinstance(learner, torch.Tensor) and learner.numel() == 1:
            learner = learner.item()
        if not isinstance(learner, numbers.Number):
            raise Mismatch(f"{where}: expected a number, got {type(learner).__name__}")
        worst = abs(complex(learner) - complex(reference))
        if math.isnan(worst) or worst > atol + rtol * abs(complex(reference)):
            raise Mismatch(f"{where}: expected {reference!r}, got {learner!r}")
        return float(worst)
    if isinstance(reference, dict):
        if not isinstance(learner, dict) or set(learner) != set(reference):
            got_keys = sorted(learner) if isinstance(learner, dict) else type(learner).__name__
            raise Mismatch(f"{where}: expected a dict with keys {sorted(reference)}, got {got_keys}")
        return max(
            (_max_error(learner[key], reference[key], atol, rtol, f"{where}[{key!r}]") for key in reference),
            default=0.0,
        )
    if isinstance(reference, (tuple, list)):
        if not isinstance(learner, (tuple, list)) or len(learner) != len(reference):
            raise Mismatch(f"{where}: expected a {type(reference).__name__} of {len(reference)} items")
        return max(
            (_max_error(got, want, atol, rtol, f"{where}[{i}]") for i, (got, want) in enumerate(zip(learner, reference))),
            default=0.0,
        )
    raise TypeError(f"check_function cannot compare outputs of type {type(reference).__name__}")


def _fallback(name: str, reason: str, reference_fn: Callable) -> Callable:
    """Print why the learner's function is not used; raise instead in strict mode."""
    if strict_mode():
        raise AssertionError(f"{name}: {reason} (FOMM_TEACH_STRICT=1)")
    print(f"   ↳ using the library's {name} from here on, so the rest of the notebook runs.")
    return reference_fn


def check_function(
    learner_fn: Callable,
    reference_fn: Callable,
    cases: Sequence[Case],
    *,
    name: str,
    atol: float = 1e-5,
    rtol: float = 1e-4,
) -> Callable:
    """Run ``learner_fn`` and ``reference_fn`` on every case; return the function to use from now on.

    cases: ``(label, args, kwargs)`` triples. Each function gets its own deep copy of the
    arguments, so an in-place edit by one cannot change what the other sees.
    Returns ``learner_fn`` if every case matches within ``atol``/``rtol``, otherwise
    ``reference_fn`` (after printing a notice). Raises ``AssertionError`` on failure or when the
    exercise is not attempted if ``FOMM_TEACH_STRICT=1``.
    """
    if not cases:
        raise ValueError(f"check_function({name!r}) needs at least one case")
    worst = 0.0
    for label, args, kwargs in cases:
        expected = reference_fn(*copy.deepcopy(args), **copy.deepcopy(kwargs))
        try:
            got = learner_fn(*copy.deepcopy(args), **copy.deepcopy(kwargs))
        except NotImplementedError:
            print(f"⏭ {name}: not attempted yet (the stub raises NotImplementedError).")
            return _fallback(name, "exercise not attempted", reference_fn)
        except Exception as err:  # the learner's code may fail in any way; report it, do not crash
            print(f"❌ {name}: case '{label}' raised {type(err).__name__}: {err}")
            return _fallback(name, f"case '{label}' raised {type(err).__name__}: {err}", reference_fn)
        try:
            worst = max(worst, _max_error(got, expected, atol, rtol, "output"))
        except Mismatch as mismatch:
            print(f"❌ {name}: case '{label}': {mismatch}")
            return _fallback(name, f"case '{label}': {mismatch}", reference_fn)
    verdict = "exact match" if worst == 0.0 else f"largest error {worst:.2g}"
    print(f"✅ {name}: all {len(cases)} cases match the library ({verdict}).")
    return learner_fn


# --- chapter 05 ---


def check_tps_offset(fn: Callable) -> Callable:
    """Exercise 5.1: the thin-plate-spline offset Σ_m w_m · U(‖p − c_m‖₁) of the equivariance warp."""
    from fomm_teach.keypoints import make_coordinate_grid
    from fomm_teach.losses import tps_offset

    generator = seeded_generator(5)
    grid5 = make_coordinate_grid((5, 5)).view(25, 2)  # (25, 2)
    grid3 = make_coordinate_grid((3, 3)).view(9, 2)   # (9, 2)

    def points(*shape):
        return torch.rand(*shape, generator=generator) * 2 - 1

    cases = [
        ("5×5 control grid, batch 2", (points(2, 7, 2), grid5, 0.01 * torch.randn(2, 1, 25, generator=generator)), {}),
        ("one set of points shared by a batch of 3", (points(1, 6, 2), grid5, 0.01 * torch.randn(3, 1, 25, generator=generator)), {}),
        ("points exactly on the control points", (grid3[None], grid3, torch.randn(1, 1, 9, generator=generator)), {}),
        ("3×3 grid, points outside [-1, 1], large coefficients", (3 * points(2, 5, 2), grid3, torch.randn(2, 1, 9, generator=generator)), {}),
    ]
    return check_function(fn, tps_offset, cases, name="tps_offset")


def check_equivariance_jacobian_loss(fn: Callable) -> Callable:
    """Exercise 5.2: mean |I − J_d⁻¹ · ∇W · J_t| (the jacobian equivariance loss)."""
    from fomm_teach.losses import equivariance_jacobian_loss

    generator = seeded_generator(52)

    def matrices(batch, num_kp, spread):
        return torch.eye(2) + spread * torch.randn(batch, num_kp, 2, 2, generator=generator)  # (B, K, 2, 2)

    jacobian_transformed, warp_jacobian = matrices(2, 4, 0.3), matrices(2, 4, 0.3)
    cases = [
        ("random jacobians, B=2, K=3", (matrices(2, 3, 0.3), matrices(2, 3, 0.3), matrices(2, 3, 0.3)), {}),
        ("exactly equivariant: J_d = ∇W · J_t (loss 0)",
         (warp_jacobian @ jacobian_transformed, jacobian_transformed, warp_jacobian), {}),
        ("everything the identity (loss 0)", (torch.eye(2).expand(1, 2, 2, 2).clone(),) * 3, {}),
        ("strongly non-commuting matrices, B=1, K=5", (matrices(1, 5, 0.5), matrices(1, 5, 0.5), matrices(1, 5, 0.5)), {}),
    ]
    return check_function(fn, equivariance_jacobian_loss, cases, name="equivariance_jacobian_loss")
