"""DenseMotionNetwork (the authors' modules/dense_motion.py): layout, shapes, Eq. 6/7 properties, background = part 0, the ideal occlusion map, errors."""

import pytest
import torch

from fomm_teach.dense_motion import (DenseMotionNetwork, deform_source, dense_deformation, heatmap_representation,
                                     hourglass_input, ideal_occlusion_map, sparse_motions_with_background)
from fomm_teach.errors import FommTeachError
from fomm_teach.motion import kp2gaussian, make_coordinate_grid
from official_layout import SECTIONS
from random_keypoints import random_keypoints

VOX_PARAMS = dict(block_expansion=64, num_blocks=5, max_features=1024, num_kp=10, num_channels=3,
                  estimate_occlusion_map=True, scale_factor=0.25)
SMALL_PARAMS = dict(block_expansion=8, num_blocks=3, max_features=64, num_kp=4, num_channels=3,
                    estimate_occlusion_map=True, scale_factor=0.5)


@pytest.fixture(scope="module")
def vox_network():
    torch.manual_seed(0)
    return DenseMotionNetwork(**VOX_PARAMS).eval()


@pytest.fixture(scope="module")
def small_network():
    torch.manual_seed(0)
    return DenseMotionNetwork(**SMALL_PARAMS).eval()


def test_vox_state_dict_names_order_and_shapes_equal_the_authors(vox_network):
    prefix = "dense_motion_network."
    expected = [(key[len(prefix):], shape) for key, shape in SECTIONS["vox-256"]["generator"].items()
                if key.startswith(prefix)]
    found = [(key, tuple(value.shape)) for key, value in vox_network.state_dict().items()]
    assert len(expected) == 75
    assert found == expected


def test_vox_output_shapes(vox_network):
    kp_source, kp_driving = random_keypoints(1, 10, 1), random_keypoints(1, 10, 2)
    with torch.no_grad():
        out = vox_network(torch.rand(1, 3, 256, 256), kp_driving=kp_driving, kp_source=kp_source)
    assert {key: tuple(value.shape) for key, value in out.items()} == {
        "sparse_deformed": (1, 11, 3, 64, 64), "mask": (1, 11, 64, 64),
        "deformation": (1, 64, 64, 2), "occlusion_map": (1, 1, 64, 64)}


def test_small_output_shapes_and_ranges(small_network):
    kp_source, kp_driving = random_keypoints(2, 4, 1), random_keypoints(2, 4, 2)
    with torch.no_grad():
        out = small_network(torch.rand(2, 3, 64, 64), kp_driving=kp_driving, kp_source=kp_source)
    assert out["sparse_deformed"].shape == (2, 5, 3, 32, 32)
    assert out["mask"].shape == (2, 5, 32, 32)
    assert torch.allclose(out["mask"].sum(1), torch.ones(2, 32, 32), atol=1e-5)   # softmax over K+1 parts
    assert out["deformation"].shape == (2, 32, 32, 2)
    occlusion = out["occlusion_map"]
    assert occlusion.shape == (2, 1, 32, 32) and bool(((occlusion > 0) & (occlusion < 1)).all())


def test_without_occlusion_there_is_no_occlusion_key_or_weights():
    network = DenseMotionNetwork(**{**SMALL_PARAMS, "estimate_occlusion_map": False, "scale_factor": 1}).eval()
    assert not any(key.startswith(("occlusion", "down")) for key in network.state_dict())
    kp = random_keypoints(1, 4, 3)
    with torch.no_grad():
        out = network(torch.rand(1, 3, 32, 32), kp_driving=kp, kp_source=kp)
    assert set(out) == {"sparse_deformed", "mask", "deformation"}
    assert out["mask"].shape == (1, 5, 32, 32)   # scale_factor 1: no downsampling


@pytest.mark.parametrize("jacobian", [True, False])
def test_self_reconstruction_gives_the_identity_flow(small_network, jacobian):
    """kp_source = kp_driving: every T_k is the identity, so any convex combination is too."""
    kp = random_keypoints(2, 4, 5, jacobian=jacobian)
    source = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        out = small_network(source, kp_driving=kp, kp_source=kp)
        source_small = small_network.down(source)                                    # (2, 3, 32, 32)
    identity = make_coordinate_grid((32, 32))
    assert (out["deformation"] - identity).abs().max() < 1e-5
    # ... and (align_corners=True) every deformed source is the downsampled source itself.
    assert (out["sparse_deformed"] - source_small[:, None]).abs().max() < 1e-4


