# ---
# jupyter:
#   fomm_teach:
#     module: animate
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 07 · Animation: make a still picture move like a driving video
#
# Chapters 01–06 built and trained a model that re-poses a frame of a video with the keypoints of
# another frame of **the same** video. This chapter uses it for what the paper is named after:
# a source image of one object, moved by a driving video of **another** object of the same kind.
#
# | section | what |
# |---|---|
# | 7.1 | why handing the driving keypoints over as they are fails across identities |
# | 7.2 | relative motion transfer: `normalize_kp`, the convex-hull scale |
# | 7.3 | `make_animation`: the source's work done once, the driving frames in batches |
# | 7.4 | measured on synthetic identities, where the right answer is known |
# | 7.5 | the best starting frame |
# | 7.6 | a live puppet: drag a keypoint, turn its Jacobian, see the generator follow |
# | 7.7 | a real photograph, and the authors' own checkpoints |
# | 7.8 | `fomm-teach animate` on the command line |
#
# **Learning goals.** After this chapter you can say why FOMM transfers keypoint *changes*
# rather than keypoint positions, compute the relative keypoints and Jacobians of paper Sec. 3.4
# yourself, tell which part of the generator depends on the source only, and animate any picture
# from the command line.

# %%
from fomm_teach import checks
from fomm_teach.course import start
course = start()   # seeds, sets threads, picks course.device, reads course.quick (FOMM_TEACH_QUICK=1), prints versions

# %%
import time

import matplotlib.pyplot as plt
import torch

from fomm_teach import viz
from fomm_teach.data.synthetic import SyntheticVideos
from fomm_teach.shipped import load_shipped_model

models, config = load_shipped_model(device=course.device)
kp_detector, generator = models["kp_detector"], models["generator"]
size = config["dataset_params"]["frame_shape"][0]
videos = SyntheticVideos("windmill", size=size, num_frames=course.pick(quick=8, full=32), split="test")
print(f"the shipped model: {size}×{size} frames, {config['model_params']['common_params']['num_kp']} keypoints, "
      "trained on synthetic windmills (chapter 06)")

# %% tags=["export"]
"""Animating an image with a driving video (paper Sec. 3.4), taught in notebooks/07_animation.py.

Relative motion transfer (`normalize_kp`, the authors' function with the movement scale computed
per batch element and without scipy), `make_animation` (the authors' function on tensors, with the
source's share of the work done once and the driving frames streamed in batches), and the
best-frame search (`find_best_frame`, on our own detector's keypoints so it works for any object).
Keypoint dicts are ``{'value': (B, K, 2), 'jacobian': (B, K, 2, 2)}`` as everywhere in the course.
"""
import copy
import warnings

import torch
from tqdm.auto import tqdm

from fomm_teach.errors import FommTeachError

# %% [markdown]
# ## 7.1 Absolute transfer: the driving object's keypoints, handed over as they are
#
# The generator takes a source image, the source's keypoints and a set of *driving* keypoints, and
# moves each source part from where its keypoint is to where the driving keypoint is (Eq. 4 of
# chapter 02). In training both sets came from the same video. At animation time the driving
# keypoints come from another object. If we pass them on unchanged (**absolute** transfer), the
# source is forced into the driving object's *shape*, not only its motion: a thin windmill driven
# by a broad one gets broad limbs, a face driven by another face takes its jaw line and the
# distance between its eyes.
#
# The paper's fix (Sec. 3.4) transfers **changes** instead. Take the driving video's first
# frame $D_1$ as a reference that shows the driving object in the same pose as the source. Then
# for every driving frame $D_t$:
#
# $$p^{S\leftarrow D_t}_k = p^S_k + \big(p^{D_t}_k - p^{D_1}_k\big), \qquad
#   J^{S\leftarrow D_t}_k = J^{D_t}_k \big(J^{D_1}_k\big)^{-1} J^S_k .$$
#
# A keypoint moves by what its driving counterpart moved since the first frame, and its local
# frame turns and stretches by what the driving one did since then (the product
# $J^{D_t}(J^{D_1})^{-1}$ maps frame 1's local frame to frame $t$'s; applying it to $J^S$ gives the
# source's frame the same change). With no motion ($D_t = D_1$) the source comes back unchanged.
# These are the formulas of the authors' `normalize_kp`, which the rest of this chapter follows;
# the paper writes the same transfer for the composed backward map $\mathcal{T}_{S\leftarrow D_t}$,
# where the Jacobians appear inverted ($J^{D_1}(J^{D_t})^{-1}$), because the dense motion network
# of chapter 03 uses $J^S J^{-1}$ of the keypoints it is given.
#
# One more adjustment, from the authors' code rather than the paper's equations
# (`adapt_movement_scale`), is **movement-scale adaptation**: a small object should move less than
# a big one. The displacement is scaled by
# $s = \sqrt{\operatorname{area}(\operatorname{hull}(p^S)) / \operatorname{area}(\operatorname{hull}(p^{D_1}))}$,
# the ratio of the sizes of the two keypoint clouds, measured by the areas of their convex hulls.

# %% [markdown]
# ## 7.2 The convex-hull area and `normalize_kp`
#
# The authors compute the hull with scipy's `ConvexHull`. We write it in a few lines: **Andrew's
# monotone chain** sorts the points by x (then y), walks left to right keeping only left turns
# for the lower hull, right to left for the upper hull; the **shoelace formula** then gives the
# area of the polygon: $\tfrac12\left|\sum_i x_i y_{i+1} - x_{i+1} y_i\right|$.
#
# A turn is measured by the cross product of two edges,
# $\operatorname{cross}(o, a, b) = (a_x - o_x)(b_y - o_y) - (a_y - o_y)(b_x - o_x)$: positive for a
# counter-clockwise (left) turn, zero for three points on a line.
#
# **Exercise 7.1.** Implement `convex_hull_area(points)` for a batch of point sets `(B, N, 2)`,
# returning `(B,)`. Fewer than three points, or points on one line, have area 0. A handful of
# keypoints (5 in the shipped model, 10 in the authors') is few, so a Python loop over the points
# is fine.

