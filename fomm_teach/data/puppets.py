"""Random identities and motions of the synthetic puppets, level by level.

An *identity* is everything that stays fixed within a video: the skeleton (parents, anchors, rest
angles), each part's shape, colours and texture, its depth, and the background. A *motion* is a
smooth pose trajectory: every pose coordinate (root translation, log scale, log aspect, one angle
per part; layout in :mod:`fomm_teach.data.render`) is a base value plus a sum of sinusoids.

Levels (a curriculum):

- ``rigid``: one large textured part under a global affine (translation, rotation, scale, aspect);
- ``windmill``: an elliptic body with 2-3 thick limbs, one joint each, limb 1 pointing up and the
  others following clockwise (one layout for all identities, so keypoints can mean the same limb
  in every video); the body also moves;
- ``puppet``: torso, head, two arms and two legs of two segments each (10 parts), articulated.

Every draw uses the ``torch.Generator`` it is given (on the CPU), so a seed fixes the result.
"""

from __future__ import annotations

import math

import torch

LEVELS = ("rigid", "windmill", "puppet")
NUM_PARTS = {"rigid": 1, "windmill": 4, "puppet": 10}
PUPPET_PART_NAMES = (
    "torso", "head", "upper_arm_left", "lower_arm_left", "upper_arm_right", "lower_arm_right",
    "upper_leg_left", "lower_leg_left", "upper_leg_right", "lower_leg_right",
)  # fmt: skip
PART_NAMES = {
    "rigid": ("sprite",),
    "windmill": ("body", "limb_1", "limb_2", "limb_3"),
    "puppet": PUPPET_PART_NAMES,
}
NUM_SINUSOIDS = 3
BACKGROUND_KINDS = ("plain", "gradient", "texture")


def _uniform(generator, low, high, shape=()):
    """Uniform floats in [low, high) of the given shape (float32)."""
    return low + (high - low) * torch.rand(shape, generator=generator)


class Draws:
    """Uniform numbers drawn from a generator in one call, then handed out in order.

    An identity needs about a hundred random numbers; one generator call instead of a hundred
    keeps sampling cheap next to rendering.
    """

    def __init__(self, generator: torch.Generator, count: int = 512):
        self._values = torch.rand(count, generator=generator)
        self._floats, self._next = self._values.tolist(), 0

    def tensor(self, low: float, high: float, shape: tuple) -> torch.Tensor:
        count = math.prod(shape)
        values = self._values[self._next : self._next + count]
        self._next += count
        return low + (high - low) * values.reshape(shape)  # (*shape)

    def scalar(self, low: float = 0.0, high: float = 1.0) -> float:
        self._next += 1
        return low + (high - low) * self._floats[self._next - 1]


def _hsv_to_rgb(hsv: torch.Tensor) -> torch.Tensor:
    """(..., 3) hue in [0, 1) (wraps), saturation, value -> (..., 3) RGB in [0, 1]."""
    hue, sat, val = hsv.unbind(-1)
    k = torch.stack([(5 + hue * 6) % 6, (3 + hue * 6) % 6, (1 + hue * 6) % 6], -1)  # (..., 3)
    ramp = torch.clamp(torch.minimum(k, 4 - k), 0, 1)
    return val[..., None] * (1 - sat[..., None] * ramp)


def check_level(level: str) -> str:
    """Return ``level`` if it is known, else raise ``ValueError`` naming the choices."""
    if level not in LEVELS:
        raise ValueError(f"unknown synthetic level {level!r}; choose one of {', '.join(LEVELS)}")
    return level


def sample_identity(level: str, generator: torch.Generator) -> dict:
    """One identity: a dict of tensors with P parts along the first axis (no batch axis)."""
    parts = NUM_PARTS[check_level(level)]
    skeleton = {"rigid": _rigid_skeleton, "windmill": _windmill_skeleton, "puppet": _puppet_skeleton}[level]
    draws = Draws(generator)
    identity = skeleton(draws)
    identity.update(_appearance(draws, parts))
    if level == "puppet":
        identity["depth"] = _puppet_depth(draws)
    return identity


def _part_table(rows: list[tuple]) -> dict:
    """Columns of a skeleton given as rows (parent, anchor_x, anchor_y, rest_angle, center_u,
    half_length, half_width, roundness, depth)."""
    columns = list(zip(*rows))
    names = ("anchor_x", "anchor_y", "rest_angle", "center_u", "half_length", "half_width", "roundness", "depth")
    table = {name: torch.tensor(column, dtype=torch.float32) for name, column in zip(names, columns[1:])}
    return {
        "parent": torch.tensor(columns[0], dtype=torch.long),
        "anchor": torch.stack([table.pop("anchor_x"), table.pop("anchor_y")], -1),
        "present": torch.ones(len(rows)),
        **table,
    }


