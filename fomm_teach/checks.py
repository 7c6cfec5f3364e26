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


# --- chapter 00 ---


def check_column_to_x(fn: Callable) -> Callable:
    """Exercise 0.1: pixel column j of a W-wide map → x = 2j/(W-1) - 1, read off the library's grid."""
    from fomm_teach.keypoints import make_coordinate_grid

    def reference(column, width):
        x = make_coordinate_grid((2, width), dtype=torch.float32)[0, :, 0]  # (W,)
        return x[column]

    generator = seeded_generator(0)
    cases = [
        ("every column of a 4-wide map: -1, -1/3, 1/3, 1", (torch.arange(4), 4), {}),
        ("the two border columns of a 2-wide map", (torch.tensor([0, 1]), 2), {}),
        ("random columns (5, 3) of a 64-wide map", (torch.randint(0, 64, (5, 3), generator=generator), 64), {}),
        ("the last column of a 257-wide map is +1", (torch.tensor([256]), 257), {}),
    ]
    return check_function(fn, reference, cases, name="column_to_x")


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


# --- chapter 01 ---


def _probability_maps(generator: torch.Generator, *shape: int) -> torch.Tensor:
    """Random (B, K, H, W) maps that are non-negative and sum to 1 over H·W."""
    b, k, h, w = shape
    return torch.softmax(3 * torch.randn(b, k, h * w, generator=generator), dim=2).reshape(b, k, h, w)


def check_spatial_softmax(fn: Callable) -> Callable:
    """Exercise 1.1: softmax over all H·W positions of logits / temperature."""
    from fomm_teach.keypoints import spatial_softmax

    generator = seeded_generator(11)
    cases = [
        ("random scores (2, 3, 5, 7), τ = 0.1", (torch.randn(2, 3, 5, 7, generator=generator), 0.1), {}),
        ("random scores (1, 2, 6, 6), τ = 1", (torch.randn(1, 2, 6, 6, generator=generator), 1.0), {}),
        ("constant scores: the uniform map", (torch.zeros(1, 1, 4, 5), 0.1), {}),
        ("large scores, τ = 0.01 (exp overflows unless you use a stable softmax)",
         (50 * torch.randn(1, 2, 4, 4, generator=generator), 0.01), {}),
    ]
    return check_function(fn, spatial_softmax, cases, name="spatial_softmax")


def check_heatmap_to_keypoints(fn: Callable) -> Callable:
    """Exercise 1.2: soft-argmax, the expected (x, y) coordinate of each map."""
    from fomm_teach.keypoints import heatmap_to_keypoints

    generator = seeded_generator(12)
    corner = torch.zeros(1, 2, 5, 7)
    corner[0, 0, 0, -1] = 1.0  # top-right pixel: (x, y) = (1, -1)
    corner[0, 1, -1, 0] = 1.0  # bottom-left pixel: (x, y) = (-1, 1)
    cases = [
        ("random maps (2, 3, 6, 8)", (_probability_maps(generator, 2, 3, 6, 8),), {}),
        ("all mass on two corner pixels of a 5×7 map (x runs along the width!)", (corner,), {}),
        ("uniform map: the centre (0, 0)", (torch.full((1, 1, 4, 6), 1 / 24),), {}),
        ("random maps (1, 10, 58, 58), the vox-256 size", (_probability_maps(generator, 1, 10, 58, 58),), {}),
    ]
    return check_function(fn, heatmap_to_keypoints, cases, name="heatmap_to_keypoints")


def check_pool_jacobians(fn: Callable) -> Callable:
    """Exercise 1.3: heatmap-weighted sum of the 4 Jacobian maps, read row-major into 2×2."""
    from fomm_teach.keypoints import pool_jacobians

    generator = seeded_generator(13)
    identity_map = torch.tensor([1.0, 0.0, 0.0, 1.0]).view(1, 1, 4, 1, 1).expand(1, 3, 4, 5, 5)
    cases = [
        ("one map per keypoint, (2, 3) keypoints on 6×6",
         (_probability_maps(generator, 2, 3, 6, 6), torch.randn(2, 3, 4, 6, 6, generator=generator)), {}),
        ("identity maps give J = I", (_probability_maps(generator, 1, 3, 5, 5), identity_map.clone()), {}),
        ("one map shared by all 4 keypoints (single_jacobian_map)",
         (_probability_maps(generator, 2, 4, 5, 7), torch.randn(2, 1, 4, 5, 7, generator=generator)), {}),
        ("row-major order: a map (0, 1, 2, 3) gives [[0, 1], [2, 3]]",
         (_probability_maps(generator, 1, 1, 3, 3), torch.arange(4.0).view(1, 1, 4, 1, 1).expand(1, 1, 4, 3, 3).clone()), {}),
    ]
    return check_function(fn, pool_jacobians, cases, name="pool_jacobians")