def test_forward_is_the_composition_of_the_taught_functions(small_network):
    source = torch.rand(2, 3, 64, 64)
    kp_source, kp_driving = random_keypoints(2, 4, 7), random_keypoints(2, 4, 8)
    with torch.no_grad():
        out = small_network(source, kp_driving=kp_driving, kp_source=kp_source)
        small = small_network.down(source)                                                     # (2, 3, 32, 32)
        motions = sparse_motions_with_background(kp_driving, kp_source, (32, 32))
        deformed = deform_source(small, motions, align_corners=True)
        heatmap = heatmap_representation(kp_driving, kp_source, (32, 32), 0.01)
        features = small_network.hourglass(hourglass_input(heatmap, deformed))
        mask = torch.softmax(small_network.mask(features), dim=1)
    assert torch.allclose(out["sparse_deformed"], deformed, atol=1e-6)
    assert torch.allclose(out["mask"], mask, atol=1e-6)
    assert torch.allclose(out["deformation"], dense_deformation(mask, motions), atol=1e-6)
    assert torch.allclose(out["occlusion_map"], torch.sigmoid(small_network.occlusion(features)), atol=1e-6)


@pytest.mark.parametrize("part", [0, 1, 4])
def test_a_one_hot_mask_selects_one_motion_and_part_0_is_the_identity(part):
    """Force the mask head to pick one part everywhere: part 0 gives the identity, part k gives T_{k-1}."""
    network = DenseMotionNetwork(**SMALL_PARAMS).eval()
    with torch.no_grad():
        network.mask.weight.zero_()
        network.mask.bias.fill_(-30.0)
        network.mask.bias[part] = 30.0
        kp_source, kp_driving = random_keypoints(1, 4, 9), random_keypoints(1, 4, 10)
        out = network(torch.rand(1, 3, 64, 64), kp_driving=kp_driving, kp_source=kp_source)
    motions = sparse_motions_with_background(kp_driving, kp_source, (32, 32))
    assert torch.allclose(out["deformation"], motions[:, part], atol=1e-5)
    if part == 0:
        assert torch.allclose(out["deformation"][0], make_coordinate_grid((32, 32)), atol=1e-6)


def test_heatmap_is_driving_minus_source_with_a_zero_background():
    kp_source = {"value": torch.tensor([[[-0.5, 0.0]]])}
    kp_driving = {"value": torch.tensor([[[0.5, 0.0]]])}
    heatmap = heatmap_representation(kp_driving, kp_source, (21, 21), 0.01)
    assert heatmap.shape == (1, 2, 1, 21, 21)
    assert heatmap[0, 0].abs().max() == 0                    # background part 0
    assert heatmap[0, 1, 0, 10, 15] > 0.99                   # +1 at the driving keypoint (x = 0.5 → column 15)
    assert heatmap[0, 1, 0, 10, 5] < -0.99                   # −1 at the source keypoint (x = −0.5 → column 5)
    expected = kp2gaussian(kp_driving["value"], (21, 21), 0.01) - kp2gaussian(kp_source["value"], (21, 21), 0.01)
    assert torch.equal(heatmap[:, 1:, 0], expected)


def test_hourglass_input_is_interleaved_per_part():
    heat = torch.arange(3).float().view(1, 3, 1, 1, 1) * 10                       # (1, K+1, 1, 1, 1)
    rgb = heat + torch.tensor([1.0, 2.0, 3.0]).view(1, 1, 3, 1, 1)                # (1, K+1, 3, 1, 1)
    channels = hourglass_input(heat, rgb)[0, :, 0, 0].tolist()
    assert channels == [0, 1, 2, 3, 10, 11, 12, 13, 20, 21, 22, 23]
    assert hourglass_input(torch.zeros(2, 11, 1, 4, 4), torch.zeros(2, 11, 3, 4, 4)).shape == (2, 44, 4, 4)


def test_deform_source_matches_one_grid_sample_per_part():
    generator = torch.Generator().manual_seed(11)
    image = torch.rand(2, 3, 9, 9, generator=generator)
    grids = torch.rand(2, 3, 9, 9, 2, generator=generator) * 2.4 - 1.2
    out = deform_source(image, grids, align_corners=True)
    for part in range(3):
        expected = torch.nn.functional.grid_sample(image, grids[:, part], align_corners=True)
        assert torch.allclose(out[:, part], expected, atol=1e-6)


def test_identity_grid_reproduces_the_source_only_with_align_corners_true():
    image = torch.rand(1, 3, 16, 16, generator=torch.Generator().manual_seed(12))
    identity = make_coordinate_grid((16, 16)).expand(1, 2, 16, 16, 2)
    assert (deform_source(image, identity, align_corners=True) - image[:, None]).abs().max() < 1e-6
    assert (deform_source(image, identity, align_corners=False) - image[:, None]).abs().mean() > 1e-2


def test_align_corners_reaches_grid_sample():
    torch.manual_seed(0)
    on = DenseMotionNetwork(**SMALL_PARAMS).eval()
    off = DenseMotionNetwork(**SMALL_PARAMS, align_corners=False).eval()
    off.load_state_dict(on.state_dict())
    kp = random_keypoints(1, 4, 13)
    source = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        a = on(source, kp_driving=kp, kp_source=kp)["sparse_deformed"]
        b = off(source, kp_driving=kp, kp_source=kp)["sparse_deformed"]
    assert (a - b).abs().mean() > 1e-3


