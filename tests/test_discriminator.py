"""Discriminator and MultiScaleDiscriminator (spec §5): layout with old-hook spectral norm, sizes, use_kp, errors."""

import pytest
import torch
import torch.nn.functional as F

from fomm_teach.discriminator import (Discriminator, MultiScaleDiscriminator, discriminator_feature_sizes,
                                      minimum_discriminator_size)
from fomm_teach.errors import FommTeachError
from fomm_teach.motion import kp2gaussian
from official_layout import SECTIONS

VOX_PARAMS = dict(scales=[1], block_expansion=32, max_features=512, num_blocks=4, num_kp=10, num_channels=3)


def layout(module):
    return [(key, tuple(value.shape)) for key, value in module.state_dict().items()]


def test_vox_256_layout_with_spectral_norm_equals_the_authors():
    expected = list(SECTIONS["vox-256"]["discriminator"].items())
    assert len(expected) == 26
    assert layout(MultiScaleDiscriminator(**VOX_PARAMS, sn=True)) == expected


def test_taichi_256_layout_without_spectral_norm_equals_the_authors():
    expected = list(SECTIONS["taichi-256"]["discriminator"].items())
    assert len(expected) == 16
    assert layout(MultiScaleDiscriminator(**VOX_PARAMS)) == expected


def test_spectral_norm_uses_the_old_hook_api():
    disc = Discriminator(sn=True)
    conv = disc.down_blocks[0].conv
    names = dict(conv.named_parameters())
    assert set(names) == {"weight_orig", "bias"} and "weight" not in names
    assert not any("parametrizations" in key for key in disc.state_dict())


def test_use_kp_adds_num_kp_input_channels():
    disc = MultiScaleDiscriminator(**VOX_PARAMS, use_kp=True)
    assert disc.state_dict()["discs.1.down_blocks.0.conv.weight"].shape == (64, 13, 4, 4)
    assert sum(p.numel() for p in disc.parameters()) == 2_769_089


def test_blocks_norm_and_pool_placement():
    disc = Discriminator(block_expansion=32)
    assert disc.down_blocks[0].norm is None
    for block in disc.down_blocks[1:]:
        assert isinstance(block.norm, torch.nn.InstanceNorm2d) and block.norm.affine
        assert not block.norm.track_running_stats
    assert [block.pool for block in disc.down_blocks] == [True, True, True, False]
    assert all(block.conv.padding == (0, 0) and block.conv.kernel_size == (4, 4) for block in disc.down_blocks)


def test_vox_patch_map_is_26_by_26_at_256():
    disc = MultiScaleDiscriminator(**VOX_PARAMS, sn=True).eval()
    with torch.no_grad():
        out = disc({"prediction_1": torch.rand(1, 3, 256, 256)})
    assert set(out) == {"feature_maps_1", "prediction_map_1"}
    assert [tuple(f.shape) for f in out["feature_maps_1"]] == [
        (1, 64, 126, 126), (1, 128, 61, 61), (1, 256, 29, 29), (1, 512, 26, 26)]
    assert out["prediction_map_1"].shape == (1, 1, 26, 26)
    assert discriminator_feature_sizes(256) == [126, 61, 29, 26]


@pytest.mark.parametrize("size", [minimum_discriminator_size(4), 64, 100, 131])
def test_feature_sizes_predict_the_real_shapes(size):
    disc = Discriminator(block_expansion=4, max_features=16).eval()
    with torch.no_grad():
        feature_maps, prediction_map = disc(torch.rand(1, 3, size, size))
    assert [f.shape[-1] for f in feature_maps] == discriminator_feature_sizes(size)
    assert prediction_map.shape[-1] == discriminator_feature_sizes(size)[-1]