# --- chapter 02 ---


def _keypoints(generator: torch.Generator, batch: int, num_kp: int, jacobian: bool) -> dict:
    """Random keypoints in [-1, 1] and, if asked, well-conditioned Jacobians I + 0.3·noise."""
    kp = {"value": torch.rand(batch, num_kp, 2, generator=generator) * 2 - 1}
    if jacobian:
        kp["jacobian"] = torch.eye(2) + 0.3 * torch.randn(batch, num_kp, 2, 2, generator=generator)
    return kp


def check_sparse_motion(fn: Callable) -> Callable:
    """Exercise 2.1: T_k(z) = p_s + J_s J_d⁻¹ (z − p_d), zero order without Jacobians."""
    from fomm_teach.motion import sparse_motion

    generator = seeded_generator(21)
    cases = [
        ("first order, B=2, K=3, 6×6",
         (_keypoints(generator, 2, 3, True), _keypoints(generator, 2, 3, True), (6, 6)), {}),
        ("first order on a non-square 5×8 map (H, W order!)",
         (_keypoints(generator, 1, 2, True), _keypoints(generator, 1, 2, True), (5, 8)), {}),
        ("zero order: no Jacobians", (_keypoints(generator, 2, 4, False), _keypoints(generator, 2, 4, False), (4, 4)), {}),
        ("only the source has Jacobians: zero order",
         (_keypoints(generator, 1, 2, True), _keypoints(generator, 1, 2, False), (4, 5)), {}),
        ("non-commuting Jacobians: J_s J_d⁻¹ ≠ J_d⁻¹ J_s",
         ({"value": torch.zeros(1, 1, 2), "jacobian": torch.tensor([[[[1.0, 0.8], [0.0, 1.0]]]])},
          {"value": torch.tensor([[[0.2, -0.1]]]), "jacobian": torch.tensor([[[[0.0, -1.5], [1.5, 0.0]]]])}, (5, 5)), {}),
    ]
    return check_function(fn, sparse_motion, cases, name="sparse_motion")


def check_kp2gaussian(fn: Callable) -> Callable:
    """Exercise 2.2: exp(−½‖z − p_k‖² / variance) on the coordinate grid."""
    from fomm_teach.motion import kp2gaussian

    generator = seeded_generator(22)
    cases = [
        ("random keypoints, B=2, K=4, 8×10, variance 0.01",
         (torch.rand(2, 4, 2, generator=generator) * 2 - 1, (8, 10), 0.01), {}),
        ("variance 0.1 on 16×16", (torch.rand(1, 3, 2, generator=generator) * 2 - 1, (16, 16), 0.1), {}),
        ("a keypoint on the top-right pixel centre (1, -1): peak 1 there",
         (torch.tensor([[[1.0, -1.0]]]), (5, 7), 0.01), {}),
    ]
    return check_function(fn, kp2gaussian, cases, name="kp2gaussian")


# --- chapter 03 ---


def _random_keypoints(generator: torch.Generator, batch: int, num_kp: int, spread: float = 0.8) -> dict:
    """A keypoint dict with values in [-spread, spread] and Jacobians near the identity (invertible)."""
    value = (torch.rand(batch, num_kp, 2, generator=generator) * 2 - 1) * spread              # (B, K, 2)
    jacobian = torch.eye(2) + 0.3 * torch.randn(batch, num_kp, 2, 2, generator=generator)    # (B, K, 2, 2)
    return {"value": value, "jacobian": jacobian}


