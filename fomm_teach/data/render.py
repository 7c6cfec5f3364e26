"""Rasteriser of the synthetic puppets: kinematics, textured parts, depth compositing.

Everything here is vectorised over a batch of N videos, T frames and P parts, in pure torch.

Coordinates. Frames use the normalised (x, y) grid of the whole course (spec section 0,
``make_coordinate_grid``): for an S x S frame, pixel column j has x = 2j/(S-1) - 1 and row i has
y = 2i/(S-1) - 1, so -1 and +1 are the centres of the border pixels (the ``align_corners=True``
convention of ``F.grid_sample``).
Matrices act on column vectors (x, y, 1).

Each part k lives in its own *local* coordinates (u, v). At time t a 2x3 affine ``M_k(t)`` maps
local to frame coordinates. Parts form a tree: the root's pose is a translation, rotation and
(anisotropic) scale; a child is attached at an anchor point given in its parent's local
coordinates and turns about it by its joint angle:

    M_0 = T(cx, cy) R(theta_0) diag(s e^a, s e^-a),      s = root_scale * e^{log_s}
    M_k = M_parent(k) T(anchor_k) R(rest_angle_k + theta_k)

A part's shape is a rounded box centred at (center_u, 0) in local coordinates with half extents
(half_length, half_width). Its texture (stripes on one half, a marker dot) is painted in local
coordinates, so it turns and stretches with the part.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from fomm_teach.keypoints import make_coordinate_grid

# Layout of a pose vector (..., 4 + P): root translation x, y, log scale, log aspect, then one
# angle per part (part 0: the root's rotation; part k >= 1: its joint angle relative to rest).
POSE_CX, POSE_CY, POSE_LOG_SCALE, POSE_LOG_ASPECT, POSE_ANGLES = 0, 1, 2, 3, 4

EDGE_SHARPNESS = 2.0  # slope of the soft edge, per pixel of signed distance
STRIPE_SHARPNESS = 3.0  # how square the sinusoidal stripes are (0: pure sine)


def _rotation_translation(angle: torch.Tensor, tx: torch.Tensor, ty: torch.Tensor) -> torch.Tensor:
    """T(tx, ty) R(angle) as (..., 3, 3); all inputs broadcast to the same shape (...)."""
    angle, tx, ty = torch.broadcast_tensors(angle, tx, ty)
    cos, sin = torch.cos(angle), torch.sin(angle)
    zero, one = torch.zeros_like(angle), torch.ones_like(angle)
    rows = [torch.stack([cos, -sin, tx], -1), torch.stack([sin, cos, ty], -1), torch.stack([zero, zero, one], -1)]
    return torch.stack(rows, dim=-2)  # (..., 3, 3)


def part_transforms(identity: dict, pose: torch.Tensor) -> torch.Tensor:
    """Local -> frame affines of every part: pose (N, T, 4+P) -> (N, T, P, 3, 3)."""
    parents = identity["parent"].tolist()
    anchor, rest_angle = identity["anchor"], identity["rest_angle"]  # (N, P, 2), (N, P)
    scale = identity["root_scale"][:, None] * torch.exp(pose[..., POSE_LOG_SCALE])  # (N, T)
    aspect = torch.exp(pose[..., POSE_LOG_ASPECT])  # (N, T)
    zero = torch.zeros_like(scale)
    root = _rotation_translation(pose[..., POSE_ANGLES], pose[..., POSE_CX], pose[..., POSE_CY])  # (N, T, 3, 3)
    stretch = torch.diag_embed(torch.stack([scale * aspect, scale / aspect, zero + 1.0], -1))  # (N, T, 3, 3)
    transforms = [root @ stretch]
    for k in range(1, len(parents)):
        joint = _rotation_translation(
            rest_angle[:, None, k] + pose[..., POSE_ANGLES + k],  # (N, T)
            anchor[:, None, k, 0],
            anchor[:, None, k, 1],
        )  # (N, T, 3, 3)
        transforms.append(transforms[parents[k]] @ joint)
    return torch.stack(transforms, dim=2)  # (N, T, P, 3, 3)


def rest_pose(identity: dict) -> torch.Tensor:
    """The rest pose (all zeros: centred, unit scale, rest angles) as (N, 1, 4+P)."""
    num, parts = identity["anchor"].shape[:2]
    return torch.zeros(num, 1, 4 + parts, dtype=identity["anchor"].dtype, device=identity["anchor"].device)


def ground_truth_geometry(identity: dict, pose: torch.Tensor) -> dict:
    """Per-part affines relative to the rest pose, joint positions and part centres.

    Returns ``affine`` (N, T, P, 2, 3) = M_k(t) M_k(rest)^-1, which maps rest-pose frame coordinates
    of part k to its frame coordinates at t; ``joints`` (N, T, P, 2), the frame position of each
    part's joint (the root's: its centre); ``centers`` (N, T, P, 2), each part's shape centre.
    """
    transforms = part_transforms(identity, pose)  # (N, T, P, 3, 3)
    rest = part_transforms(identity, rest_pose(identity))  # (N, 1, P, 3, 3)
    affine = (transforms @ torch.linalg.inv(rest))[..., :2, :]  # (N, T, P, 2, 3)
    parents = identity["parent"].clamp(min=0)  # (P,); the root (parent -1) is its own parent here
    anchor = torch.cat([identity["anchor"], torch.ones_like(identity["anchor"][..., :1])], -1)  # (N, P, 3)
    joints = (transforms[:, :, parents] @ anchor[:, None, :, :, None])[..., :2, 0]  # (N, T, P, 2)
    joints[:, :, 0] = transforms[:, :, 0, :2, 2]  # the root's "joint" is its origin, the body centre
    center_local = torch.stack(
        [identity["center_u"], torch.zeros_like(identity["center_u"]), torch.ones_like(identity["center_u"])], -1
    )  # (N, P, 3)
    centers = (transforms @ center_local[:, None, :, :, None])[..., :2, 0]  # (N, T, P, 2)
    return {"affine": affine, "joints": joints, "centers": centers, "transforms": transforms}


def render_background(identity: dict, size: int) -> torch.Tensor:
    """Static backgrounds (N, 3, S, S): kind 0 plain, 1 linear gradient, 2 smooth noise texture."""
    colors = identity["bg_colors"]  # (N, 2, 3)
    grid = make_coordinate_grid((size, size), dtype=colors.dtype, device=colors.device)  # (S, S, 2)
    angle = identity["bg_angle"]  # (N,)
    direction = torch.stack([torch.cos(angle), torch.sin(angle)], -1)  # (N, 2)
    ramp = (grid[None] * direction[:, None, None, :]).sum(-1).mul(0.5).add(0.5).clamp(0, 1)  # (N, S, S)
    noise = F.interpolate(identity["bg_noise"], size=(size, size), mode="bicubic", align_corners=True)  # (N, 1, S, S)
    noise = noise[:, 0].clamp(0, 1)  # (N, S, S)
    kind = identity["bg_kind"]  # (N,)
    mix = torch.stack([torch.zeros_like(ramp), ramp, noise], 1)  # (N, 3 kinds, S, S)
    mix = mix.gather(1, kind[:, None, None, None].expand(-1, 1, size, size))  # (N, 1, S, S)
    return colors[:, 0, :, None, None] * (1 - mix) + colors[:, 1, :, None, None] * mix  # (N, 3, S, S)


def render_parts(identity: dict, transforms: torch.Tensor, size: int):
    """Coverage and colour of every part, before compositing.

    transforms (N, T, P, 3, 3) local -> frame. Returns ``alpha`` (N, T, P, S, S) in [0, 1] (soft
    silhouettes, zero for absent parts) and ``paint`` (N, T, P, 3, S, S): at every pixel, the weights
    (summing to 1) of the part's three palette colours (base, stripe, marker).

    Shape: a rounded box, signed distance sdf(q) = |max(d, 0)| + min(max(d_u, d_v), 0) - r with
    d = |q| - (half - r), q = local coordinates relative to the box centre; alpha = sigmoid(-k sdf)
    with k = EDGE_SHARPNESS x pixels per local unit. Texture: stripes sigmoid(3 sin(phase)) with
    phase = 2 pi (cos a, sin a) . q / period + phase_0 on the v > 0 half; a marker dot near one end.
    """
    part = {key: identity[key][:, None] for key in _PART_KEYS}  # each (N, 1, P), broadcasts to (N, T, P)
    pixels_per_unit = torch.linalg.det(transforms[..., :2, :2]).abs().sqrt() * (size - 1) / 2  # (N, T, P)
    k = EDGE_SHARPNESS * pixels_per_unit  # (N, T, P)
    # Five per-pixel quantities are affine functions of the pixel's (x, y): build their 5x3 matrix
    # per part and frame, then evaluate rows[:, 0] x + rows[:, 1] y + rows[:, 2] at every pixel.
    to_local = torch.linalg.inv(transforms)[..., :2, :]  # (N, T, P, 2, 3) frame -> local (u, v)
    shift = torch.zeros_like(to_local)
    shift[..., 0, 2] = part["center_u"]
    q = to_local - shift  # (N, T, P, 2, 3): q = (u - center_u, v)
    dot_offset = torch.zeros_like(q)
    dot_offset[..., 0, 2] = 0.55 * part["half_length"]
    dot_offset[..., 1, 2] = -0.45 * part["half_width"]
    direction = torch.stack([torch.cos(part["stripe_angle"]), torch.sin(part["stripe_angle"])], -1)  # (N, 1, P, 2)
    phase = (2 * math.pi / part["stripe_period"])[..., None] * (direction[..., None] * q).sum(-2)  # (N, T, P, 3)
    phase[..., 2] += part["stripe_phase"]
    # rows (N, T, P, 5, 3), one per quantity: k q_u, k q_v, phase, k (q_u - dot_u), k (q_v - dot_v)
    rows = torch.cat([k[..., None, None] * q, phase[..., None, :], k[..., None, None] * (q - dot_offset)], -2)
    grid = make_coordinate_grid((size, size), dtype=transforms.dtype, device=transforms.device)  # (S, S, 2)
    grid = grid.reshape(-1, 2)  # (S*S, 2)
    planes = torch.addcmul(rows[..., 2:], rows[..., :1], grid[:, 0])  # (N, T, P, 5, S*S): c + a x
    planes.addcmul_(rows[..., 1:2], grid[:, 1])  # + b y
    kq_u, kq_v, stripe_phase, kd_u, kd_v = planes.unbind(-2)  # each (N, T, P, S*S)

    radius = part["roundness"] * torch.minimum(part["half_length"], part["half_width"])  # (N, 1, P)
    d_u = kq_u.abs().sub_((k * (part["half_length"] - radius))[..., None])
    d_v = kq_v.abs().sub_((k * (part["half_width"] - radius))[..., None])
    outside = (d_u.clamp(min=0).square_() + d_v.clamp(min=0).square_()).sqrt_()
    k_sdf = outside.add_(torch.maximum(d_u, d_v).clamp_(max=0))
    k_sdf.sub_((k * radius)[..., None])  # (N, T, P, S*S), signed distance x k
    alpha = torch.sigmoid(k_sdf.neg_()).mul_(part["present"][..., None])

    stripes = torch.sin(stripe_phase).mul_(STRIPE_SHARPNESS).sigmoid_()
    half_mask = torch.sigmoid(kq_v)  # the v > 0 half of the part
    dot_distance = (kd_u.square() + kd_v.square()).sqrt_()
    dot = dot_distance.neg_().add_((k * 0.35 * part["half_width"])[..., None]).sigmoid_()
    stripe_weight = stripes.mul_(half_mask).mul_(1 - dot)
    paint = torch.stack([1 - dot - stripe_weight, stripe_weight, dot], 3)  # (N, T, P, 3, S*S)
    shape = transforms.shape[:3] + (size, size)
    return alpha.reshape(shape), paint.reshape(shape[:3] + (3,) + shape[3:])  # (N, T, P, S, S), (N, T, P, 3, S, S)


_PART_KEYS = (
    "center_u", "half_length", "half_width", "roundness", "present",
    "stripe_angle", "stripe_period", "stripe_phase",
)  # fmt: skip


def composite(alpha, paint, palette, background, depth):
    """Paint parts back to front ("over" operator) over a static background.

    alpha (N, T, P, S, S); paint (N, T, P, 3, S, S), per-pixel weights of each part's palette
    (N, P, 3 colours, 3 RGB); background (N, 3, S, S); depth (N, P) (larger = nearer the camera).
    Returns ``frames`` (N, T, 3, S, S) and ``masks`` (N, T, P, S, S), the
    *visible* weight of each part (its alpha times the transmittance of every part in front of it),
    and ``background_mask`` (N, T, S, S); masks and background_mask sum to 1 at every pixel.
    """
    rank = depth.argsort(dim=1, stable=True).argsort(dim=1)  # (N, P), 0 = farthest
    in_front = (rank[:, None, :] > rank[:, :, None]).to(alpha.dtype)  # (N, P, P): [k, j] = j covers k
    # transmittance in front of part k: prod_{j in front of k} (1 - alpha_j), as exp of a sum of logs
    log_clear = torch.log1p(-alpha.clamp(max=1 - 1e-6))  # (N, T, P, S, S)
    num, frames_count, parts, size = alpha.shape[0], alpha.shape[1], alpha.shape[2], alpha.shape[-1]
    log_clear = log_clear.reshape(num, frames_count, parts, size * size)  # (N, T, P, S*S)
    log_in_front = in_front[:, None] @ log_clear  # (N, T, P, S*S)
    masks = alpha * torch.exp(log_in_front).reshape(alpha.shape)  # (N, T, P, S, S)
    background_mask = torch.exp(log_clear.sum(2)).reshape(num, frames_count, size, size)  # (N, T, S, S)
    weights = (masks[:, :, :, None] * paint).reshape(num, frames_count, parts * 3, size * size)  # (N, T, 3P, S*S)
    colors = palette.reshape(num, 1, parts * 3, 3).transpose(-1, -2)  # (N, 1, 3 RGB, 3P)
    frames = (colors @ weights).reshape(num, frames_count, 3, size, size)  # (N, T, 3, S, S)
    frames = frames + background_mask[:, :, None] * background[:, None]
    return frames.clamp(0, 1), masks, background_mask  # (N, T, 3, S, S), (N, T, P, S, S), (N, T, S, S)


def render(identity: dict, pose: torch.Tensor, size: int) -> dict:
    """Render N videos: identity (batched dict, N leading), pose (N, T, 4+P) -> frames and ground truth.

    Returns ``frames`` (N, T, 3, S, S) in [0, 1]; ``masks`` (N, T, P, S, S); ``background_mask``
    (N, T, S, S); ``affine`` (N, T, P, 2, 3); ``joints`` and ``centers`` (N, T, P, 2).
    """
    geometry = ground_truth_geometry(identity, pose)
    alpha, paint = render_parts(identity, geometry["transforms"], size)
    background = render_background(identity, size)
    palette = torch.stack([identity["color_base"], identity["color_stripe"], identity["color_marker"]], 2)  # (N, P, 3, 3)
    frames, masks, background_mask = composite(alpha, paint, palette, background, identity["depth"])
    return {
        "frames": frames,
        "masks": masks,
        "background_mask": background_mask,
        "affine": geometry["affine"],
        "joints": geometry["joints"],
        "centers": geometry["centers"],
    }