def _rigid_skeleton(draws: Draws) -> dict:
    half_length, half_width = draws.scalar(0.3, 0.4), draws.scalar(0.2, 0.28)
    identity = _part_table([(-1, 0, 0, 0, 0, half_length, half_width, draws.scalar(0.2, 1.0), 0)])
    identity["root_scale"] = torch.tensor(1.0)
    return identity


def _windmill_skeleton(draws: Draws) -> dict:
    body_length, body_width = draws.scalar(0.32, 0.4), draws.scalar(0.24, 0.3)
    rows = [(-1, 0, 0, 0, 0, body_length, body_width, draws.scalar(0.7, 1.0), 0)]
    start = -math.pi / 2 + draws.scalar(-0.3, 0.3)  # limb 1 points up: the same layout for every identity
    for limb in range(3):
        angle = start + 2 * math.pi * limb / 3 + draws.scalar(-0.3, 0.3)
        anchor = (0.8 * body_length * math.cos(angle), 0.8 * body_width * math.sin(angle))
        half_length, half_width = draws.scalar(0.18, 0.25), draws.scalar(0.09, 0.12)
        depth = 1.0 if draws.scalar() < 0.5 else -1.0
        rows.append((0, *anchor, angle, 0.85 * half_length, half_length, half_width, 1.0, depth + 0.01 * limb))
    identity = _part_table(rows)
    if (identity["depth"][1:] < 0).all():  # at least one limb in front of the body: real occlusions
        identity["depth"][1] = 1.0
    identity["present"][3] = float(draws.scalar() < 0.5)  # 2 or 3 limbs
    identity["root_scale"] = torch.tensor(1.0)
    return identity


def _puppet_skeleton(draws: Draws) -> dict:
    torso_x, torso_y = draws.scalar(0.13, 0.17), draws.scalar(0.21, 0.26)
    head_length, head_width = draws.scalar(0.1, 0.13), draws.scalar(0.085, 0.105)
    arm = [draws.scalar(0.2, 0.25), draws.scalar(0.18, 0.23)]
    leg = [draws.scalar(0.22, 0.27), draws.scalar(0.2, 0.25)]
    arm_width = [draws.scalar(0.06, 0.075), draws.scalar(0.05, 0.065)]
    leg_width = [draws.scalar(0.07, 0.085), draws.scalar(0.06, 0.075)]
    half_pi = math.pi / 2
    rows = [
        (-1, 0, 0, 0, 0, torso_x, torso_y, 0.5, 0),
        (0, 0, -torso_y, -half_pi, head_length + 0.02, head_length, head_width, 1.0, 0),
    ]
    for side in (-1, 1):  # left (x < 0), right
        rows.append((0, side * (torso_x - 0.02), -torso_y + 0.04, half_pi - side * 0.35, arm[0] / 2, arm[0] / 2, arm_width[0], 1.0, 0))
        rows.append((len(rows) - 1, arm[0], 0, side * 0.2, arm[1] / 2, arm[1] / 2, arm_width[1], 1.0, 0))
    for side in (-1, 1):
        rows.append((0, side * 0.5 * torso_x, torso_y - 0.02, half_pi - side * 0.12, leg[0] / 2, leg[0] / 2, leg_width[0], 1.0, 0))
        rows.append((len(rows) - 1, leg[0], 0, side * 0.08, leg[1] / 2, leg[1] / 2, leg_width[1], 1.0, 0))
    identity = _part_table(rows)
    identity["root_scale"] = torch.tensor(draws.scalar(0.95, 1.1))
    return identity


def _puppet_depth(draws: Draws) -> torch.Tensor:
    """Torso 0, head in front, legs behind; one arm in front of the torso, the other behind."""
    front_left = bool(draws.scalar() < 0.5)
    left, right = (1.0, -1.0) if front_left else (-1.0, 1.0)
    return torch.tensor([0.0, 0.5, left, left + 0.1, right, right + 0.1, -0.5, -0.6, -0.5, -0.6])