# %% tags=["exercise"]
def convex_hull_area(points):
    """points: (B, N, 2) -> (B,) the area of each set's convex hull (0 for < 3 points or a line)."""
    raise NotImplementedError("Exercise 7.1: sort the points, build the lower and upper hulls with the "
                              "cross-product test, then apply the shoelace formula")


# %% tags=["solution", "export"]
def convex_hull_area(points):
    """Area of the convex hull of each point set (Andrew's monotone chain, then the shoelace formula).

    points: (B, N, 2), (x, y) order. Returns (B,) in the points' dtype and device, 0 for fewer than
    three points or points on one line. Computed in float64 Python arithmetic: N is the number of
    keypoints (10), so the loop is cheap, and no scipy is needed (the authors use ConvexHull.volume).
    """
    def cross(o, a, b):
        return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])

    def half_hull(sorted_points):
        hull = []
        for point in sorted_points:
            while len(hull) >= 2 and cross(hull[-2], hull[-1], point) <= 0:
                hull.pop()
            hull.append(point)
        return hull

    areas = []
    for point_set in points.detach().double().cpu().tolist():         # B lists of N (x, y)
        ordered = sorted(set(map(tuple, point_set)))
        if len(ordered) < 3:
            areas.append(0.0)
            continue
        hull = half_hull(ordered)[:-1] + half_hull(ordered[::-1])[:-1]  # counter-clockwise, no repeats
        twice_area = sum(x0 * y1 - x1 * y0 for (x0, y0), (x1, y1) in zip(hull, hull[1:] + hull[:1]))
        areas.append(abs(twice_area) / 2)
    return torch.tensor(areas, dtype=points.dtype, device=points.device)  # (B,)


# %%
convex_hull_area = checks.check_convex_hull_area(convex_hull_area)

# %% [markdown]
# The movement scale is the square root of the ratio of two such areas. The authors read it from
# the first element of the batch only; here it is computed **per batch element**, so a batch of
# several source images gets a scale each. A driving cloud of zero area (every keypoint on one
# line, as an untrained detector gives) has no size to compare with: the scale is then 1, with a
# warning.

# %% tags=["export"]
def movement_scale(kp_source, kp_driving_initial):
    """s = sqrt(area(hull(p_s)) / area(hull(p_d0))) per batch element (paper Sec. 3.4; the authors' ``animate.py``).

    kp_source, kp_driving_initial: dicts with 'value' (B, K, 2) (B may be 1 on either side).
    Returns (B,). Where the driving hull has no area the scale is 1 (with a warning).
    """
    source_area = convex_hull_area(kp_source["value"])                   # (B,)
    driving_area = convex_hull_area(kp_driving_initial["value"])         # (B,)
    flat = driving_area <= 1e-12
    if bool(flat.any()):
        warnings.warn("the driving keypoints of the initial frame lie on a line (hull area 0): "
                      "movement scale set to 1", stacklevel=2)
    scale = torch.sqrt(source_area / driving_area.clamp_min(1e-12))       # (B,)
    return torch.where(flat, torch.ones_like(scale), scale)


# %% [markdown]
# **Exercise 7.2.** Implement `normalize_kp` with the authors' name, arguments and defaults.
# Start from a copy of `kp_driving` (absolute mode returns it unchanged). With
# `use_relative_movement`, replace the value by $p^S + s\,(p^{D_t} - p^{D_1})$, where $s$ is
# `movement_scale(...)` with `adapt_movement_scale` and 1 without; with `use_relative_jacobian`
# as well, replace the Jacobian by $J^{D_t}(J^{D_1})^{-1}J^S$ (section 7.1; the scale does not
# touch Jacobians). The
# Jacobian flag does nothing without relative movement, and a detector without Jacobians has no
# `'jacobian'` key to replace. Batches broadcast: the source and the initial frame may have batch 1
# while the driving frames have batch B.

# %% tags=["exercise"]
def normalize_kp(kp_source, kp_driving, kp_driving_initial, adapt_movement_scale=False,
                 use_relative_movement=False, use_relative_jacobian=False):
    """Keypoint dicts 'value' (B, K, 2) [, 'jacobian' (B, K, 2, 2)] -> the keypoints to drive the source with."""
    raise NotImplementedError("Exercise 7.2: copy kp_driving; with relative movement, value = p_s + s·(p_d − p_d0); "
                              "with relative Jacobians too, jacobian = (J_d · J_d0⁻¹) · J_s")


# %% tags=["solution", "export"]
def normalize_kp(kp_source, kp_driving, kp_driving_initial, adapt_movement_scale=False,
                 use_relative_movement=False, use_relative_jacobian=False):
    """The keypoints that drive the source (paper Sec. 3.4; the authors' ``normalize_kp`` in ``animate.py``).

    Absolute mode returns ``kp_driving``'s entries as they are. Relative movement:
    value = p_s + s · (p_d − p_d0), s = :func:`movement_scale` per batch element with
    ``adapt_movement_scale`` (the authors read element 0 only), else 1. Relative Jacobians (only
    together with relative movement, and only where the dicts have one):
    jacobian = (J_d · J_d0⁻¹) · J_s, unscaled. Dicts: 'value' (B, K, 2), 'jacobian' (B, K, 2, 2);
    kp_source and kp_driving_initial may have batch 1 and broadcast. Returns a new dict.
    """
    kp_new = dict(kp_driving)
    if not use_relative_movement:
        return kp_new
    scale = movement_scale(kp_source, kp_driving_initial) if adapt_movement_scale else torch.ones(1)  # (B,) or (1,)
    scale = scale.to(kp_driving["value"])[:, None, None]                                               # (B, 1, 1)
    displacement = kp_driving["value"] - kp_driving_initial["value"]                                   # (B, K, 2)
    kp_new["value"] = kp_source["value"] + scale * displacement                                        # (B, K, 2)
    if use_relative_jacobian and "jacobian" in kp_driving:
        change = kp_driving["jacobian"] @ torch.inverse(kp_driving_initial["jacobian"])                 # (B, K, 2, 2)
        kp_new["jacobian"] = change @ kp_source["jacobian"]                                             # (B, K, 2, 2)
    return kp_new


