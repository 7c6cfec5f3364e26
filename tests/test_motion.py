"""Local affine motion (fomm_teach/motion.py, generated from notebooks/02_local_affine_motion.py)."""

import math

import pytest
import torch

from fomm_teach import checks
from fomm_teach.motion import jacobian_from_pose, kp2gaussian, make_coordinate_grid, sparse_motion, warp_image
from random_keypoints import random_keypoints

torch.set_num_threads(1)


def smooth_pattern(size, center, jacobian):
    """A smooth, asymmetric pattern (3, size, size) drawn in its own frame u, placed by z = center + J u."""
    z = make_coordinate_grid((size, size), dtype=torch.float64)         # (H, W, 2)
    u = (z - torch.tensor(center, dtype=torch.float64)) @ torch.inverse(jacobian.double()).T  # (H, W, 2)
    blobs = [((0.15, 0.0), 0.12), ((-0.1, 0.2), 0.08), ((0.0, -0.2), 0.1)]
    channels = [torch.exp(-((u - torch.tensor(c, dtype=torch.float64)) ** 2).sum(-1) / (2 * s**2)) for c, s in blobs]
    return torch.stack(channels).float()                                # (3, H, W)


def test_kp2gaussian_shape_and_values():
    kp_value = torch.tensor([[[0.0, 0.0], [1.0, -1.0]]])
    heat = kp2gaussian(kp_value, (5, 7), kp_variance=0.01)
    assert heat.shape == (1, 2, 5, 7)
    assert heat[0, 0, 2, 3] == pytest.approx(1.0)                        # the centre pixel
    assert heat[0, 1, 0, 6] == pytest.approx(1.0)                        # top-right pixel is (x, y) = (1, -1)
    assert heat[0, 0, 2, 4].item() == pytest.approx(math.exp(-0.5 * (1 / 3) ** 2 / 0.01), rel=1e-5)


def test_sparse_motion_shapes_vox_and_small():
    for spatial_size, batch in [((64, 64), 2), ((58, 58), 1), ((16, 24), 3)]:
        kp_source, kp_driving = random_keypoints(batch, 10, spread=1.0), random_keypoints(batch, 10, seed=1, spread=1.0)
        out = sparse_motion(kp_source, kp_driving, spatial_size)
        assert out.shape == (batch, 10, *spatial_size, 2)


def test_identity_jacobians_give_a_pure_translation():
    kp_source, kp_driving = random_keypoints(2, 4, seed=2, spread=1.0), random_keypoints(2, 4, seed=3, spread=1.0)
    kp_source["jacobian"] = torch.eye(2).expand(2, 4, 2, 2)
    kp_driving["jacobian"] = torch.eye(2).expand(2, 4, 2, 2)
    out = sparse_motion(kp_source, kp_driving, (8, 9))
    grid = make_coordinate_grid((8, 9))
    shift = (kp_source["value"] - kp_driving["value"])[:, :, None, None, :]  # (B, K, 1, 1, 2)
    assert torch.allclose(out, grid + shift, atol=1e-6)
    zero_order = sparse_motion({"value": kp_source["value"]}, {"value": kp_driving["value"]}, (8, 9))
    assert torch.allclose(out, zero_order, atol=1e-6)


def test_jacobians_are_used_only_when_both_sides_have_them():
    kp_source = random_keypoints(1, 3, seed=4, spread=1.0)
    kp_driving = random_keypoints(1, 3, jacobian=False, seed=5, spread=1.0)
    out = sparse_motion(kp_source, kp_driving, (6, 6))
    expected = make_coordinate_grid((6, 6)) + (kp_source["value"] - kp_driving["value"])[:, :, None, None, :]
    assert torch.allclose(out, expected, atol=1e-6)


def test_self_motion_is_the_identity():
    kp = random_keypoints(2, 5, seed=6, spread=1.0)
    out = sparse_motion(kp, kp, (7, 7))
    assert torch.allclose(out, make_coordinate_grid((7, 7)).expand_as(out), atol=1e-5)


