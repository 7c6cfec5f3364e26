"""Metrics on held-out synthetic videos, where the ground truth is exact.

- **Reconstruction L1** (the authors' ``reconstruction.py``): source = frame 0, every frame t
  (including 0) is predicted from the source driven by the keypoints of frame t; the L1 is the mean
  |prediction − frame t| in [0, 1] units over all frames. Printed next to the L1 of copying the
  source (prediction = frame 0), the score of a model that moves nothing.
- **Keypoint quality**: a linear map (least squares, with a bias) from the learned keypoints of a
  frame (K×2 numbers) to each part's ground-truth joint and centre, fitted on one half of the
  held-out videos and scored on the other half: R² (1 = the keypoints determine the parts' positions
  exactly, 0 = no better than their mean) and the mean error in pixels. A part is fitted only on the
  videos that show it (limb 3 of a windmill: about half), so few videos make a noisy map: for one
  model, R² ranged 0.87–0.96 over five samples of 32 videos, and 0.96–0.97 over two of 128.
- **Keypoint spread**: the mean distance in pixels between two keypoints of the same frame. Near 0
  means the keypoints have collapsed onto one point: every local affine motion is then anchored
  there, and a part that turns about its own joint cannot be moved exactly.
- **Cross-identity transfer L1**: identity B animated by video A with relative keypoints
  (chapter 07), against the synthetic ground truth (B moved by A's pose changes); next to copying B.
- **Jacobian quality** against the ground-truth affine maps (:func:`jacobian_quality`). Each
  keypoint is assigned the part whose motion its Jacobians follow best (on one half of the videos);
  on the other half, two numbers:
  *motion error*, the mean Frobenius distance between the keypoint's local motion from frame t back
  to frame 0, J(0) J(t)⁻¹ (the 2×2 part of Eq. 4), and the part's true one, B(0) B(t)⁻¹ (B the 2×2
  block of its affine map), next to the *zero-order* error of the identity matrix (a model without
  Jacobians). It is blind to J → J·M for an invertible M, as reconstruction is.
  *frame error*: how far J is from B·M with one M per keypoint, fitted on the first half of the
  videos and scored on the other (the relative residual: 0 = the Jacobian measures its part's
  geometry in one fixed frame in every video, whatever the identity; 1 = no relation). This is
  what the Jacobian equivariance term pins down and reconstruction alone does not.
  A model without Jacobians (``estimate_jacobian: false``) is scored with identity matrices.

Held-out videos are the ``test`` split of :class:`~fomm_teach.data.SyntheticVideos`: never seen in
training, whose videos come from the ``train`` split.
"""

from __future__ import annotations

import torch
from tqdm.auto import tqdm

from fomm_teach.animate import relative_keypoints
from fomm_teach.data.synthetic import SyntheticVideos


@torch.no_grad()
def reconstruct(kp_detector, generator, frames):
    """Predictions of every frame from frame 0: frames (T, 3, S, S) -> (prediction (T, 3, S, S), kp_value (T, K, 2))."""
    prediction, kp_driving = reconstruct_with_keypoints(kp_detector, generator, frames)
    return prediction, kp_driving["value"]


@torch.no_grad()
def reconstruct_with_keypoints(kp_detector, generator, frames):
    """:func:`reconstruct`, returning every frame's keypoints: (prediction (T, 3, S, S), kp_driving dict)."""
    source = frames[:1].expand_as(frames)                                                           # (T, 3, S, S)
    kp_driving = kp_detector(frames)
    kp_source = {key: value[:1].expand_as(value) for key, value in kp_driving.items()}
    prediction = generator(source, kp_driving=kp_driving, kp_source=kp_source)["prediction"]
    return prediction, kp_driving


def l1(a, b):
    """mean |a − b| as a float."""
    return float(torch.abs(a - b).mean())


def linear_fit_r2(features_fit, targets_fit, features_score, targets_score):
    """Fit targets ≈ [features, 1] · W by least squares on the *fit* rows; score it on the others.

    features_*: (N, F); targets_*: (N, D). Returns (R², predictions (N_score, D)) with
    R² = 1 − Σ (target − prediction)² / Σ (target − mean target)², sums over every row and column of
    the scored set (the mean is per column).
    """
    def with_bias(features):
        return torch.cat([features, torch.ones(len(features), 1, dtype=features.dtype)], dim=1)   # (N, F+1)

    fit, score = with_bias(features_fit.double()), with_bias(features_score.double())
    weights = torch.linalg.lstsq(fit, targets_fit.double(), driver="gelsd").solution                # (F+1, D)
    prediction = score @ weights                                                                     # (N, D)
    targets = targets_score.double()
    residual = ((targets - prediction) ** 2).sum()
    total = ((targets - targets.mean(0, keepdim=True)) ** 2).sum()
    return float(1 - residual / total), prediction.float()