def check_heatmap_representation(fn: Callable) -> Callable:
    """Exercise 3.2: G(driving) − G(source) per keypoint with a zero background map first (Eq. 6)."""
    from fomm_teach.dense_motion import heatmap_representation

    generator = seeded_generator(30)
    kp_a, kp_b = _random_keypoints(generator, 2, 3), _random_keypoints(generator, 2, 3)
    far = {"value": torch.tensor([[[1.5, -1.2], [0.0, 0.0]]])}
    centre = {"value": torch.zeros(1, 2, 2)}
    cases = [
        ("B=2, K=3, 16×16", (kp_a, kp_b, (16, 16)), {}),
        ("non-square 12×20, kp_variance 0.05", (kp_a, kp_b, (12, 20)), {"kp_variance": 0.05}),
        ("source = driving (all maps zero)", (kp_a, kp_a, (8, 8)), {}),
        ("one keypoint outside the image, K=2", (far, centre, (9, 9)), {}),
    ]
    return check_function(fn, heatmap_representation, cases, name="heatmap_representation", atol=1e-6)


def check_deform_source(fn: Callable) -> Callable:
    """Exercise 3.1: the K+1 deformed sources S^k = S ∘ T_k (grid_sample per part)."""
    from fomm_teach.dense_motion import deform_source
    from fomm_teach.keypoints import make_coordinate_grid

    generator = seeded_generator(31)
    image = torch.rand(2, 3, 12, 12, generator=generator)                                     # (B, C, H, W)
    grids = torch.rand(2, 4, 12, 12, 2, generator=generator) * 2.4 - 1.2                      # (B, K+1, H, W, 2)
    identity = make_coordinate_grid((12, 12)).expand(2, 4, 12, 12, 2).clone()                 # (B, K+1, H, W, 2)
    cases = [
        ("B=2, K+1=4, random grids (some outside)", (image, grids), {}),
        ("identity grids reproduce the source", (image, identity), {}),
        ("align_corners=False", (image, grids), {"align_corners": False}),
        ("smaller output grid 6×8, one channel", (image[:, :1], grids[:, :, :6, :8]), {}),
    ]
    return check_function(fn, deform_source, cases, name="deform_source")


def check_dense_deformation(fn: Callable) -> Callable:
    """Exercise 3.3: Eq. 7, the mask-weighted sum of the K+1 sparse motions."""
    from fomm_teach.dense_motion import dense_deformation

    generator = seeded_generator(33)
    motions = torch.rand(2, 4, 8, 10, 2, generator=generator) * 2 - 1                       # (B, K+1, H, W, 2)
    mask = torch.softmax(torch.randn(2, 4, 8, 10, generator=generator) * 3, dim=1)          # (B, K+1, H, W)
    one_hot = torch.nn.functional.one_hot(torch.randint(0, 4, (2, 8, 10), generator=generator), 4)  # (B, H, W, K+1)
    cases = [
        ("B=2, K+1=4, softmax masks", (mask, motions), {}),
        ("one-hot masks pick one motion per pixel", (one_hot.permute(0, 3, 1, 2).float(), motions), {}),
        ("uniform masks average the motions", (torch.full((2, 4, 8, 10), 0.25), motions), {}),
    ]
    return check_function(fn, dense_deformation, cases, name="dense_deformation")


# --- chapter 04 ---


def check_deform_input(fn: Callable) -> Callable:
    """Exercise 4.1: warp a feature map with a flow, resizing the flow first if its size differs."""
    from fomm_teach.generator import deform_input
    from fomm_teach.keypoints import make_coordinate_grid

    generator = seeded_generator(41)
    features = torch.rand(2, 5, 8, 8, generator=generator)                                    # (B, C, H, W)
    flow_same = torch.rand(2, 8, 8, 2, generator=generator) * 2.2 - 1.1                        # (B, H, W, 2)
    flow_large = torch.rand(2, 16, 16, 2, generator=generator) * 2 - 1                        # (B, 2H, 2W, 2)
    flow_other = torch.rand(2, 6, 10, 2, generator=generator) * 2 - 1                         # (B, 6, 10, 2)
    cases = [
        ("flow at the features' size (no resize)", (features, flow_same), {}),
        ("flow at twice the size (resized, align_corners=False)", (features, flow_large), {}),
        ("flow 6×10 for 8×8 features", (features, flow_other), {}),
        ("identity flow", (features, make_coordinate_grid((8, 8)).expand(2, 8, 8, 2).clone()), {}),
        ("align_corners=False in grid_sample", (features, flow_large), {"align_corners": False}),
    ]
    return check_function(fn, deform_input, cases, name="deform_input")