def test_minimum_size_is_the_smallest_that_works():
    """The last block is instance-normalised, which needs at least 2×2 values per channel."""
    minimum = minimum_discriminator_size(4)
    assert discriminator_feature_sizes(minimum)[-1] == 2 > discriminator_feature_sizes(minimum - 1)[-1]
    assert minimum_discriminator_size(1) == 4                     # one block: no norm, a 1×1 output is fine
    disc = Discriminator(block_expansion=4, max_features=16).eval()
    with torch.no_grad():
        assert disc(torch.rand(1, 3, minimum, minimum))[1].shape[-1] == 2
    with pytest.raises(ValueError):                               # why: torch refuses a 1×1 InstanceNorm
        disc.down_blocks[-1](torch.rand(1, 16, 4, 4))
    with pytest.raises(FommTeachError, match=f"at least {minimum}"):
        disc(torch.rand(1, 3, minimum - 1, minimum - 1))


def test_scale_keys_replace_the_dot():
    disc = MultiScaleDiscriminator(scales=[1, 0.5], block_expansion=4, max_features=16, num_blocks=2).eval()
    assert list(disc.discs.keys()) == ["1", "0-5"]
    with torch.no_grad():
        out = disc({"prediction_1": torch.rand(1, 3, 32, 32), "prediction_0.5": torch.rand(1, 3, 16, 16)})
    assert set(out) == {"feature_maps_1", "prediction_map_1", "feature_maps_0.5", "prediction_map_0.5"}


def test_use_kp_renders_keypoints_at_the_input_resolution():
    torch.manual_seed(0)
    disc = Discriminator(block_expansion=4, max_features=16, use_kp=True, num_kp=3).eval()
    image = torch.rand(2, 3, 64, 64)
    kp = {"value": torch.rand(2, 3, 2) * 2 - 1}
    with torch.no_grad():
        feature_maps, prediction_map = disc(image, kp)
        out = torch.cat([image, kp2gaussian(kp["value"], (64, 64), 0.01)], dim=1)   # (2, 6, 64, 64)
        for block in disc.down_blocks:
            out = block(out)
        moved = disc(image, {"value": kp["value"] + 0.2})[1]
    assert torch.allclose(feature_maps[-1], out, atol=1e-6)
    assert torch.allclose(prediction_map, disc.conv(out), atol=1e-6)
    assert not torch.allclose(prediction_map, moved)


def test_lrelu_slope_and_feature_maps_after_activation():
    disc = Discriminator(block_expansion=4, max_features=16).eval()
    with torch.no_grad():
        first = disc.down_blocks[0]
        x = torch.rand(1, 3, 64, 64)
        expected = F.avg_pool2d(F.leaky_relu(first.conv(x), 0.2), 2)
        assert torch.allclose(disc(x)[0][0], expected, atol=1e-6)


@pytest.mark.parametrize("call, message", [
    (lambda d: d({"prediction_1": torch.rand(1, 4, 64, 64)}), "channels"),
    (lambda d: d({"prediction_1": torch.rand(1, 3, 40, 40)}), "at least"),
    (lambda d: d({"prediction_1": torch.full((1, 3, 64, 64), float("nan"))}), "NaN"),
    (lambda d: d({"prediction_0.5": torch.rand(1, 3, 64, 64)}), "prediction_1"),
    (lambda d: d(torch.rand(1, 3, 64, 64)), "prediction_1"),
])
def test_bad_input_gives_a_clear_error(call, message):
    disc = MultiScaleDiscriminator(scales=[1], block_expansion=4, max_features=16).eval()
    with pytest.raises(FommTeachError, match=message):
        call(disc)


def test_use_kp_without_keypoints_is_a_clear_error():
    disc = MultiScaleDiscriminator(scales=[1], block_expansion=4, max_features=16, use_kp=True, num_kp=3).eval()
    with pytest.raises(FommTeachError, match="use_kp"):
        disc({"prediction_1": torch.rand(1, 3, 64, 64)})
    with pytest.raises(FommTeachError, match="num_kp 3"):
        disc({"prediction_1": torch.rand(1, 3, 64, 64)}, kp={"value": torch.zeros(1, 5, 2)})