@pytest.mark.parametrize("make_input, message", [
    (lambda: (torch.rand(1, 4, 64, 64), random_keypoints(1, 4, 0)), "channels"),
    (lambda: (torch.rand(1, 3, 40, 40), random_keypoints(1, 4, 0)), "multiples of 16"),
    (lambda: (torch.rand(3, 64, 64), random_keypoints(1, 4, 0)), "(B, C, H, W)"),
    (lambda: (torch.full((1, 3, 64, 64), float("nan")), random_keypoints(1, 4, 0)), "NaN"),
    (lambda: (torch.rand(1, 3, 64, 64), random_keypoints(1, 5, 0)), "num_kp 4"),
    (lambda: (torch.rand(2, 3, 64, 64), random_keypoints(1, 4, 0)), "batch 2"),
    (lambda: (torch.rand(1, 3, 64, 64), {"value": torch.full((1, 4, 2), float("inf"))}), "NaN or infinite"),
    (lambda: (torch.rand(1, 3, 64, 64), torch.zeros(1, 4, 2)), "keypoint dict"),
])
def test_bad_input_gives_a_clear_error(small_network, make_input, message):
    image, kp = make_input()
    with pytest.raises(FommTeachError, match=message.replace("(", r"\(").replace(")", r"\)")):
        small_network(image, kp_driving=kp, kp_source=kp)


def test_chapter_03_checkers_accept_the_library_and_reject_wrong_answers(capsys, monkeypatch):
    from fomm_teach import checks

    monkeypatch.delenv("FOMM_TEACH_STRICT", raising=False)
    for checker, library in [(checks.check_heatmap_representation, heatmap_representation),
                             (checks.check_deform_source, deform_source),
                             (checks.check_ideal_occlusion_map, ideal_occlusion_map)]:
        def learners(*args, library=library, **kwargs):  # the library's code as the learner's own function
            return library(*args, **kwargs)
        assert checker(learners) is learners
    assert "❌" not in capsys.readouterr().out

    def source_minus_driving(kp_driving, kp_source, spatial_size, kp_variance=0.01):   # sign flipped
        return heatmap_representation(kp_source, kp_driving, spatial_size, kp_variance)

    def background_last(kp_driving, kp_source, spatial_size, kp_variance=0.01):       # part 0 at the end
        return heatmap_representation(kp_driving, kp_source, spatial_size, kp_variance).roll(-1, dims=1)

    def default_align_corners(source_image, sparse_motions, align_corners=True):      # ignores the argument
        return deform_source(source_image, sparse_motions, align_corners=False)

    def labels_not_warped(source_labels, driving_labels, deformation, align_corners=True):   # compares at z
        return (source_labels * driving_labels).sum(1, keepdim=True).clamp(0, 1)

    for checker, wrong, library in [
        (checks.check_heatmap_representation, source_minus_driving, heatmap_representation),
        (checks.check_heatmap_representation, background_last, heatmap_representation),
        (checks.check_deform_source, default_align_corners, deform_source),
        (checks.check_ideal_occlusion_map, labels_not_warped, ideal_occlusion_map),
    ]:
        fallback = checker(wrong)  # the library's function, remembering the learner's
        assert fallback is not wrong and checks.learner_function(fallback) is wrong
        assert fallback.__wrapped__ is library
        assert "❌" in capsys.readouterr().out


def test_ideal_occlusion_map_marks_what_the_source_cannot_show():
    """Two parts: the source shows part 1 on the left half, the driving frame on the right half. With a
    flow that reads the left half for the right one, the right half is visible (1) and the left half,
    which reads outside the source, is not (0)."""
    h, w = 4, 8
    source_part = torch.zeros(1, 1, h, w)
    source_part[..., : w // 2] = 1
    driving_part = source_part.flip(-1)
    source_labels = torch.cat([1 - source_part, source_part], dim=1)                  # (1, 2, H, W)
    driving_labels = torch.cat([1 - driving_part, driving_part], dim=1)               # (1, 2, H, W)
    shift = torch.tensor([2 * (w // 2) / (w - 1), 0.0])                               # w/2 pixels to the left
    deformation = make_coordinate_grid((h, w))[None] - shift                          # (1, H, W, 2)
    occlusion = ideal_occlusion_map(source_labels, driving_labels, deformation)       # (1, 1, H, W)
    assert occlusion.shape == (1, 1, h, w)
    assert torch.allclose(occlusion[..., w // 2:], torch.ones(1, 1, h, w // 2), atol=1e-6)
    assert torch.allclose(occlusion[..., : w // 2], torch.zeros(1, 1, h, w // 2), atol=1e-6)
    identity = make_coordinate_grid((h, w))[None]
    assert torch.allclose(ideal_occlusion_map(source_labels, source_labels, identity), torch.ones(1, 1, h, w))
