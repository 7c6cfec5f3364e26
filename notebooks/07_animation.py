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
# | 7.3 | measured on synthetic identities, where the right answer is known |
# | 7.4 | `make_animation`: the source's work done once, the driving frames in batches |
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
print(f"the shipped model: {size}×{size} frames, {kp_detector.num_kp if hasattr(kp_detector, 'num_kp') else 10} keypoints, "
      f"trained on synthetic windmills (chapter 06)")

# %% tags=["export"]
"""Animating an image with a driving video (paper Sec. 3.4), taught in notebooks/07_animation.py.

Relative motion transfer (`normalize_kp`, the authors' function with the movement scale computed
per batch element and without scipy), `make_animation` (the authors' function on tensors, with the
source's share of the work done once and the driving frames streamed in batches), and the
best-frame search (`find_best_frame`, on our own detector's keypoints so it works for any object).
Keypoint dicts are ``{'value': (B, K, 2), 'jacobian': (B, K, 2, 2)}`` as everywhere in the course.
"""
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
# The authors' fix (paper Sec. 3.4) transfers **changes** instead. Take the driving video's first
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
#
# One more adjustment, **movement-scale adaptation**: a small object should move less than a big
# one. The authors scale the displacement by
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
# returning `(B,)`. Fewer than three points, or points on one line, have area 0. Ten keypoints are
# few, so a Python loop over the points is fine.

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
    """s = sqrt(area(hull(p_s)) / area(hull(p_d0))) per batch element (paper Sec. 3.4; spec §6.6).

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
# as well, replace the Jacobian by the product of 7.1 (the scale does not touch Jacobians). The
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
    """The keypoints that drive the source (paper Sec. 3.4; the authors' ``animate.normalize_kp``, spec §6.6).

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
# ## 7.4 `make_animation`: do the source's work once
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
# `dense_motion_network.predict_motion`, `warp_features` and `decode`.

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
# The keypoints of every driving frame are detected first, in batches, each frame once (ten
# keypoints and Jacobians per frame are a few hundred bytes). Then the generator streams through
# the frames in batches of `batch_size`.
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


def eval_mode(*models):
    """Put the models in eval mode; returns their previous modes for :func:`restore_modes`."""
    modes = [model.training for model in models]
    for model in models:
        model.eval()
    return modes


def restore_modes(models, modes):
    for model, mode in zip(models, modes):
        model.train(mode)


@torch.no_grad()
def make_animation(source_image, driving_video, generator, kp_detector, relative=True,
                   adapt_movement_scale=True, *, start_frame=0, batch_size=8, progress=False):
    """Animate ``source_image`` with ``driving_video`` (the authors' ``demo.make_animation``, on tensors).

    source_image (C, H, W) and driving_video (T, C, H, W): float32 in [0, 1] on the models'
    device. ``relative``: relative values and Jacobians (7.1), else absolute keypoints;
    ``adapt_movement_scale``: the convex-hull movement scale (relative mode only). ``start_frame``:
    the driving frame that shows the pose of the source (see :func:`find_best_frame`).
    Returns (T, C, H, W). Models run in eval mode (running BatchNorm statistics) and get their
    previous mode back. The source is encoded once; the driving frames go through in batches.
    """
    check_animation_inputs(source_image, driving_video, generator)
    num_frames = driving_video.shape[0]
    if not 0 <= start_frame < num_frames:
        raise FommTeachError(f"start_frame {start_frame} is outside the driving video's {num_frames} frames.")
    modes = eval_mode(generator, kp_detector)
    try:
        source = source_image[None]                                                  # (1, C, H, W)
        kp_source = kp_detector(source)                                              # batch 1
        source_cache = prepare_source(generator, source)
        kp_driving = detect_keypoints(kp_detector, driving_video, batch_size)        # (T, K, 2), (T, K, 2, 2)
        kp_driving_initial = {key: value[start_frame:start_frame + 1] for key, value in kp_driving.items()}
        kp_norm = normalize_kp(kp_source, kp_driving, kp_driving_initial, use_relative_movement=relative,
                               use_relative_jacobian=relative, adapt_movement_scale=adapt_movement_scale)  # batch T
        predictions = []
        for start in tqdm(range(0, num_frames, batch_size), desc="animating", unit="batch", disable=not progress):
            kp_batch = {key: value[start:start + batch_size] for key, value in kp_norm.items()}     # batch b
            predictions.append(generate_frames(generator, source_cache, kp_source, kp_batch))     # (b, C, H, W)
    finally:
        restore_modes((generator, kp_detector), modes)
    return torch.cat(predictions)                                                    # (T, C, H, W)


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
    modes = eval_mode(kp_detector)
    try:
        kp_source = kp_detector(source_image[None])["value"]                            # (1, K, 2)
        kp_driving = detect_keypoints(kp_detector, driving_video, batch_size)["value"]   # (T, K, 2)
    finally:
        restore_modes((kp_detector,), modes)
    difference = normalized_pose(kp_driving) - normalized_pose(kp_source)               # (T, K, 2)
    return difference.pow(2).sum(dim=(1, 2))                                            # (T,)


def find_best_frame(source_image, driving_video, kp_detector):
    """Index of the driving frame whose pose is closest to the source's (the authors' idea, spec §6.7,
    on our detector's keypoints instead of face landmarks). Pass it as ``make_animation(start_frame=...)``."""
    return int(torch.argmin(pose_distances(source_image, driving_video, kp_detector)))