def check_apply_occlusion(fn: Callable) -> Callable:
    """Exercise 4.2: Eq. 8, multiply the warped features by the (resized) occlusion map."""
    from fomm_teach.generator import apply_occlusion

    generator = seeded_generator(42)
    features = torch.randn(2, 4, 8, 8, generator=generator)                                   # (B, C, H, W)
    cases = [
        ("map at the features' size", (features, torch.rand(2, 1, 8, 8, generator=generator)), {}),
        ("map at twice the size (resized)", (features, torch.rand(2, 1, 16, 16, generator=generator)), {}),
        ("map 5×11 for 8×8 features", (features, torch.rand(2, 1, 5, 11, generator=generator)), {}),
        ("all-zero map switches everything off", (features, torch.zeros(2, 1, 8, 8)), {}),
    ]
    return check_function(fn, apply_occlusion, cases, name="apply_occlusion")


def check_discriminator_feature_sizes(fn: Callable) -> Callable:
    """Exercise 4.3: the side length of each discriminator block's output."""
    from fomm_teach.discriminator import discriminator_feature_sizes

    cases = [
        ("256 px, 4 blocks (vox-256)", (256,), {}),
        ("64 px, 4 blocks", (64,), {}),
        ("odd size 101, 3 blocks", (101, 3), {}),
        ("one block (no pooling)", (10,), {"num_blocks": 1}),
        ("too small: 20 px, 4 blocks", (20, 4), {}),
    ]
    return check_function(fn, discriminator_feature_sizes, cases, name="discriminator_feature_sizes", atol=0, rtol=0)


# --- chapter 06 ---


def _optimizer_summary(build):
    """Wrap an optimiser builder so that its output is comparable: per network, the numbers that matter."""

    def summary(models, train_params):
        optimizers = build(models, train_params)
        out = {}
        for name, model in models.items():
            group = optimizers[name].param_groups[0]
            owned = {id(p) for p in model.parameters()}
            given = [p for g in optimizers[name].param_groups for p in g["params"]]
            out[name] = {"lr": group["lr"], "betas": list(group["betas"]), "eps": group["eps"],
                         "weight_decay": group["weight_decay"], "adam": float(isinstance(optimizers[name], torch.optim.Adam)),
                         "own_parameters": float(len(given) == len(owned) and all(id(p) in owned for p in given))}
        return out

    return summary


def check_build_optimizers(fn: Callable) -> Callable:
    """Exercise 6.1: one Adam(betas=(0.5, 0.999)) per network at the config's learning rate."""
    from fomm_teach.train import build_optimizers

    def networks():
        return {"generator": torch.nn.Linear(3, 2), "kp_detector": torch.nn.Conv2d(1, 2, 3),
                "discriminator": torch.nn.Linear(2, 1)}

    rates = {"lr_generator": 2e-4, "lr_kp_detector": 2e-4, "lr_discriminator": 2e-4}
    cases = [
        ("vox-256 learning rates", (networks(), {**rates, "num_epochs": 100}), {}),
        ("different rates per network", (networks(), {"lr_generator": 1e-3, "lr_kp_detector": 5e-4,
                                                      "lr_discriminator": 3e-5}), {}),
        ("taichi-adv: a frozen keypoint detector (lr 0)", (networks(), {**rates, "lr_kp_detector": 0}), {}),
    ]
    learner = _optimizer_summary(fn)
    checked = check_function(learner, _optimizer_summary(build_optimizers), cases, name="build_optimizers",
                             atol=0, rtol=0)
    return fn if checked is learner else build_optimizers


def check_epoch_means(fn: Callable) -> Callable:
    """Exercise 6.2: the per-epoch mean of every loss key (what one log.txt line holds)."""
    from fomm_teach.train import epoch_means

    generator = seeded_generator(6)
    steps = [{"perceptual": float(v), "equivariance_value": float(w)}
             for v, w in torch.rand(7, 2, generator=generator).tolist()]
    cases = [
        ("seven iterations, two losses", (steps,), {}),
        ("one iteration", (steps[:1],), {}),
        ("a key that appears later (the GAN switched on)", (steps[:2] + [{**steps[2], "disc_gan": 0.25}],), {}),
        ("no iterations", ([],), {}),
    ]
    return check_function(fn, epoch_means, cases, name="epoch_means")