def keypoint_quality(kp_values, joints, centers, present, size):
    """R² and pixel error of a linear map from learned keypoints to ground-truth part points.

    kp_values (V, T, K, 2), joints and centers (V, T, P, 2), present (V, P) (a windmill may lack its
    third limb): videos [0, V/2) fit the map, [V/2, V) score it. Each part is fitted on the videos
    that show it; its targets are its joint and its centre (4 numbers per frame). Returns
    {'r2', 'pixel_error', 'r2_parts'}: R² pooled over parts, the mean distance in pixels on a
    size×size frame, and each part's own R² (None for a part too rarely present).

    The map is shared by all identities, so it rewards keypoints that mean the same part in every
    video. The synthetic levels make that possible: a windmill's limb 1 always starts pointing up
    and limbs 2 and 3 follow clockwise, as a face's eyes are always above its mouth.
    """
    half = kp_values.shape[0] // 2
    features = kp_values.flatten(2)                                                                 # (V, T, 2K)
    residual = total = 0.0
    errors, r2_parts = [], []
    for part in range(joints.shape[2]):
        fit_videos = [v for v in range(half) if present[v, part] > 0]
        score_videos = [v for v in range(half, kp_values.shape[0]) if present[v, part] > 0]
        r2_parts.append(None)
        if len(fit_videos) < 2 or not score_videos:
            continue
        targets = torch.cat([joints[:, :, part], centers[:, :, part]], dim=-1)                     # (V, T, 4)
        r2, prediction = linear_fit_r2(features[fit_videos].flatten(0, 1), targets[fit_videos].flatten(0, 1),
                                       features[score_videos].flatten(0, 1), targets[score_videos].flatten(0, 1))
        truth = targets[score_videos].flatten(0, 1)                                                 # (N, 4)
        part_total = float(((truth - truth.mean(0, keepdim=True)) ** 2).sum())
        residual += (1 - r2) * part_total
        total += part_total
        r2_parts[-1] = r2
        distance = (prediction - truth).view(-1, 2, 2).norm(dim=-1) * (size - 1) / 2               # (N, 2) pixels
        errors.append(distance.flatten())
    if not errors:
        raise ValueError(f"{kp_values.shape[0]} videos are too few to fit the keypoint map: every part needs "
                         "2 fitting videos and 1 scoring video that show it; use at least 4 videos")
    return {"r2": 1 - residual / total, "pixel_error": float(torch.cat(errors).mean()), "r2_parts": r2_parts}


def backward_motion(jacobians):
    """The 2×2 part of the backward map from frame t to frame 0 (Eq. 4), J(0) J(t)⁻¹, for every frame.

    jacobians (V, T, N, 2, 2), per video, frame and keypoint (or part) -> (V, T, N, 2, 2) in float64.
    """
    jacobians = jacobians.double()
    return jacobians[:, :1] @ torch.linalg.inv(jacobians)                                           # (V, T, N, 2, 2)