def test_order_of_operations_matches_eq4_pixel_by_pixel():
    """T(z) = p_s + J_s J_d⁻¹ (z − p_d), column vectors; J_d⁻¹ J_s would give a different answer."""
    j_source = torch.tensor([[1.0, 0.8], [0.0, 1.0]])
    j_driving = torch.tensor([[0.0, -1.5], [1.5, 0.0]])
    p_source, p_driving = torch.tensor([0.1, 0.3]), torch.tensor([-0.2, 0.4])
    out = sparse_motion({"value": p_source.view(1, 1, 2), "jacobian": j_source.view(1, 1, 2, 2)},
                        {"value": p_driving.view(1, 1, 2), "jacobian": j_driving.view(1, 1, 2, 2)}, (4, 5))
    grid = make_coordinate_grid((4, 5))
    for i, j in [(0, 0), (1, 3), (3, 4)]:
        expected = p_source + j_source @ torch.inverse(j_driving) @ (grid[i, j] - p_driving)
        wrong = p_source + torch.inverse(j_driving) @ j_source @ (grid[i, j] - p_driving)
        assert torch.allclose(out[0, 0, i, j], expected, atol=1e-6)
        assert not torch.allclose(out[0, 0, i, j], wrong, atol=1e-3)


def test_identity_warp_reproduces_the_image_only_with_align_corners_true():
    image = torch.rand(2, 3, 32, 40)
    identity = make_coordinate_grid((32, 40)).expand(2, 32, 40, 2)
    assert torch.allclose(warp_image(image, identity, align_corners=True), image, atol=1e-5)
    assert (warp_image(image, identity, align_corners=False) - image).abs().mean() > 0.05


def test_first_order_warp_maps_a_rotated_scaled_pattern_back():
    """Analytic: D(z) = S(T(z)) for a rigid part, so warping S by Eq. 4 reproduces D."""
    size = 96
    p_source, p_driving = (-0.2, 0.1), (0.15, -0.1)
    j_source = jacobian_from_pose(math.radians(-15), scale=0.9)
    j_driving = jacobian_from_pose(math.radians(50), scale=1.3)
    source = smooth_pattern(size, p_source, j_source)[None]     # (1, 3, H, W)
    driving = smooth_pattern(size, p_driving, j_driving)[None]  # (1, 3, H, W)
    kp_source = {"value": torch.tensor([[p_source]]), "jacobian": j_source.view(1, 1, 2, 2)}
    kp_driving = {"value": torch.tensor([[p_driving]]), "jacobian": j_driving.view(1, 1, 2, 2)}
    first_order = warp_image(source, sparse_motion(kp_source, kp_driving, (size, size))[:, 0], align_corners=True)
    zero_order = warp_image(source, sparse_motion({"value": kp_source["value"]}, {"value": kp_driving["value"]},
                                                  (size, size))[:, 0], align_corners=True)
    # what remains is bilinear interpolation error (a few 1e-3 on average for this smooth pattern)
    assert (first_order - driving).abs().mean() < 0.003
    assert (first_order - driving).abs().max() < 0.04
    assert (zero_order - driving).abs().max() > 0.3  # without the Jacobians the pattern is not turned back


def test_jacobian_from_pose():
    rotation = jacobian_from_pose(math.pi / 2)
    assert torch.allclose(rotation @ torch.tensor([1.0, 0.0]), torch.tensor([0.0, 1.0]), atol=1e-6)
    matrix = jacobian_from_pose(0.3, scale=1.5, shear=0.4)
    assert torch.linalg.det(matrix).item() == pytest.approx(1.5**2, rel=1e-5)
    assert torch.allclose(jacobian_from_pose(0.0, scale=2.0, shear=0.5), torch.tensor([[2.0, 1.0], [0.0, 2.0]]))


def test_checkers_reject_wrong_answers(capsys, monkeypatch):
    monkeypatch.delenv("FOMM_TEACH_STRICT", raising=False)

    def wrong_order(kp_source, kp_driving, spatial_size):  # J_d⁻¹ J_s instead of J_s J_d⁻¹
        swapped_source = dict(kp_source)
        swapped_driving = dict(kp_driving)
        if "jacobian" in kp_source and "jacobian" in kp_driving:
            swapped_source["jacobian"] = torch.inverse(kp_driving["jacobian"]) @ kp_source["jacobian"]
            swapped_driving["jacobian"] = torch.eye(2).expand_as(kp_driving["jacobian"])
        return sparse_motion(swapped_source, swapped_driving, spatial_size)

    def falls_back(checker, wrong, library):  # the library's function, remembering the learner's
        fallback = checker(wrong)
        return checks.learner_function(fallback) is wrong and fallback.__wrapped__ is library

    assert falls_back(checks.check_sparse_motion, wrong_order, sparse_motion)
    assert "❌" in capsys.readouterr().out
    assert falls_back(checks.check_kp2gaussian, lambda kp, size, var: kp2gaussian(kp.flip(-1), size, var), kp2gaussian)
