"""The authors' training augmentations (spec section 8.3), on torch clips (T, 3, H, W) in [0, 1].

Every transform draws its random parameters once per call and applies them to all frames of the
clip, so source and driving stay consistent. ``AllAugmentationTransform`` applies them in the
authors' order: flip -> rotation -> resize -> crop -> jitter, built from a config's
``augmentation_params`` (``flip_param``, ``rotation_param``, ``resize_param``, ``crop_param``,
``jitter_param``).

Randomness comes from ``torch``'s generator (pass ``generator=`` to fix it), which DataLoader
seeds differently in each worker.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
import torchvision.transforms.v2.functional as TF


def _uniform(low, high, generator) -> float:
    return float(low + (high - low) * torch.rand((), generator=generator))


class RandomFlip:
    """Time flip (reverse the clip, swapping source and driving) or horizontal flip, never both.

    As the authors': with probability 0.5 (if ``time_flip``) the clip is reversed and returned at
    once; otherwise with probability 0.5 (if ``horizontal_flip``) every frame is mirrored. With both
    on, P(time flip) = 0.5 and P(horizontal flip) = 0.25 (the authors' ``augmentation.py``).
    """

    def __init__(self, time_flip=False, horizontal_flip=False):
        self.time_flip, self.horizontal_flip = time_flip, horizontal_flip

    def __call__(self, clip, generator=None):
        if torch.rand((), generator=generator) < 0.5 and self.time_flip:
            return clip.flip(0)
        if torch.rand((), generator=generator) < 0.5 and self.horizontal_flip:
            return clip.flip(-1)
        return clip


class RandomResize:
    """Scale the clip by a factor uniform in ``ratio`` = (low, high), nearest-neighbour."""

    def __init__(self, ratio=(0.9, 1.1)):
        self.ratio = ratio

    def __call__(self, clip, generator=None):
        scale = _uniform(*self.ratio, generator)
        height, width = clip.shape[-2:]
        size = (max(1, round(height * scale)), max(1, round(width * scale)))
        return F.interpolate(clip, size=size, mode="nearest")  # (T, 3, h, w)


class RandomCrop:
    """Crop ``size`` = (height, width) at a random offset; smaller clips are edge-padded first."""

    def __init__(self, size=(256, 256)):
        self.size = tuple(size)

    def __call__(self, clip, generator=None):
        out_h, out_w = self.size
        height, width = clip.shape[-2:]
        pad_h, pad_w = max(0, out_h - height), max(0, out_w - width)
        if pad_h or pad_w:
            padding = (pad_w // 2, pad_w - pad_w // 2, pad_h // 2, pad_h - pad_h // 2)
            clip = F.pad(clip, padding, mode="replicate")  # (T, 3, >= out_h, >= out_w)
            height, width = clip.shape[-2:]
        top = int(torch.randint(height - out_h + 1, (), generator=generator))
        left = int(torch.randint(width - out_w + 1, (), generator=generator))
        return clip[..., top : top + out_h, left : left + out_w]


class RandomRotation:
    """Rotate every frame by one angle uniform in [-degrees, degrees] (no config uses it)."""

    def __init__(self, degrees=0):
        self.degrees = degrees

    def __call__(self, clip, generator=None):
        angle = _uniform(-self.degrees, self.degrees, generator)
        return TF.rotate(clip, angle, interpolation=TF.InterpolationMode.BILINEAR)


class ColorJitter:
    """Brightness, contrast, saturation factors uniform in [max(0, 1-v), 1+v], hue shift uniform in
    [-v, v], applied in a random order with the same values to every frame.

    The authors go through uint8 PIL images; this works on the float tensors directly.
    """

    def __init__(self, brightness=0, contrast=0, saturation=0, hue=0):
        self.brightness, self.contrast, self.saturation, self.hue = brightness, contrast, saturation, hue

    def __call__(self, clip, generator=None):
        steps = []
        for value, function in (
            (self.brightness, TF.adjust_brightness),
            (self.contrast, TF.adjust_contrast),
            (self.saturation, TF.adjust_saturation),
        ):
            if value:
                steps.append((function, _uniform(max(0.0, 1 - value), 1 + value, generator)))
        if self.hue:
            steps.append((TF.adjust_hue, _uniform(-self.hue, self.hue, generator)))
        for position in torch.randperm(len(steps), generator=generator).tolist():
            function, factor = steps[position]
            clip = function(clip, factor)
        return clip.clamp(0, 1)


class AllAugmentationTransform:
    """The authors' pipeline: flip -> rotation -> resize -> crop -> jitter, each only if configured."""

    def __init__(self, resize_param=None, rotation_param=None, flip_param=None, crop_param=None, jitter_param=None):
        self.transforms = []
        if flip_param is not None:
            self.transforms.append(RandomFlip(**flip_param))
        if rotation_param is not None:
            self.transforms.append(RandomRotation(**rotation_param))
        if resize_param is not None:
            self.transforms.append(RandomResize(**resize_param))
        if crop_param is not None:
            self.transforms.append(RandomCrop(**crop_param))
        if jitter_param is not None:
            self.transforms.append(ColorJitter(**jitter_param))

    def __call__(self, clip, generator=None):
        """clip (T, 3, H, W) float in [0, 1] -> augmented clip (T, 3, H', W')."""
        for transform in self.transforms:
            clip = transform(clip, generator)
        return clip
