"""Keypoint detector (fomm_teach/keypoints.py, generated from notebooks/01_keypoints.py)."""

import pytest
import torch
from official_layout import official_layout

from fomm_teach import checks
from fomm_teach.errors import FommTeachError
from fomm_teach.keypoints import (KPDetector, heatmap_to_keypoints, make_coordinate_grid, pool_jacobians,
                                  spatial_softmax)

torch.set_num_threads(1)

VOX256 = dict(block_expansion=32, num_kp=10, num_channels=3, max_features=1024, num_blocks=5, temperature=0.1,
              estimate_jacobian=True, scale_factor=0.25)
SMALL64 = dict(block_expansion=8, num_kp=5, num_channels=3, max_features=64, num_blocks=3, temperature=0.1,
               estimate_jacobian=True, scale_factor=0.5)


@pytest.fixture(scope="module")
def vox_detector():
    torch.manual_seed(0)
    return KPDetector(**VOX256).eval()


def test_coordinate_grid_align_corners_convention():
    grid = make_coordinate_grid((3, 4))
    assert grid.shape == (3, 4, 2)
    assert torch.allclose(grid[0, :, 0], torch.tensor([-1.0, -1 / 3, 1 / 3, 1.0]))  # x along the width
    assert torch.allclose(grid[:, 0, 1], torch.tensor([-1.0, 0.0, 1.0]))          # y along the height
    assert make_coordinate_grid((5, 7), dtype=torch.float64).dtype == torch.float64
    with pytest.raises(FommTeachError, match="at least 2"):
        make_coordinate_grid((1, 8))


def test_spatial_softmax_normalises_over_all_positions():
    logits = torch.randn(2, 3, 5, 7)
    heatmap = spatial_softmax(logits, 0.1)
    assert heatmap.shape == (2, 3, 5, 7)
    assert torch.allclose(heatmap.sum(dim=(2, 3)), torch.ones(2, 3))
    assert torch.isfinite(spatial_softmax(100 * logits, 0.01)).all()
    # a lower temperature concentrates more mass on the maximum
    assert (spatial_softmax(logits, 0.05).amax(dim=(2, 3)) > spatial_softmax(logits, 1.0).amax(dim=(2, 3))).all()


def test_soft_argmax_of_a_one_hot_map_is_that_pixel():
    heatmap = torch.zeros(1, 2, 5, 9)
    heatmap[0, 0, 1, 6] = 1.0
    heatmap[0, 1, 4, 0] = 1.0
    value = heatmap_to_keypoints(heatmap)
    assert torch.allclose(value, torch.tensor([[[2 * 6 / 8 - 1, 2 * 1 / 4 - 1], [-1.0, 1.0]]]))
    uniform = torch.full((1, 1, 4, 6), 1 / 24)
    assert torch.allclose(heatmap_to_keypoints(uniform), torch.zeros(1, 1, 2), atol=1e-6)


def test_pool_jacobians_row_major_and_broadcast():
    heatmap = torch.softmax(torch.randn(1, 3, 16), dim=2).reshape(1, 3, 4, 4)
    jacobian_map = torch.arange(4.0).view(1, 1, 4, 1, 1).expand(1, 1, 4, 4, 4)
    assert torch.allclose(pool_jacobians(heatmap, jacobian_map), torch.tensor([[0.0, 1.0], [2.0, 3.0]]).expand(1, 3, 2, 2))


def test_vox256_state_dict_matches_authors(vox_detector):
    ours = {key: tuple(value.shape) for key, value in vox_detector.state_dict().items()}
    theirs = official_layout("vox-256")["kp_detector"]
    assert list(ours) == list(theirs)
    assert ours == theirs


def test_single_jacobian_map_layout_and_broadcast():
    detector = KPDetector(**{**SMALL64, "single_jacobian_map": True})
    assert detector.jacobian.weight.shape == (4, 8 + 3, 7, 7)
    with torch.no_grad():
        detector.jacobian.bias.copy_(torch.tensor([0.5, 0.0, 0.0, 2.0]))  # the one shared map
        jacobian = detector(torch.rand(2, 3, 64, 64))["jacobian"]
    assert jacobian.shape == (2, SMALL64["num_kp"], 2, 2)
    assert torch.allclose(jacobian, torch.tensor([[0.5, 0.0], [0.0, 2.0]]).expand_as(jacobian), atol=1e-5)
    assert "down.weight" in detector.state_dict()
    assert "jacobian.weight" not in KPDetector(**{**SMALL64, "estimate_jacobian": False}).state_dict()


