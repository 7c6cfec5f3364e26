"""Building blocks (fomm_teach/blocks.py, generated from notebooks/01_keypoints.py): shapes, layout, errors."""

import pytest
import torch

from fomm_teach.blocks import (AntiAliasInterpolation2d, Decoder, DownBlock2d, Encoder, Hourglass, ResBlock2d,
                               SameBlock2d, UpBlock2d, check_image)
from fomm_teach.errors import FommTeachError

torch.set_num_threads(1)


def test_single_blocks_shapes():
    x = torch.rand(2, 4, 16, 12)
    assert DownBlock2d(4, 8)(x).shape == (2, 8, 8, 6)
    assert UpBlock2d(4, 8)(x).shape == (2, 8, 32, 24)
    assert SameBlock2d(4, 8, kernel_size=7, padding=3)(x).shape == (2, 8, 16, 12)
    assert ResBlock2d(4, kernel_size=3, padding=1)(x).shape == (2, 4, 16, 12)


def test_down_block_pools_after_relu():
    """Average of a ReLU output: every value is >= 0, and a constant negative conv gives exactly 0."""
    block = DownBlock2d(1, 1, kernel_size=1, padding=0).eval()
    with torch.no_grad():
        block.conv.weight.fill_(1.0)
        block.conv.bias.zero_()
    x = torch.tensor([[[[-1.0, 3.0], [-1.0, 3.0]]]])
    # eval BN with default stats is the identity (up to eps): relu → [0, 3, 0, 3], pool → mean = 1.5
    assert block(x).item() == pytest.approx(1.5, rel=1e-4)


def test_resblock_is_pre_activation_with_identity_skip():
    block = ResBlock2d(3, kernel_size=3, padding=1)
    with torch.no_grad():
        block.conv2.weight.zero_()
        block.conv2.bias.zero_()
    x = torch.randn(1, 3, 5, 5)
    assert torch.equal(block(x), x)  # zero residual branch: output = input, no activation after the sum


def test_encoder_decoder_channels_small_setting():
    encoder = Encoder(block_expansion=8, in_features=3, num_blocks=3, max_features=16)
    features = encoder(torch.rand(1, 3, 64, 64))
    assert [tuple(f.shape) for f in features] == [(1, 3, 64, 64), (1, 16, 32, 32), (1, 16, 16, 16), (1, 16, 8, 8)]
    decoder = Decoder(block_expansion=8, in_features=3, num_blocks=3, max_features=16)
    assert decoder(features).shape == (1, 8 + 3, 64, 64)
    assert len(features) == 4  # the decoder must not consume the caller's list


@pytest.mark.parametrize("block_expansion, in_features, max_features, out_channels", [
    (32, 3, 1024, 35),    # vox-256 keypoint detector
    (64, 44, 1024, 108),  # vox-256 dense motion network
])
def test_hourglass_vox256_shapes(block_expansion, in_features, max_features, out_channels):
    hourglass = Hourglass(block_expansion, in_features, num_blocks=5, max_features=max_features).eval()
    assert hourglass.out_filters == out_channels
    encoder_out = [block.conv.out_channels for block in hourglass.encoder.down_blocks]
    decoder_in = [block.conv.in_channels for block in hourglass.decoder.up_blocks]
    if in_features == 3:
        assert encoder_out == [64, 128, 256, 512, 1024]
        assert decoder_in == [1024, 1024, 512, 256, 128]
        with torch.no_grad():
            assert hourglass(torch.rand(1, 3, 64, 64)).shape == (1, 35, 64, 64)
    else:
        assert encoder_out == [128, 256, 512, 1024, 1024]
        assert decoder_in == [1024, 2048, 1024, 512, 256]


def test_hourglass_state_dict_keys_match_authors():
    hourglass = Hourglass(32, 3, num_blocks=2, max_features=64)
    assert list(hourglass.state_dict())[:7] == [
        "encoder.down_blocks.0.conv.weight", "encoder.down_blocks.0.conv.bias", "encoder.down_blocks.0.norm.weight",
        "encoder.down_blocks.0.norm.bias", "encoder.down_blocks.0.norm.running_mean",
        "encoder.down_blocks.0.norm.running_var", "encoder.down_blocks.0.norm.num_batches_tracked"]
    assert "decoder.up_blocks.1.conv.weight" in hourglass.state_dict()
    names = list(ResBlock2d(4, 3, 1).state_dict())
    assert [name for name in names if name.endswith("weight")] == ["conv1.weight", "conv2.weight", "norm1.weight", "norm2.weight"]


@pytest.mark.parametrize("scale, kernel_size", [(0.5, 5), (0.25, 13), (0.125, 29)])
def test_antialias_kernel(scale, kernel_size):
    down = AntiAliasInterpolation2d(3, scale)
    assert down.weight.shape == (3, 1, kernel_size, kernel_size)
    assert "weight" in dict(down.named_buffers())
    assert torch.allclose(down.weight.sum(dim=(1, 2, 3)), torch.ones(3))
    sigma = (1 / scale - 1) / 2
    centre = kernel_size // 2
    # a Gaussian: neighbour / centre ratio is exp(-1 / (2 sigma^2)) along an axis
    ratio = down.weight[0, 0, centre, centre + 1] / down.weight[0, 0, centre, centre]
    assert ratio.item() == pytest.approx(torch.exp(torch.tensor(-1 / (2 * sigma**2))).item(), rel=1e-5)


def test_antialias_output_samples_from_index_zero():
    down = AntiAliasInterpolation2d(1, 0.25)
    assert down(torch.rand(2, 1, 256, 256)).shape == (2, 1, 64, 64)
    image = torch.zeros(1, 1, 16, 16)
    image[0, 0, 4, 8] = 1.0                         # a delta on a sampled pixel (rows/cols 0, 4, 8, 12)
    out = down(image)                               # (1, 1, 4, 4)
    assert out[0, 0, 1, 2] == pytest.approx(down.weight[0, 0, 6, 6].item())  # the kernel's centre value
    constant = down(torch.full((1, 1, 64, 64), 0.5))
    assert torch.allclose(constant[..., 4:-4, 4:-4], torch.full_like(constant[..., 4:-4, 4:-4], 0.5))
    assert constant[0, 0, 0, 0] < 0.5               # zero padding darkens the border


def test_antialias_scale_one_is_identity():
    x = torch.rand(1, 3, 8, 8)
    assert torch.equal(AntiAliasInterpolation2d(3, 1)(x), x)


@pytest.mark.parametrize("image, fragment", [
    (torch.rand(3, 64, 64), "(B, C, H, W)"),
    (torch.zeros(1, 3, 64, 64, dtype=torch.uint8), "float"),
    (torch.rand(1, 4, 64, 64), "expected 3 channels"),
    (torch.rand(1, 3, 60, 64), "multiples of 32"),
    (torch.full((1, 3, 64, 64), float("nan")), "NaN"),
])
def test_check_image_errors(image, fragment):
    with pytest.raises(FommTeachError, match="image") as err:
        check_image(image, 3, multiple=32, min_size=32, name="test image")
    assert fragment in str(err.value)


def test_check_image_accepts_good_input():
    check_image(torch.rand(2, 3, 64, 96), 3, multiple=32, min_size=32)