# %%
normalize_kp = checks.check_normalize_kp(normalize_kp)

# %% tags=["export"]
def relative_keypoints(kp_source, kp_driving, kp_driving_initial):
    """Relative values and Jacobians without scale adaptation, as every authors' config animates
    (``animate_params.normalization_params``) and as the cross-identity metric of chapter 06 uses."""
    return normalize_kp(kp_source, kp_driving, kp_driving_initial, adapt_movement_scale=False,
                        use_relative_movement=True, use_relative_jacobian=True)


# %% [markdown]
# ## 7.3 `make_animation`: do the source's work once
#
# The authors' `demo.make_animation` runs the whole generator for every driving frame: it
# detects the source's keypoints once, but re-encodes the source image, re-downsamples it for the
# dense motion network, and detects the first driving frame's keypoints twice. Look at the
# generator of chapter 04 split by what each step depends on:
#
# | step | depends on | per animation |
# |---|---|---|
# | `kp_detector(source)` | the source | once |
# | `encode_source`: `first`, `down_blocks` → ξ | the source | **once** |
# | `dense_motion_network.downsample` | the source | **once** |
# | `kp_detector(driving frame)` | the frame | once per frame |
# | `dense_motion_network.predict_motion` → T̂, Ô | source + keypoints | per frame |
# | `warp_features` (Eq. 8), `decode` | ξ + T̂, Ô | per frame |
#
# In eval mode BatchNorm uses its running statistics, so a network gives the same output for a
# frame whether it runs alone or in a batch, and the results of the "once" rows can be shared by
# every frame: a tensor of batch 1 is `expand`ed to the batch of driving frames (a view, no copy).
#
# **Exercise 7.3.** `prepare_source` (given) does the source-side work. Implement
# `generate_frames(generator, source_cache, kp_source, kp_norm)`: the per-frame rows for a batch of
# B driving keypoints, returning the predictions `(B, 3, H, W)`. Use the generator's
# `dense_motion_network.predict_motion(source_downsampled, kp_driving, kp_source)`, which returns
# the dense motion's dict (flow, masks, occlusion map); `warp_features(features, dense_motion)`,
# which warps the features with that dict and applies its occlusion map; and
# `decode(features)`, which returns the frames. (A generator without a dense motion network,
# possible in the authors' code, just decodes the source's features: the solution handles it.)

# %% tags=["export"]
def prepare_source(generator, source):
    """The generator's source-only work, done once per animation: {'features': ξ (1, c, H', W'),
    'downsampled': the dense motion network's input (1, C, h, w)}. source: (1, C, H, W)."""
    cache = {"features": generator.encode_source(source)}                           # (1, c, H', W')
    if generator.dense_motion_network is not None:
        cache["downsampled"] = generator.dense_motion_network.downsample(source)  # (1, C, h, w)
    return cache


# %% tags=["exercise"]
def generate_frames(generator, source_cache, kp_source, kp_norm):
    """source_cache from prepare_source (batch 1); kp_source batch 1; kp_norm batch B. Returns (B, 3, H, W)."""
    raise NotImplementedError("Exercise 7.3: expand the cached tensors and kp_source to batch B, then "
                              "predict_motion -> warp_features -> decode")


# %% tags=["solution", "export"]
def generate_frames(generator, source_cache, kp_source, kp_norm):
    """The generator's per-frame work for B driving keypoint sets, from a source encoded once.

    Equal to ``generator(source, kp_driving=kp_norm, kp_source=kp_source)['prediction']`` with the
    source repeated B times. source_cache: from :func:`prepare_source` (batch 1); kp_source: batch 1;
    kp_norm: batch B. Returns (B, C, H, W).
    """
    batch = kp_norm["value"].shape[0]
    features = source_cache["features"].expand(batch, -1, -1, -1)                          # (B, c, H', W')
    if generator.dense_motion_network is not None:
        kp_source = {key: value.expand(batch, *value.shape[1:]) for key, value in kp_source.items()}
        source_downsampled = source_cache["downsampled"].expand(batch, -1, -1, -1)        # (B, C, h, w)
        dense_motion = generator.dense_motion_network.predict_motion(source_downsampled, kp_norm, kp_source)
        features = generator.warp_features(features, dense_motion)                         # (B, c, H', W')
    return generator.decode(features)                                                      # (B, C, H, W)


# %%
generate_frames = checks.check_generate_frames(generate_frames)

# %% [markdown]
# The keypoints of every driving frame are detected first, in batches, each frame once (a few
# keypoints and Jacobians per frame are a few hundred bytes). Then the generator streams through
# the frames in batches of `batch_size`.
#
# Two more savings change no number: `inference_copy` works on a copy of each network in which
# every convolution followed by a BatchNorm is merged into one convolution (in eval mode the
# BatchNorm is a fixed per-channel scale and shift, which the convolution's weights and bias can
# absorb), and stores the weights channels-last (the memory layout that the CPU's and GPU's
# convolution kernels prefer). `benchmarks/inference.py` measures what each step gives.
#
# `start_frame` chooses the reference frame $D_1$ of 7.1. The authors, given a best frame $N$
# (7.5), animate forwards from $N$ and backwards from $N$ to 0, then join the two. Each output
# frame depends only on the source, its own driving frame and the reference, so that is the
# same as animating every frame, in order, with frame $N$ as the reference: what we do.