def test_vox256_shapes_and_58_heatmap(vox_detector):
    with torch.no_grad():
        out = vox_detector(torch.rand(1, 3, 256, 256), return_heatmap=True)
    assert out["value"].shape == (1, 10, 2)
    assert out["jacobian"].shape == (1, 10, 2, 2)
    assert out["heatmap"].shape == (1, 10, 58, 58)  # unpadded 7×7 head on the 64×64 feature map
    assert (out["value"].abs() <= 1).all()
    assert torch.allclose(out["value"], heatmap_to_keypoints(out["heatmap"]))


def test_small64_shapes_with_and_without_padding():
    image = torch.rand(2, 3, 64, 64)
    out = KPDetector(**SMALL64).eval()(image, return_heatmap=True)
    assert out["value"].shape == (2, 5, 2) and out["jacobian"].shape == (2, 5, 2, 2)
    assert out["heatmap"].shape == (2, 5, 26, 26)  # 64 · 0.5 − 6
    padded = KPDetector(**{**SMALL64, "pad": 3}).eval()
    assert padded(image, return_heatmap=True)["heatmap"].shape == (2, 5, 32, 32)
    assert set(padded.state_dict()) == set(KPDetector(**SMALL64).state_dict())
    assert set(KPDetector(**SMALL64)(image)) == {"value", "jacobian"}  # no heatmap unless asked


def test_jacobian_is_identity_at_init_and_follows_the_head():
    torch.manual_seed(1)
    detector = KPDetector(**SMALL64)  # train mode: batch statistics
    image = torch.rand(2, 3, 64, 64)
    jacobian = detector(image)["jacobian"]
    assert torch.allclose(jacobian, torch.eye(2).expand_as(jacobian), atol=1e-6)
    with torch.no_grad():
        detector.jacobian.bias.copy_(torch.tensor([2.0, 0.5, 0.0, 3.0]).repeat(SMALL64["num_kp"]))
    changed = detector(image)["jacobian"]
    assert torch.allclose(changed, torch.tensor([[2.0, 0.5], [0.0, 3.0]]).expand_as(changed), atol=1e-5)


def test_gradients_reach_the_hourglass():
    detector = KPDetector(**SMALL64)
    out = detector(torch.rand(2, 3, 64, 64))
    (out["value"].sum() + out["jacobian"].sum()).backward()
    assert detector.predictor.encoder.down_blocks[0].conv.weight.grad.abs().sum() > 0


@pytest.mark.parametrize("image, fragment", [
    (torch.rand(1, 1, 256, 256), "expected 3 channels"),
    (torch.rand(1, 3, 64, 64), "at least 128"),
    (torch.rand(1, 3, 200, 200), "multiples of 128"),
    (torch.full((1, 3, 256, 256), float("inf")), "NaN or infinite"),
    (torch.rand(3, 256, 256), "(B, C, H, W)"),
])
def test_bad_input_errors(vox_detector, image, fragment):
    with pytest.raises(FommTeachError, match="KPDetector") as err:
        vox_detector(image)
    assert fragment in str(err.value)


def test_checkers_reject_wrong_answers(capsys, monkeypatch):
    monkeypatch.delenv("FOMM_TEACH_STRICT", raising=False)

    def swapped(heatmap):  # (y, x) instead of (x, y)
        return heatmap_to_keypoints(heatmap).flip(-1)

    def falls_back(checker, wrong, library):  # the library's function, remembering the learner's
        fallback = checker(wrong)
        return checks.learner_function(fallback) is wrong and fallback.__wrapped__ is library

    assert falls_back(checks.check_heatmap_to_keypoints, swapped, heatmap_to_keypoints)
    assert "❌" in capsys.readouterr().out
    assert falls_back(checks.check_spatial_softmax, lambda logits, t: spatial_softmax(logits, 1.0), spatial_softmax)
    assert falls_back(checks.check_pool_jacobians, lambda h, j: pool_jacobians(h, j).transpose(-1, -2), pool_jacobians)
    monkeypatch.setenv("FOMM_TEACH_STRICT", "1")
    with pytest.raises(AssertionError):
        checks.check_heatmap_to_keypoints(swapped)
