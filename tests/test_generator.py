"""OcclusionAwareGenerator (the authors' modules/generator.py): layout, shapes, feature-level identity warp, Eq. 8, errors."""

import pytest
import torch
import torch.nn.functional as F

from fomm_teach.errors import FommTeachError
from fomm_teach.generator import OcclusionAwareGenerator, deform_input, warp_features
from fomm_teach.motion import make_coordinate_grid
from official_layout import SECTIONS
from random_keypoints import random_keypoints

VOX_PARAMS = dict(num_channels=3, num_kp=10, block_expansion=64, max_features=512, num_down_blocks=2,
                  num_bottleneck_blocks=6, estimate_occlusion_map=True, estimate_jacobian=True,
                  dense_motion_params=dict(block_expansion=64, max_features=1024, num_blocks=5, scale_factor=0.25))
# A 64×64 setting wired like vox-256: features and flow both at 16×16.
SMALL_PARAMS = dict(num_channels=3, num_kp=4, block_expansion=8, max_features=64, num_down_blocks=2,
                    num_bottleneck_blocks=2, estimate_occlusion_map=True,
                    dense_motion_params=dict(block_expansion=8, max_features=64, num_blocks=3, scale_factor=0.25))


def encode(generator, source_image):
    """The generator's encoder: first, then the down blocks. (B, c, H/2^n, W/2^n)."""
    out = generator.first(source_image)
    for block in generator.down_blocks:
        out = block(out)
    return out


@pytest.fixture(scope="module")
def vox_generator():
    torch.manual_seed(0)
    return OcclusionAwareGenerator(**VOX_PARAMS).eval()


@pytest.fixture(scope="module")
def small_generator():
    torch.manual_seed(0)
    return OcclusionAwareGenerator(**SMALL_PARAMS).eval()


def test_vox_state_dict_names_order_and_shapes_equal_the_authors(vox_generator):
    expected = list(SECTIONS["vox-256"]["generator"].items())
    found = [(key, tuple(value.shape)) for key, value in vox_generator.state_dict().items()]
    assert len(expected) == 196
    assert found == expected
    assert sum(p.numel() for p in vox_generator.parameters()) == 45_575_391
    assert [name for name, _ in vox_generator.named_children()] == [
        "dense_motion_network", "first", "down_blocks", "up_blocks", "bottleneck", "final"]


def test_vox_output_shapes(vox_generator):
    kp_source, kp_driving = random_keypoints(1, 10, 1), random_keypoints(1, 10, 2)
    with torch.no_grad():
        out = vox_generator(torch.rand(1, 3, 256, 256), kp_driving=kp_driving, kp_source=kp_source)
    assert {key: tuple(value.shape) for key, value in out.items()} == {
        "mask": (1, 11, 64, 64), "sparse_deformed": (1, 11, 3, 64, 64), "occlusion_map": (1, 1, 64, 64),
        "deformation": (1, 64, 64, 2), "deformed": (1, 3, 256, 256), "prediction": (1, 3, 256, 256)}
    assert bool(((out["prediction"] >= 0) & (out["prediction"] <= 1)).all())   # sigmoid


def test_small_output_shapes(small_generator):
    kp_source, kp_driving = random_keypoints(2, 4, 3), random_keypoints(2, 4, 4)
    with torch.no_grad():
        out = small_generator(torch.rand(2, 3, 64, 64), kp_driving=kp_driving, kp_source=kp_source)
    assert {key: tuple(value.shape) for key, value in out.items()} == {
        "mask": (2, 5, 16, 16), "sparse_deformed": (2, 5, 3, 16, 16), "occlusion_map": (2, 1, 16, 16),
        "deformation": (2, 16, 16, 2), "deformed": (2, 3, 64, 64), "prediction": (2, 3, 64, 64)}


def test_without_dense_motion_only_prediction_is_returned():
    generator = OcclusionAwareGenerator(**{**SMALL_PARAMS, "dense_motion_params": None}).eval()
    assert not any(key.startswith("dense_motion_network") for key in generator.state_dict())
    with torch.no_grad():
        out = generator(torch.rand(1, 3, 32, 32), kp_driving=None, kp_source=None)
    assert set(out) == {"prediction"} and out["prediction"].shape == (1, 3, 32, 32)


def test_self_reconstruction_flow_is_the_identity_and_leaves_features_unchanged(small_generator):
    """kp_source = kp_driving → identity flow; with align_corners=True the feature warp is the identity."""
    source = torch.rand(2, 3, 64, 64)
    kp = random_keypoints(2, 4, 5)
    with torch.no_grad():
        out = small_generator(source, kp_driving=kp, kp_source=kp)
        features = encode(small_generator, source)                                          # (2, 32, 16, 16)
    assert (out["deformation"] - make_coordinate_grid((16, 16))).abs().max() < 1e-5
    assert (deform_input(features, out["deformation"], align_corners=True) - features).abs().max() < 1e-4


def test_identity_deformation_reproduces_features_only_with_align_corners_true():
    features = torch.rand(1, 6, 16, 16, generator=torch.Generator().manual_seed(6))
    identity = make_coordinate_grid((16, 16))[None]
    assert (deform_input(features, identity, align_corners=True) - features).abs().max() < 1e-6
    assert (deform_input(features, identity, align_corners=False) - features).abs().mean() > 1e-2