# %% tags=["export"]
def check_animation_inputs(source_image, driving_video, generator):
    """Raise FommTeachError unless source (C, H, W) and driving (T, C, H, W) are float32 frames of
    one size on the generator's device, with values in [0, 1]."""
    parameter = next(generator.parameters())
    for name, tensor, ndim in (("source_image", source_image, 3), ("driving_video", driving_video, 4)):
        if not isinstance(tensor, torch.Tensor) or tensor.ndim != ndim:
            shape = tuple(tensor.shape) if isinstance(tensor, torch.Tensor) else type(tensor).__name__
            expected = "(3, H, W)" if ndim == 3 else "(T, 3, H, W)"
            raise FommTeachError(f"{name} must be a tensor {expected}, got {shape}.")
        if tensor.dtype != parameter.dtype:
            raise FommTeachError(f"{name} is {tensor.dtype}; the model is {parameter.dtype}: use .to({parameter.dtype}) "
                                 "(torch.from_numpy gives float64).")
        if tensor.device != parameter.device:
            raise FommTeachError(f"{name} is on {tensor.device}, the model on {parameter.device}: move it with .to(device).")
        if tensor.numel() and (float(tensor.min()) < 0 or float(tensor.max()) > 1):
            raise FommTeachError(f"{name} has values in [{float(tensor.min()):.3g}, {float(tensor.max()):.3g}]; "
                                 "expected [0, 1] (divide 8-bit pixels by 255).")
    if driving_video.shape[0] == 0:
        raise FommTeachError("driving_video has no frames.")
    if driving_video.shape[1:] != source_image.shape:
        raise FommTeachError(f"driving frames {tuple(driving_video.shape[1:])} and source_image "
                             f"{tuple(source_image.shape)} must have the same shape.")


@torch.no_grad()
def detect_keypoints(kp_detector, frames, batch_size=8):
    """The detector on (T, C, H, W) frames, batch_size at a time -> {'value': (T, K, 2)[, 'jacobian': (T, K, 2, 2)]}."""
    parts = [kp_detector(frames[start:start + batch_size]) for start in range(0, frames.shape[0], batch_size)]
    return {key: torch.cat([part[key] for part in parts]) for key in parts[0]}


MEMORY_FORMAT = torch.channels_last   # the layout of make_animation's frames and weights


def inference_copy(model, fold_batchnorm=True, memory_format=MEMORY_FORMAT):
    """A copy of ``model`` for animation: eval mode, every conv → BatchNorm pair folded into one conv
    (``fold_batchnorm``), weights in ``memory_format``. The model itself is left as it was.

    In eval mode BatchNorm is a fixed affine map per channel, y = γ (x − μ) / σ + β, so a conv
    followed by it is one conv: w' = w γ/σ, b' = (b − μ) γ/σ + β (``fuse_conv_bn_eval``). Only
    conv-then-norm blocks fold (SameBlock2d, DownBlock2d, UpBlock2d); ResBlock2d normalises
    *before* its convs, where zero padding would break the identity. Outputs equal the model's in
    eval mode up to float rounding (about 1e-6).
    """
    from torch import nn
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    from fomm_teach.blocks import DownBlock2d, SameBlock2d, UpBlock2d

    model = copy.deepcopy(model).eval()
    for block in model.modules():
        if fold_batchnorm and isinstance(block, (SameBlock2d, DownBlock2d, UpBlock2d)) and isinstance(block.norm, nn.BatchNorm2d):
            block.conv = fuse_conv_bn_eval(block.conv, block.norm)
            block.norm = nn.Identity()
    return model.to(memory_format=memory_format)


@torch.no_grad()
def make_animation(source_image, driving_video, generator, kp_detector, relative=True,
                   adapt_movement_scale=True, *, start_frame=0, batch_size=8, progress=False):
    """Animate ``source_image`` with ``driving_video`` (the authors' ``demo.make_animation``, on tensors).

    source_image (C, H, W) and driving_video (T, C, H, W): float32 in [0, 1] on the models'
    device. ``relative``: relative values and Jacobians (7.1), else absolute keypoints;
    ``adapt_movement_scale``: the convex-hull movement scale (relative mode only). ``start_frame``:
    the driving frame that shows the pose of the source (see :func:`find_best_frame`).
    Returns (T, C, H, W). The models run as :func:`inference_copy` copies (eval mode: running
    BatchNorm statistics) and are left as they were. The source is encoded once; the driving
    frames go through in batches.
    """
    check_animation_inputs(source_image, driving_video, generator)
    num_frames = driving_video.shape[0]
    if not 0 <= start_frame < num_frames:
        raise FommTeachError(f"start_frame {start_frame} is outside the driving video's {num_frames} frames.")
    generator, kp_detector = inference_copy(generator), inference_copy(kp_detector)
    source = source_image[None].contiguous(memory_format=MEMORY_FORMAT)              # (1, C, H, W)
    driving_video = driving_video.contiguous(memory_format=MEMORY_FORMAT)            # (T, C, H, W)
    kp_source = kp_detector(source)                                                  # batch 1
    source_cache = prepare_source(generator, source)
    kp_driving = detect_keypoints(kp_detector, driving_video, batch_size)            # (T, K, 2), (T, K, 2, 2)
    kp_driving_initial = {key: value[start_frame:start_frame + 1] for key, value in kp_driving.items()}
    kp_norm = normalize_kp(kp_source, kp_driving, kp_driving_initial, use_relative_movement=relative,
                           use_relative_jacobian=relative, adapt_movement_scale=adapt_movement_scale)  # batch T
    predictions = []
    for start in tqdm(range(0, num_frames, batch_size), desc="animating", unit="batch", disable=not progress):
        kp_batch = {key: value[start:start + batch_size] for key, value in kp_norm.items()}         # batch b
        predictions.append(generate_frames(generator, source_cache, kp_source, kp_batch))         # (b, C, H, W)
    return torch.cat(predictions).contiguous()                                       # (T, C, H, W)