def jacobian_quality(kp_jacobians, affine, present):
    """Learned Jacobians against the ground-truth affine maps (see the module docstring).

    kp_jacobians (V, T, K, 2, 2) learned; affine (V, T, P, 2, 3) the true maps, rest pose -> frame t;
    present (V, P). Videos [0, V/2) assign each keypoint its part (the one whose motion its Jacobians
    follow best) and fit its frame M; videos [V/2, V) score. Returns {'jacobian_motion_error',
    'jacobian_motion_zero_order', 'jacobian_frame_error', 'jacobian_parts'} (floats, and each
    keypoint's part index).
    """
    half = kp_jacobians.shape[0] // 2
    true_jacobians = affine[..., :2, :2].double()                                                   # (V, T, P, 2, 2)
    learned, truth = backward_motion(kp_jacobians), backward_motion(true_jacobians)                 # (V, T, K|P, 2, 2)
    # every keypoint against every part, on frames t >= 1 (frame 0's motion is the identity for all)
    errors = (learned[:, 1:, :, None] - truth[:, 1:, None, :]).flatten(-2).norm(dim=-1)            # (V, T-1, K, P)
    zero_order = (torch.eye(2, dtype=torch.float64) - truth[:, 1:]).flatten(-2).norm(dim=-1)        # (V, T-1, P)
    shown = present.double()[:, None, :]                                                            # (V, 1, P)
    fit_error = (errors[:half] * shown[:half, :, None]).sum((0, 1)) / (shown[:half].sum((0, 1)) * errors.shape[1])  # (K, P)
    fit_error[:, shown[:half].sum((0, 1)) == 0] = float("inf")                                      # parts never shown
    parts = fit_error.argmin(dim=1)                                                                 # (K,)
    motion = zero = residual = norm = 0.0
    count = 0
    for k, part in enumerate(parts.tolist()):
        fit_videos = [v for v in range(half) if present[v, part] > 0]
        score_videos = [v for v in range(half, kp_jacobians.shape[0]) if present[v, part] > 0]
        if not fit_videos or not score_videos:
            continue
        motion += float(errors[score_videos, :, k, part].sum())
        zero += float(zero_order[score_videos, :, part].sum())
        count += len(score_videos) * errors.shape[1]
        # one frame M per keypoint: J ≈ B M, least squares over the fitting frames, M = (Σ BᵀB)⁻¹ Σ BᵀJ
        b_fit = true_jacobians[fit_videos, :, part].flatten(0, 1)                                   # (N, 2, 2)
        j_fit = kp_jacobians[fit_videos, :, k].double().flatten(0, 1)                               # (N, 2, 2)
        frame = torch.linalg.solve((b_fit.mT @ b_fit).sum(0), (b_fit.mT @ j_fit).sum(0))            # (2, 2)
        j_score = kp_jacobians[score_videos, :, k].double()                                         # (V', T, 2, 2)
        residual += float(((j_score - true_jacobians[score_videos, :, part] @ frame) ** 2).sum())
        norm += float((j_score ** 2).sum())
    if count == 0:
        raise ValueError(f"{kp_jacobians.shape[0]} videos are too few to score the Jacobians: each keypoint's part "
                         "needs a fitting and a scoring video that show it; use at least 4 videos")
    return {"jacobian_motion_error": motion / count, "jacobian_motion_zero_order": zero / count,
            "jacobian_frame_error": (residual / norm) ** 0.5, "jacobian_parts": parts.tolist()}


def keypoint_spread(kp_values, size):
    """Mean distance in pixels between two different keypoints of one frame.

    kp_values (..., K, 2) in [-1, 1] on a size×size frame. Near 0: the keypoints collapsed. None
    for a single keypoint (K = 1), which has no other to be apart from.
    """
    num_kp = kp_values.shape[-2]
    if num_kp < 2:
        return None
    points = kp_values.reshape(-1, num_kp, 2).double()                                             # (N, K, 2)
    distances = torch.cdist(points, points)                                                        # (N, K, K)
    return float(distances.sum() / (len(points) * num_kp * (num_kp - 1))) * (size - 1) / 2


@torch.no_grad()
def evaluate_synthetic(kp_detector, generator, level, size, num_videos=16, num_frames=32, seed=0,
                       cross_identity=True, device="cpu", progress=False):
    """Every metric of this module on `num_videos` held-out videos (test split, `seed`) of `level`.

    The models are put in eval mode (the batch-norm running statistics, as the authors evaluate)
    and back in their previous mode afterwards. Returns a dict of floats: l1, copy_l1, r2,
    pixel_error, r2_parts, kp_spread (None for one keypoint), the jacobian_* numbers of
    :func:`jacobian_quality`, and with cross_identity transfer_l1,
    transfer_copy_l1 (pairs: video i animated by video i+1). progress: a tqdm bar per pass over the videos.
    """
    videos = SyntheticVideos(level, size=size, num_frames=num_frames, seed=seed, split="test")
    modes = kp_detector.training, generator.training
    kp_detector.eval()
    generator.eval()
    try:
        l1_sum = copy_sum = 0.0
        kp_values, kp_jacobians, affine, joints, centers, present = [], [], [], [], [], []
        for index in tqdm(range(num_videos), desc="reconstruction", disable=not progress):
            clip = videos.video(index)
            frames = clip["frames"].to(device)                                                     # (T, 3, S, S)
            prediction, kp_driving = reconstruct_with_keypoints(kp_detector, generator, frames)
            l1_sum += l1(prediction, frames)
            copy_sum += l1(frames[:1].expand_as(frames), frames)
            kp_values.append(kp_driving["value"].cpu())
            identity = torch.eye(2).expand(*kp_driving["value"].shape[:2], 2, 2)                   # (T, K, 2, 2)
            kp_jacobians.append(kp_driving.get("jacobian", identity).cpu())
            affine.append(clip["affine"])
            joints.append(clip["joints"])
            centers.append(clip["centers"])
            present.append(clip["identity"]["present"])
        metrics = {"l1": l1_sum / num_videos, "copy_l1": copy_sum / num_videos, "part_names": list(videos.part_names)}
        kp_values = torch.stack(kp_values)                                                         # (V, T, K, 2)
        present = torch.stack(present)                                                             # (V, P)
        metrics.update(keypoint_quality(kp_values, torch.stack(joints), torch.stack(centers), present, size))
        metrics.update(jacobian_quality(torch.stack(kp_jacobians), torch.stack(affine), present))
        metrics["kp_spread"] = keypoint_spread(kp_values, size)
        if cross_identity:
            metrics.update(transfer_l1(kp_detector, generator, videos, num_videos, device, progress))
    finally:
        kp_detector.train(modes[0])
        generator.train(modes[1])
    return metrics