def _appearance(draws: Draws, parts: int) -> dict:
    """Palette, stripe texture and background of one identity."""
    hue = draws.scalar() + torch.arange(parts) * draws.scalar(0.08, 0.3)  # (P,), a hue rotation
    saturation, value = draws.tensor(0.45, 0.9, (parts,)), draws.tensor(0.55, 0.95, (parts,))
    stripe_value = torch.where(value > 0.7, value - draws.tensor(0.35, 0.5, (parts,)), value + 0.35).clamp(0, 1)
    stripe_hue = hue + draws.tensor(-0.1, 0.1, (parts,))
    bg_hsv = torch.stack([draws.tensor(0, 1, (2,)), draws.tensor(0.05, 0.35, (2,)), draws.tensor(0.2, 0.8, (2,))], -1)
    part_hsv = torch.stack([torch.cat([hue, stripe_hue]), saturation.repeat(2), torch.cat([value, stripe_value])], -1)
    rgb = _hsv_to_rgb(torch.cat([part_hsv, bg_hsv]))  # (2P + 2, 3): base colours, stripe colours, background
    base, stripe, bg_colors = rgb[:parts], rgb[parts : 2 * parts], rgb[2 * parts :]
    marker = torch.where(value[:, None] > 0.7, torch.zeros(parts, 3) + 0.08, torch.zeros(parts, 3) + 0.95)
    return {
        "color_base": base,
        "color_stripe": stripe,
        "color_marker": marker,
        "stripe_angle": draws.tensor(0, math.pi, (parts,)),
        "stripe_period": draws.tensor(0.13, 0.22, (parts,)),
        "stripe_phase": draws.tensor(0, 2 * math.pi, (parts,)),
        "bg_kind": torch.tensor(int(draws.scalar() * len(BACKGROUND_KINDS))),
        "bg_colors": bg_colors,  # (2, 3)
        "bg_angle": torch.tensor(draws.scalar(0, 2 * math.pi)),
        "bg_noise": draws.tensor(0, 1, (1, 6, 6)),
    }


# Per level: (base range, sinusoid amplitude) of the pose coordinates cx, cy, log_s, log_aspect,
# root angle, joint angles (a value, or one per part for the puppet). Measured on 32 held-out
# 32x32 videos, a part's centre moves by a standard deviation of about 4 px within a video (rigid)
# and 3 px (windmill limbs): well above a keypoint's sub-pixel error, so that tracking shows in the
# metrics and copying the source is a weak baseline. (Amplitudes a third of these moved parts by
# less than a pixel, which no metric could tell from noise.)
_MOTION = {
    "rigid": {"base": (0.15, 0.15, 0.05, 0.05, 0.4, ()), "amplitude": (0.6, 0.6, 0.2, 0.1, 1.0, ())},
    "windmill": {"base": (0.08, 0.08, 0.03, 0.0, 0.2, 0.2), "amplitude": (0.4, 0.4, 0.1, 0.0, 0.5, 2.0)},
    "puppet": {
        "base": (0.03, 0.03, 0.02, 0.0, 0.05, 0.15),
        "amplitude": (0.06, 0.05, 0.04, 0.0, 0.12, (0.25, 0.8, 0.6, 0.8, 0.6, 0.4, 0.4, 0.4, 0.4)),
    },
}
_ROOT_OFFSET = {"rigid": (0.0, 0.0), "windmill": (0.0, 0.0), "puppet": (0.0, -0.12)}
PERIOD_FRAMES = (20.0, 64.0)  # period of each sinusoid, in frames


def _per_coordinate(values: tuple, parts: int) -> torch.Tensor:
    """Expand the level table (cx, cy, log_s, log_aspect, root angle, joint angle(s)) to (4+P,)."""
    joints = values[5] if isinstance(values[5], tuple) else (values[5],) * (parts - 1)
    return torch.tensor(values[:5] + tuple(joints), dtype=torch.float32)


def sample_motion(level: str, generator: torch.Generator) -> dict:
    """One smooth motion: ``base`` (4+P,) and ``amplitude``/``frequency``/``phase`` (M, 4+P) with
    M sinusoids per coordinate; frequencies in radians per frame."""
    parts = NUM_PARTS[check_level(level)]
    dims = 4 + parts
    table = _MOTION[level]
    base = _per_coordinate(table["base"], parts) * _uniform(generator, -1, 1, (dims,))
    base[:2] += torch.tensor(_ROOT_OFFSET[level])
    weights = torch.tensor([1.0, 0.6, 0.3])[:, None]  # the first sinusoid dominates
    amplitude = _per_coordinate(table["amplitude"], parts) * weights * _uniform(generator, 0.4, 1.0, (NUM_SINUSOIDS, dims))
    period = _uniform(generator, *PERIOD_FRAMES, (NUM_SINUSOIDS, dims)) / torch.tensor([1.0, 1.7, 2.9])[:, None]
    return {
        "base": base,
        "amplitude": amplitude / weights.sum(),
        "frequency": 2 * math.pi / period,
        "phase": _uniform(generator, 0, 2 * math.pi, (NUM_SINUSOIDS, dims)),
    }


def evaluate_motion(motion: dict, times: torch.Tensor) -> torch.Tensor:
    """Poses at the given frame times: motion (batched, N leading), times (N, T) -> (N, T, 4+P).

    pose(t) = base + sum_m amplitude_m sin(frequency_m t + phase_m).
    """
    angle = motion["frequency"][:, None] * times[:, :, None, None] + motion["phase"][:, None]  # (N, T, M, D)
    return motion["base"][:, None] + (motion["amplitude"][:, None] * torch.sin(angle)).sum(2)  # (N, T, D)