# %% [markdown]
# Does it compute the same as the authors' frame-by-frame loop? The cell below writes that loop,
# runs both on the same frames, and times them. (`tests/test_animate.py` repeats the comparison
# with `align_corners: false` and a Jacobian-heavy random model; `benchmarks/inference.py` times
# both at 256×256.)

# %%
@torch.no_grad()
def frame_by_frame(source, driving, relative=True, adapt_movement_scale=True):
    """The authors' demo loop: the whole generator for every frame, frame 0 detected twice."""
    kp_source = kp_detector(source[None])
    kp_initial = kp_detector(driving[:1])
    frames = []
    for frame in driving:
        kp_norm = normalize_kp(kp_source, kp_detector(frame[None]), kp_initial, adapt_movement_scale=adapt_movement_scale,
                               use_relative_movement=relative, use_relative_jacobian=relative)
        frames.append(generator(source[None], kp_driving=kp_norm, kp_source=kp_source)["prediction"][0])
    return torch.stack(frames)


pair = videos.cross_identity(0, 1)
source, driving = pair["source"].to(course.device), pair["driving"].to(course.device)
started = time.perf_counter()
loop = frame_by_frame(source, driving)
loop_time = time.perf_counter() - started
started = time.perf_counter()
animation = make_animation(source, driving, generator, kp_detector)
animation_time = time.perf_counter() - started
print(f"largest difference: {float((loop - animation).abs().max()):.2e}")
print(f"frame by frame: {1000 * loop_time / len(driving):.1f} ms a frame; make_animation: "
      f"{1000 * animation_time / len(driving):.1f} ms a frame ({size}×{size}, {torch.get_num_threads()} threads)")

# %% tags=["helper"]
def show_strip(rows, titles, frames, kp_rows=None):
    """Rows of frames (T, 3, S, S) at the given frame indices, one titled row each."""
    fig, axes = plt.subplots(len(rows), len(frames), figsize=(1.55 * len(frames), 1.75 * len(rows)),
                             layout="constrained", squeeze=False)
    for row, (video, title) in enumerate(zip(rows, titles)):
        for column, t in enumerate(frames):
            axes[row, column].imshow(viz.to_numpy_image(video[t].cpu()))
            axes[row, column].set_xticks([])
            axes[row, column].set_yticks([])
            if kp_rows is not None and kp_rows[row] is not None:
                viz.draw_keypoints(axes[row, column], kp_rows[row][t], video.shape[-1], numbers=False, size=12)
            if column == 0:
                axes[row, column].set_ylabel(title, fontsize=9)
            if row == 0:
                axes[row, column].set_title(f"frame {t}", fontsize=9)
    return fig


