"""The authors' augmentations: flip probabilities, and source/driving kept consistent."""

import pytest
import torch

from fomm_teach.data.augmentation import (
    AllAugmentationTransform,
    ColorJitter,
    RandomCrop,
    RandomFlip,
    RandomResize,
    RandomRotation,
)


def make_pair(shift=3, size=24):
    """A random source and a driving frame that is the source moved ``shift`` pixels right."""
    source = torch.rand(3, size, size, generator=torch.Generator().manual_seed(0))
    driving = torch.roll(source, shifts=shift, dims=-1)
    return torch.stack([source, driving])  # (2, 3, S, S)


def test_flip_probabilities_and_mutual_exclusion():
    flip = RandomFlip(time_flip=True, horizontal_flip=True)
    clip = make_pair()
    generator = torch.Generator().manual_seed(0)
    counts = {"time": 0, "horizontal": 0, "none": 0}
    for _ in range(2000):
        out = flip(clip, generator)
        if torch.equal(out, clip.flip(0)):
            counts["time"] += 1
        elif torch.equal(out, clip.flip(-1)):
            counts["horizontal"] += 1
        else:
            assert torch.equal(out, clip)  # never both flips together
            counts["none"] += 1
    assert abs(counts["time"] / 2000 - 0.5) < 0.05
    assert abs(counts["horizontal"] / 2000 - 0.25) < 0.05
    only_horizontal = RandomFlip(time_flip=False, horizontal_flip=True)
    share = sum(torch.equal(only_horizontal(clip, generator), clip.flip(-1)) for _ in range(1000)) / 1000
    assert abs(share - 0.5) < 0.06


@pytest.mark.parametrize("seed", range(5))
def test_geometric_augmentations_keep_the_pair_consistent(seed):
    """After flip/resize/crop the driving frame is still the source shifted by the same amount
    (mirrored if flipped, swapped if time-flipped)."""
    transform = AllAugmentationTransform(
        flip_param={"time_flip": True, "horizontal_flip": True},
        resize_param={"ratio": [1.0, 1.0]},
        crop_param={"size": [16, 16]},
    )
    clip = make_pair(shift=3)
    out = transform(clip, torch.Generator().manual_seed(seed))
    assert out.shape == (2, 3, 16, 16)
    source, driving = out
    matches = [torch.allclose(driving[..., 3:], source[..., :-3]), torch.allclose(driving[..., :-3], source[..., 3:])]
    assert any(matches)


def test_resize_and_crop_sizes_and_edge_padding():
    clip = make_pair(size=20)
    resized = RandomResize(ratio=[0.5, 0.5])(clip)
    assert resized.shape == (2, 3, 10, 10)
    cropped = RandomCrop(size=[14, 12])(resized, torch.Generator().manual_seed(0))
    assert cropped.shape == (2, 3, 14, 12)
    assert torch.equal(cropped[..., 0, :], cropped[..., 1, :]) or torch.equal(cropped[..., -1, :], cropped[..., -2, :])


def test_colour_jitter_applies_the_same_change_to_both_frames():
    frame = torch.rand(3, 16, 16, generator=torch.Generator().manual_seed(1))
    clip = torch.stack([frame, frame])
    jitter = ColorJitter(brightness=0.3, contrast=0.3, saturation=0.3, hue=0.2)
    outs = [jitter(clip, torch.Generator().manual_seed(seed)) for seed in range(3)]
    for out in outs:
        assert torch.allclose(out[0], out[1])
        assert out.min() >= 0 and out.max() <= 1
    assert not torch.allclose(outs[0], clip, atol=1e-3)
    assert not torch.allclose(outs[0], outs[1], atol=1e-3)
    assert torch.equal(ColorJitter()(clip), clip)


def test_pipeline_from_the_mgif_config_parameters():
    transform = AllAugmentationTransform(
        flip_param={"horizontal_flip": True, "time_flip": True},
        resize_param={"ratio": [0.9, 1.1]},
        crop_param={"size": [20, 20]},
        jitter_param={"hue": 0.5},
    )
    out = transform(make_pair(size=20), torch.Generator().manual_seed(0))
    assert out.shape == (2, 3, 20, 20) and out.dtype == torch.float32


def test_rotation_turns_both_frames_by_the_same_angle():
    frame = torch.rand(3, 16, 16, generator=torch.Generator().manual_seed(2))
    out = RandomRotation(degrees=30)(torch.stack([frame, frame]), torch.Generator().manual_seed(0))
    assert out.shape == (2, 3, 16, 16)
    assert torch.equal(out[0], out[1]) and not torch.allclose(out[0], frame, atol=1e-2)