@torch.no_grad()
def transfer_l1(kp_detector, generator, videos, num_videos, device="cpu", progress=False):
    """Cross-identity L1: identity i driven by video i+1 with relative keypoints, against the ground truth."""
    transfer_sum = copy_sum = 0.0
    for index in tqdm(range(num_videos), desc="cross-identity", disable=not progress):
        pair = videos.cross_identity(index, (index + 1) % num_videos)
        driving, target = pair["driving"].to(device), pair["target"].to(device)                   # (T, 3, S, S)
        source = pair["source"].to(device)[None].expand_as(driving)                               # (T, 3, S, S)
        kp_driving = kp_detector(driving)
        kp_source = kp_detector(source)
        kp_initial = {key: value[:1].expand_as(value) for key, value in kp_driving.items()}
        kp_norm = relative_keypoints(kp_source, kp_driving, kp_initial)
        prediction = generator(source, kp_driving=kp_norm, kp_source=kp_source)["prediction"]
        transfer_sum += l1(prediction, target)
        copy_sum += l1(source, target)
    return {"transfer_l1": transfer_sum / num_videos, "transfer_copy_l1": copy_sum / num_videos}


# The course's targets on held-out synthetic videos (issue 5; curves in benchmarks/RESULTS.md).
TARGET_R2 = 0.9                     # keypoints -> parts R², every level
TARGET_L1_RATIO = {"windmill": 0.5}  # reconstruction L1 ÷ copy-the-source L1, where a level has one


def target_lines(metrics, level):
    """One line per course target of ``level``: its value, met or not, and the gap when not."""
    def line(name, value, target, met):
        verdict = "met" if met else f"NOT met (gap {abs(value - target):.3f})"
        return f"  target {name:<22}{verdict}"

    lines = [line(f"R² >= {TARGET_R2}", metrics["r2"], TARGET_R2, metrics["r2"] >= TARGET_R2)]
    if level in TARGET_L1_RATIO:
        ratio, target = metrics["l1"] / metrics["copy_l1"], TARGET_L1_RATIO[level]
        lines.append(line(f"L1 <= {target} x copy", ratio, target, ratio <= target))
    return lines


def format_metrics(metrics, level):
    """The report `fomm-teach evaluate` prints, ending with the course's targets for ``level``."""
    lines = [
        f"held-out synthetic:{level} videos",
        f"  reconstruction L1      {metrics['l1']:.4f}   (copy the source: {metrics['copy_l1']:.4f}; "
        f"ratio {metrics['l1'] / metrics['copy_l1']:.2f})",
        f"  keypoints -> parts R²  {metrics['r2']:.3f}    (linear map fitted on half the videos, scored on the rest)",
        f"  keypoint pixel error   {metrics['pixel_error']:.2f} px",
    ]
    if metrics.get("kp_spread") is not None:
        lines.append(f"  keypoint spread        {metrics['kp_spread']:.2f} px (mean distance between two keypoints "
                     f"of a frame; near 0: collapsed onto one point)")
    if len(metrics.get("r2_parts", [])) > 1:
        parts = ", ".join(f"{name} {'n/a' if r2 is None else f'{r2:.3f}'}"
                          for name, r2 in zip(metrics["part_names"], metrics["r2_parts"]))
        lines.append(f"  R² per part            {parts}")
    if "jacobian_motion_error" in metrics:
        lines.append(f"  Jacobian motion error  {metrics['jacobian_motion_error']:.3f}    (identity matrices, zero order: "
                     f"{metrics['jacobian_motion_zero_order']:.3f})")
        lines.append(f"  Jacobian frame error   {metrics['jacobian_frame_error']:.3f}    (J vs B·M, one M per keypoint "
                     f"fitted on half the videos; 0 = one frame in every video)")
    if "transfer_l1" in metrics:
        lines.append(f"  cross-identity L1      {metrics['transfer_l1']:.4f}   (copy the source: "
                     f"{metrics['transfer_copy_l1']:.4f}; ratio {metrics['transfer_l1'] / metrics['transfer_copy_l1']:.2f})")
    return "\n".join(lines + target_lines(metrics, level))