shown = list(range(0, len(driving), max(1, len(driving) // 6)))[:6]
show_strip([pair["driving"], animation, pair["target"]], ["driving (A)", "B animated", "truth"], shown)
plt.suptitle("Identity B moved like A by make_animation (relative, with scale), against the true frames", fontsize=10)
plt.show()

# %% [markdown]
# ## 7.4 Measured: absolute, relative, relative with scale
#
# The synthetic windmills let us measure what is usually only looked at. We take identity B
# (the source, in its first pose), make it 0.75, 1 or 1.33 times its size, and move it like
# identity A's video: B's limbs and body turn as A's do, and B's position changes by A's, **in
# proportion to the two bodies' sizes** (a small windmill that copies a big one's dance travels
# less far). The data renders that exact target frame, so each way of transferring the motion
# gets an L1 error against the truth, next to the error of not moving at all (copying the source).
#
# The helper below builds one such pair from the poses of chapter 06's synthetic videos.

# %% tags=["helper"]
import math

from tqdm.auto import tqdm

from fomm_teach.data.render import POSE_CX, POSE_CY, POSE_LOG_SCALE


def scaled_transfer(videos, source_index, driving_index, size_ratio):
    """Identity B (source_index) at size_ratio × its size, moved like video A in proportion to its size.

    Returns source (3, S, S), driving (T, 3, S, S), target (T, 3, S, S).
    """
    pose_a = videos.poses(driving_index)                                       # (T, 4+P)
    pose_b0 = videos.poses(source_index, [0]).clone()                          # (1, 4+P)
    pose_b0[:, POSE_LOG_SCALE] += math.log(size_ratio)

    def body_size(index, pose):
        return float(videos.identity(index)["root_scale"]) * math.exp(float(pose[0, POSE_LOG_SCALE]))

    change = pose_a - pose_a[:1]                                               # (T, 4+P): A's pose changes
    change[:, [POSE_CX, POSE_CY]] *= body_size(source_index, pose_b0) / body_size(driving_index, pose_a)
    rendered = videos.render([videos.identity(source_index)] * 2 + [videos.identity(driving_index)],
                             torch.stack([pose_b0.expand_as(pose_a), pose_b0 + change, pose_a]))["frames"]
    return rendered[0, 0], rendered[2], rendered[1]


# %%
MODES = {"absolute": (False, False), "relative": (True, False), "relative + scale": (True, True)}
SIZES = (0.75, 1.0, 1.33)
num_pairs = course.pick(quick=2, full=8)
errors = {(ratio, name): [] for ratio in SIZES for name in [*MODES, "copy the source"]}
started = time.time()
for ratio in tqdm(SIZES, desc="source sizes"):
    for index in range(num_pairs):
        source, driving, target = scaled_transfer(videos, index, (index + 1) % num_pairs + num_pairs, ratio)
        for name, (relative, adapt) in MODES.items():
            prediction = make_animation(source.to(course.device), driving.to(course.device), generator, kp_detector,
                                        relative=relative, adapt_movement_scale=adapt)
            errors[ratio, name].append(float((prediction.cpu() - target).abs().mean()))
        errors[ratio, "copy the source"].append(float((source[None] - target).abs().mean()))
print(f"{num_pairs} pairs × {len(SIZES)} sizes, {videos.num_frames} frames each, in {time.time() - started:.0f} s\n")
print(f"{'L1 against the truth':<22}" + "".join(f"{f'source × {ratio}':>16}" for ratio in SIZES))
for name in [*MODES, "copy the source"]:
    print(f"{name:<22}" + "".join(f"{torch.tensor(errors[ratio, name]).mean():>16.4f}" for ratio in SIZES))

# %% tags=["helper"]
fig, ax = plt.subplots(figsize=(7.5, 3.6), layout="constrained")
width = 0.2
for offset, name in enumerate([*MODES, "copy the source"]):
    means = [torch.tensor(errors[ratio, name]).mean() for ratio in SIZES]
    ax.bar([i + (offset - 1.5) * width for i in range(len(SIZES))], means, width, label=name,
           color=viz.keypoint_color(offset))
ax.set_xticks(range(len(SIZES)), [f"source {ratio}× its size" for ratio in SIZES], fontsize=9)
ax.set_ylabel("L1 against the true frames", fontsize=9)
ax.set_title(f"Transferring a windmill's motion to another ({num_pairs} pairs, lower is better)", fontsize=10)
ax.legend(fontsize=8, ncols=2)
plt.show()

# %% [markdown]
# What a full run (8 pairs, 32 frames; 91 s on 2 cores) measured for the shipped model:
#
# | L1 against the truth | source × 0.75 | × 1 | × 1.33 |
# |---|---|---|---|
# | absolute | 0.032 | 0.040 | 0.058 |
# | relative | 0.022 | 0.024 | 0.044 |
# | relative + scale | 0.018 | 0.028 | 0.042 |
# | copy the source | 0.018 | 0.033 | 0.058 |
#
# - **Absolute transfer is the worst of the three in every column**, and no better than not
#   moving the source at all: B is pulled onto A's keypoints, so its body lands where A's body is,
#   with A's proportions.
# - **Relative transfer** beats copying the source at sizes 1 and 1.33. At 0.75 neither transfer
#   does: a small windmill's parts move only a few pixels, and the model's errors are as large as
#   that.
# - **Scale adaptation** helps where the sizes differ (0.75 and 1.33) and costs something where
#   they do not (at 1 the two hulls differ by the detector's noise, and $s \ne 1$ adds error).
#   This fits the authors' choices: their configs leave it off for their test protocol (sources
#   and drivers of the same data set, framed alike), and their README recommends it for your own
#   pictures.
#
# The L1 of copying grows with size because a bigger body covers more pixels that move.

# %% [markdown]
# ## 7.5 The best starting frame
#
# Relative transfer assumes that the reference frame $D_1$ shows the driving object in the pose
# of the source. If the source smiles and the driving video starts with a closed mouth, every
# frame carries that difference. The authors' demo can search the driving video for the frame
# whose pose is closest to the source's: it detects 68 face landmarks with a separate face
# alignment network, normalises each set (subtract the mean, divide by the square root of the
# hull area, so position and size do not count), and takes the frame with the smallest squared
# distance. We do the same with **our own detector's keypoints**, which exist for any object the
# model was trained on and need nothing downloaded.

# %% tags=["export"]
def normalized_pose(kp_value):
    """Keypoints (B, K, 2) centred on their mean and divided by sqrt(hull area): position and size removed."""
    centred = kp_value - kp_value.mean(dim=1, keepdim=True)                             # (B, K, 2)
    area = convex_hull_area(kp_value).clamp_min(1e-12)                                  # (B,)
    return centred / area.sqrt()[:, None, None]                                         # (B, K, 2)


@torch.no_grad()
def pose_distances(source_image, driving_video, kp_detector, batch_size=8):
    """Squared distance between the source's normalised keypoints and each driving frame's: (T,)."""
    kp_detector = inference_copy(kp_detector)
    kp_source = kp_detector(source_image[None])["value"]                                # (1, K, 2)
    kp_driving = detect_keypoints(kp_detector, driving_video, batch_size)["value"]       # (T, K, 2)
    difference = normalized_pose(kp_driving) - normalized_pose(kp_source)               # (T, K, 2)
    return difference.pow(2).sum(dim=(1, 2))                                            # (T,)


def find_best_frame(source_image, driving_video, kp_detector):
    """Index of the driving frame whose pose is closest to the source's (the authors' idea in ``demo.py``,
    on our detector's keypoints instead of face landmarks). Pass it as ``make_animation(start_frame=...)``."""
    return int(torch.argmin(pose_distances(source_image, driving_video, kp_detector)))


# %% [markdown]
# To see it work we need a source whose pose is known: identity B drawn in the pose that video A
# has at frame 12 (in quick mode: the frame in the middle). With A's frame 0 as the reference,
# every frame of B would carry the difference between A's frame 0 and frame 12; with the right
# reference, B would follow A's poses. The data gives the true frames, so both choices can be
# scored.

# %%
from fomm_teach.animate import pose_distances

true_frame = min(12, videos.num_frames // 2)
pose_a = videos.poses(1)                                                           # (T, 4+P)
posed_b = videos.render([videos.identity(0)], pose_a[None])["frames"][0]           # (T, 3, S, S): B in A's poses
source_b, driving_a = posed_b[true_frame].to(course.device), videos.video(1)["frames"].to(course.device)
distances = pose_distances(source_b, driving_a, kp_detector)
best = find_best_frame(source_b, driving_a, kp_detector)
scores = {}
for label, start_frame in (("frame 0", 0), (f"best frame ({best})", best)):
    result = make_animation(source_b, driving_a, generator, kp_detector, start_frame=start_frame)
    scores[label] = float((result.cpu() - posed_b).abs().mean())
print(f"best frame: {best} (the source was drawn in the pose of frame {true_frame})")
print("L1 against the truth with the reference at " + ", ".join(f"{k}: {v:.4f}" for k, v in scores.items()))

# %% tags=["helper"]
fig = plt.figure(figsize=(9, 3.3), layout="constrained")
grid = fig.add_gridspec(1, 4, width_ratios=[2.2, 1, 1, 1])
ax = fig.add_subplot(grid[0])
ax.plot(distances.cpu(), marker="o", markersize=3, color=viz.keypoint_color(0))
ax.axvline(true_frame, color="0.6", linestyle="--", label=f"true pose: frame {true_frame}")
ax.scatter([best], [float(distances[best])], s=80, color=viz.keypoint_color(1), zorder=3, label=f"chosen: frame {best}")
ax.set_xlabel("driving frame", fontsize=9)
ax.set_ylabel("pose distance", fontsize=9)
ax.set_title("normalised keypoints: driving frame vs source", fontsize=9)
ax.legend(fontsize=8)
for column, (image, title) in enumerate(((source_b, "source (B)"), (driving_a[0], "driving frame 0"),
                                         (driving_a[best], f"driving frame {best}"))):
    ax = fig.add_subplot(grid[column + 1])
    viz.show_image(ax, image.cpu(), title)
    with torch.no_grad():
        viz.draw_keypoints(ax, kp_detector(image[None])["value"][0].cpu(), size, size=30)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_xlabel("")
    ax.set_ylabel("")
fig.suptitle("Best-frame search: the driving frame whose keypoints, centred and scaled to one size, match the source's",
             fontsize=10)
plt.show()

# %% [markdown]
# The search does not land on the true frame. B's keypoints, even in A's pose, are not A's
# keypoints: B's body and limbs have other proportions, so the normalised clouds differ by
# identity as well as by pose, and the distance curve is shallow near its minimum. The chosen
# reference still cuts the error (a full run measured L1 0.033 with frame 0 as the reference,
# 0.024 with the chosen frame; the true frame would give 0.017). The authors' face landmarks share
# this weakness, less so, because faces differ less in shape than windmills do.

# %% [markdown]
# ## 7.6 A live puppet
#
# Everything the generator knows about the motion is in the driving keypoints and their
# Jacobians. Here you hold them directly: pick a keypoint of the source, move it (dx, dy in the
# [−1, 1] coordinates of the frame) and turn or stretch its local frame (angle, scale). The
# generator redraws the frame; the middle panel is the dense backward flow $\hat T(z) - z$ that
# the dense motion network made of your keypoints (colour = direction, saturation = length), the
# right one the occlusion map (dark = the generator must invent these pixels; the shipped model
# keeps it nearly white, as chapter 06 showed, so expect little there). Each keypoint
# keeps its own pose when you switch to another. A positive angle turns clockwise on screen,
# because image y points down.
#
# Things to try: move one limb's keypoint and watch which pixels the masks give to it; turn a
# keypoint by 90° without moving it (only its Jacobian changes: first-order motion at work);
# drag a keypoint far away and look at the occlusion map.

# %%
from fomm_teach.widgets import puppet_explorer

puppet_source = videos.video(2, times=[0])["frames"][0].to(course.device)            # (3, S, S)
with torch.no_grad():
    puppet_kp = kp_detector(puppet_source[None])
puppet = puppet_explorer(puppet_source, puppet_kp, generator)
started = time.perf_counter()
with puppet.hold():
    puppet.children[1].children[0].value = 0.2                                          # dx of keypoint 0
redraw_time = time.perf_counter() - started
started = time.perf_counter()
with torch.no_grad():
    generator(puppet_source[None], kp_driving=puppet_kp, kp_source=puppet_kp)
print(f"one redraw takes {redraw_time:.2f} s here, of which the generator {time.perf_counter() - started:.3f} s; "
      "the rest is drawing the picture")
puppet

# %% [markdown]
# ## 7.7 A real photograph, and the authors' checkpoints
#
# The shipped model has seen nothing but synthetic windmills at 64×64. What does it do to a face?
# Below, scikit-image's astronaut portrait (NASA, public domain) is driven by a windmill video.
# Expect it to fail honestly: its keypoints land wherever the face has windmill-like blobs, and
# the motion of the windmill's limbs is pasted onto whatever parts of the photo the masks give to
# those keypoints. The model transfers the motion of *the kind of object it was trained on*:
# FOMM is trained per category (faces, bodies, animated gifs), never across.

# %%
from fomm_teach.errors import FommTeachError

try:
    from fomm_teach.data.samples import astronaut
    photo = astronaut(size).to(course.device)                                        # (3, S, S)
except FommTeachError as err:
    photo = None
    print(f"skipped: {err}")
if photo is not None:
    windmill_driving = videos.video(3)["frames"].to(course.device)
    photo_animation = make_animation(photo, windmill_driving, generator, kp_detector)
    with torch.no_grad():
        photo_kp = kp_detector(photo_animation)["value"].cpu()
    frames_shown = list(range(0, len(windmill_driving), max(1, len(windmill_driving) // 6)))[:6]
    show_strip([windmill_driving, photo_animation], ["driving", "astronaut"], frames_shown, kp_rows=[None, photo_kp])
    plt.suptitle("The shipped windmill model driving a photograph: it moves blobs, not a face", fontsize=10)
    plt.show()

# %% [markdown]
# With the authors' own VoxCeleb checkpoint (`vox-cpk.pth.tar`, about 700 MB; their README lists
# where it is published) the same code animates faces. Our modules load it strictly, with the
# `vox-256` config. Put the file next to this notebook, or set the environment variable
# `FOMM_TEACH_VOX_CHECKPOINT` to its path before starting Jupyter; without it the cell says so
# and does nothing. At 256×256 on a laptop CPU expect about half a second a frame.

# %%
import os
from pathlib import Path

from fomm_teach.checkpoint import load_trained_models

vox_path = Path(os.environ.get("FOMM_TEACH_VOX_CHECKPOINT", "vox-cpk.pth.tar"))
if not vox_path.is_file():
    print(f"skipped: no authors' checkpoint at {vox_path} (set FOMM_TEACH_VOX_CHECKPOINT to use one)")
elif photo is None:
    print("skipped: the astronaut sample needs scikit-image")
else:
    from fomm_teach.data.samples import astronaut

    vox = load_trained_models(vox_path, "vox-256", device=course.device)
    face = astronaut(256).to(course.device)
    with torch.no_grad():
        face_kp = vox["kp_detector"](face[None])
    face_driving = torch.stack([torch.roll(face, shifts=(0, 4 * t), dims=(1, 2)) for t in range(8)])  # a sideways glide
    face_animation = make_animation(face, face_driving, vox["generator"], vox["kp_detector"])
    show_strip([face_driving, face_animation], ["driving", "animated"], list(range(0, 8, 2)))
    plt.suptitle("The authors' vox-256 checkpoint on the astronaut", fontsize=10)
    plt.show()

# %% [markdown]
# ## 7.8 On the command line
#
# `fomm-teach animate` does all of this for your own files: any image (PNG, JPEG; any size, grey
# or with transparency) and any video (MP4, GIF, a folder of frames), both cropped to their
# centred square and resized to the model's frame size. It keeps the driving video's frame count,
# frame rate and sound:
#
# ```bash
# fomm-teach animate --source me.png --driving dance.mp4 --out result.mp4 --side-by-side
# fomm-teach animate --source me.png --driving dance.mp4 --out result.gif --best-frame
# fomm-teach animate --source face.png --driving talk.mp4 --out talk.mp4 \
#     --checkpoint vox-cpk.pth.tar --config vox-256 --device cuda
# ```
#
# The default is relative motion with scale adaptation (`--mode absolute` and `--no-adapt-scale`
# switch them off). The authors' demo defaults to absolute motion, which 7.4 measured as the
# worst choice across identities. `make demo` runs the same function on two held-out windmills
# and writes `out/demo.mp4`.

# %%
import tempfile

from fomm_teach.cli import main as fomm_teach
from fomm_teach.data.video_io import write_animation, write_video

with tempfile.TemporaryDirectory() as folder:
    write_video(Path(folder) / "source.png", videos.video(4, times=[0])["frames"])
    write_animation(Path(folder) / "driving.mp4", videos.video(5)["frames"], fps=12)
    fomm_teach(["animate", "--source", f"{folder}/source.png", "--driving", f"{folder}/driving.mp4",
                "--out", f"{folder}/result.mp4", "--side-by-side", "--no-progress"])

# %% [markdown]
# ## Summary
#
# - Absolute transfer hands over the driving object's keypoint *positions* and with them its
#   shape; relative transfer hands over their *changes* since a reference frame:
#   $p = p^S + s\,(p^{D_t} - p^{D_1})$ and $J = J^{D_t} (J^{D_1})^{-1} J^S$ (paper Sec. 3.4; the
#   scale $s$ comes from the authors' code).
# - The movement scale $s$ is the square root of the ratio of the keypoint clouds' hull areas. It
#   helps when source and driver differ in size and adds a little noise when they do not.
# - The source image's encoding, its downsampled copy and its keypoints do not depend on the
#   driving frame: `make_animation` computes them once, detects each driving frame once, and runs
#   the rest in batches, with the same outputs as the authors' frame-by-frame loop.
# - The best reference frame is the driving frame whose normalised keypoints are closest to the
#   source's; with our detector this works for any object, offline.
# - A model animates the kind of object it was trained on.
#
# ## Questions
#
# 1. Relative transfer adds $p^{D_t} - p^{D_1}$ to $p^S$. What goes wrong if the source is
#    mirrored (facing left while the driver faces right)?
# 2. Why is the scale applied to the displacement and not to the Jacobians?
# 3. `make_animation` puts the models in eval mode. What would batching the driving frames change
#    if BatchNorm used batch statistics?
#
# <details><summary>Short answers</summary>
#
# 1. A displacement to the right in the driver moves the source to the right too, but the source's
#    parts are on the other side: the keypoints move correctly, yet each keypoint's meaning
#    (left limb, right limb) is swapped, so the wrong parts move. Relative transfer assumes the two
#    objects are in a similar pose in the reference frame; flip the source or pick another driver.
# 2. A Jacobian is a ratio of lengths (how a local frame stretches and turns), so it has no size;
#    the relative Jacobian $J^{D_t}(J^{D_1})^{-1}$ already describes the change independently of
#    how big the driver is. Displacements are lengths and must be scaled.
# 3. Each frame's output would depend on the other frames in its batch (their mean and variance),
#    so the same frame would come out differently in a different batch. In eval mode the running
#    statistics are fixed numbers and batching changes nothing.
#
# </details>