def test_deform_input_resizes_the_flow_bilinearly_without_align_corners():
    generator = torch.Generator().manual_seed(7)
    features = torch.rand(1, 2, 8, 8, generator=generator)
    flow = torch.rand(1, 16, 16, 2, generator=generator) * 2 - 1
    resized = F.interpolate(flow.permute(0, 3, 1, 2), size=(8, 8), mode="bilinear", align_corners=False)
    expected = F.grid_sample(features, resized.permute(0, 2, 3, 1), align_corners=True)
    assert torch.allclose(deform_input(features, flow, align_corners=True), expected, atol=1e-6)


def test_warp_features_warps_then_multiplies_and_resizes():
    """Eq. 8: ξ' = Ô ⊙ f_w(ξ, T̂); the map (at the flow's size) is resized like the flow; no map, no product."""
    generator = torch.Generator().manual_seed(8)
    features = torch.randn(2, 3, 8, 8, generator=generator)
    flow = make_coordinate_grid((8, 8))[None] + 0.3 * (torch.rand(2, 8, 8, 2, generator=generator) - 0.5)
    occlusion = torch.rand(2, 1, 8, 8, generator=generator)
    warped = deform_input(features, flow, align_corners=True)
    assert torch.equal(warp_features(features, {"deformation": flow, "occlusion_map": occlusion}), warped * occlusion)
    assert torch.equal(warp_features(features, {"deformation": flow}), warped)
    small_flow = make_coordinate_grid((4, 4))[None].expand(2, 4, 4, 2)
    small = torch.rand(2, 1, 4, 4, generator=generator)
    resized = F.interpolate(small, size=(8, 8), mode="bilinear", align_corners=False)
    expected = deform_input(features, small_flow, align_corners=False) * resized
    got = warp_features(features, {"deformation": small_flow, "occlusion_map": small}, align_corners=False)
    assert torch.allclose(got, expected)


def test_zero_occlusion_removes_the_source_entirely():
    """The map multiplies, with no blend: at Ô = 0 the prediction cannot depend on the source image."""
    torch.manual_seed(0)
    generator = OcclusionAwareGenerator(**SMALL_PARAMS).eval()
    with torch.no_grad():
        generator.dense_motion_network.occlusion.weight.zero_()
        generator.dense_motion_network.occlusion.bias.fill_(-200.0)   # sigmoid → 0 exactly in float32
        kp_source, kp_driving = random_keypoints(1, 4, 9), random_keypoints(1, 4, 10)
        first = generator(torch.rand(1, 3, 64, 64), kp_driving=kp_driving, kp_source=kp_source)
        second = generator(torch.rand(1, 3, 64, 64), kp_driving=kp_driving, kp_source=kp_source)
        generator.dense_motion_network.occlusion.bias.fill_(200.0)    # Ô = 1: the source does matter
        third = generator(torch.rand(1, 3, 64, 64), kp_driving=kp_driving, kp_source=kp_source)
    assert float(first["occlusion_map"].max()) == 0.0
    assert torch.equal(first["prediction"], second["prediction"])
    assert not torch.allclose(first["prediction"], third["prediction"])


def test_align_corners_is_passed_to_the_dense_motion_network():
    generator = OcclusionAwareGenerator(**SMALL_PARAMS, align_corners=False)
    assert generator.align_corners is False and generator.dense_motion_network.align_corners is False
    assert OcclusionAwareGenerator(**SMALL_PARAMS).dense_motion_network.align_corners is True


@pytest.mark.parametrize("image, message", [
    (torch.rand(1, 1, 64, 64), "channels"),
    (torch.rand(1, 3, 62, 62), "multiples of 4"),
    (torch.rand(1, 3, 48, 48), "multiples of 32"),        # the dense motion network's own limit
    (torch.full((1, 3, 64, 64), float("inf")), "NaN or infinite"),
])
def test_bad_input_gives_a_clear_error(small_generator, image, message):
    kp = random_keypoints(1, 4, 0)
    with pytest.raises(FommTeachError, match=message):
        small_generator(image, kp_driving=kp, kp_source=kp)


def test_chapter_04_checkers_accept_the_library_and_reject_wrong_answers(capsys, monkeypatch):
    from fomm_teach import checks

    monkeypatch.delenv("FOMM_TEACH_STRICT", raising=False)
    for checker, library in [(checks.check_deform_input, deform_input),
                             (checks.check_warp_features, warp_features)]:
        def learners(*args, library=library, **kwargs):  # the library's code as the learner's own function
            return library(*args, **kwargs)
        assert checker(learners) is learners
    assert "❌" not in capsys.readouterr().out

    def resize_with_align_corners(inp, deformation, align_corners=True):
        flow = F.interpolate(deformation.permute(0, 3, 1, 2), size=inp.shape[2:], mode="bilinear", align_corners=True)
        return F.grid_sample(inp, flow.permute(0, 2, 3, 1), align_corners=align_corners)

    def blend(features, dense_motion, align_corners=True):   # Ô·ξ_w + (1 − Ô)·(something else) is not Eq. 8
        warped = warp_features(features, dense_motion, align_corners)
        if "occlusion_map" not in dense_motion:
            return warped
        resized = F.interpolate(dense_motion["occlusion_map"], size=features.shape[2:], mode="bilinear",
                                align_corners=False)
        return warped + (1 - resized)

    for checker, wrong, library in [
        (checks.check_deform_input, resize_with_align_corners, deform_input),
        (checks.check_warp_features, blend, warp_features),
    ]:
        fallback = checker(wrong)  # the library's function, remembering the learner's
        assert fallback is not wrong and checks.learner_function(fallback) is wrong
        assert fallback.__wrapped__ is library
        assert "❌" in capsys.readouterr().out
