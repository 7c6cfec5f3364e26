"""Animation (chapter 07): relative keypoints, the hull scale, and make_animation against the authors' loop."""

import copy
import itertools
import math

import pytest
import torch

from fomm_teach.animate import (convex_hull_area, find_best_frame, inference_copy, make_animation, movement_scale,
                                normalize_kp, pose_distances, relative_keypoints)
from fomm_teach.config import load_config
from fomm_teach.errors import FommTeachError
from fomm_teach.models import build_models
from random_keypoints import random_keypoints


# --- an independent hull area: a point is a hull vertex unless it lies inside a triangle of others ---

def brute_force_hull_area(points):
    """(N, 2) -> float, by testing every point against every triangle, then sorting the vertices by angle."""
    points = [tuple(p) for p in points.double().tolist()]

    def inside(p, a, b, c):
        def side(u, v, w):
            return (v[0] - u[0]) * (w[1] - u[1]) - (v[1] - u[1]) * (w[0] - u[0])
        signs = [side(a, b, p), side(b, c, p), side(c, a, p)]
        return all(s >= 0 for s in signs) or all(s <= 0 for s in signs)

    vertices = [p for i, p in enumerate(points)
                if not any(inside(p, *triangle) for triangle in itertools.combinations(points[:i] + points[i + 1:], 3))]
    cx = sum(x for x, _ in vertices) / len(vertices)
    cy = sum(y for _, y in vertices) / len(vertices)
    vertices.sort(key=lambda p: math.atan2(p[1] - cy, p[0] - cx))
    return abs(sum(x0 * y1 - x1 * y0 for (x0, y0), (x1, y1) in zip(vertices, vertices[1:] + vertices[:1]))) / 2


def test_hull_area_of_a_square_ignores_the_point_inside_and_the_order():
    square = torch.tensor([[0.4, 0.6], [1.0, 1.0], [0.0, 0.0], [0.0, 1.0], [1.0, 0.0]])
    assert convex_hull_area(square[None]).tolist() == [1.0]
    assert convex_hull_area(square.flip(0)[None]).tolist() == [1.0]


def test_hull_area_equals_a_brute_force_hull_on_random_keypoints():
    points = torch.rand(6, 10, 2, generator=torch.Generator().manual_seed(3)) * 2 - 1
    expected = [brute_force_hull_area(point_set) for point_set in points]
    assert torch.allclose(convex_hull_area(points).double(), torch.tensor(expected, dtype=torch.float64), atol=1e-6)


def test_hull_area_is_zero_for_a_line_and_for_two_points():
    line = torch.tensor([[[0.0, 0.0], [1.0, 2.0], [2.0, 4.0], [-1.0, -2.0]]])
    assert convex_hull_area(line).tolist() == [0.0]
    assert convex_hull_area(torch.tensor([[[0.0, 0.0], [1.0, 1.0]]])).tolist() == [0.0]


def test_movement_scale_is_per_batch_element():
    driving_initial = random_keypoints(1, 10, seed=1)
    base = random_keypoints(1, 10, seed=2)["value"]
    source = {"value": torch.cat([base, 0.5 * base])}                                 # element 1: half the size
    scale = movement_scale(source, driving_initial)
    expected = (convex_hull_area(source["value"]) / convex_hull_area(driving_initial["value"])).sqrt()
    assert torch.allclose(scale, expected)
    assert scale[1] == pytest.approx(0.5 * scale[0])                                  # the authors' would repeat scale[0]


def test_a_flat_driving_cloud_gives_scale_one_with_a_warning():
    flat = {"value": torch.tensor([[[0.0, 0.0], [0.5, 0.5], [1.0, 1.0]]])}
    with pytest.warns(UserWarning, match="on a line"):
        assert movement_scale(random_keypoints(1, 3, seed=4), flat).tolist() == [1.0]


def test_absolute_mode_hands_the_driving_keypoints_over_unchanged():
    source, driving, initial = (random_keypoints(2, 4, seed=s) for s in (5, 6, 7))
    out = normalize_kp(source, driving, initial, adapt_movement_scale=True, use_relative_jacobian=True)
    assert out["value"] is driving["value"] and out["jacobian"] is driving["jacobian"]


def test_relative_keypoints_follow_the_driving_change():
    source, driving, initial = (random_keypoints(1, 3, seed=s) for s in (8, 9, 10))
    same = relative_keypoints(source, initial, initial)                     # no motion: the source's keypoints
    assert torch.allclose(same["value"], source["value"]) and torch.allclose(same["jacobian"], source["jacobian"], atol=1e-6)
    moved = relative_keypoints(source, driving, initial)
    assert torch.allclose(moved["value"] - source["value"], driving["value"] - initial["value"])
    assert torch.allclose(moved["jacobian"], driving["jacobian"] @ torch.inverse(initial["jacobian"]) @ source["jacobian"],
                          atol=1e-6)


def test_scale_adaptation_scales_the_displacement_only():
    source, initial = random_keypoints(1, 5, seed=11), random_keypoints(1, 5, seed=12)
    driving = random_keypoints(3, 5, seed=13)                                   # batch 3 against batch-1 source
    flags = {"use_relative_movement": True, "use_relative_jacobian": True}
    plain = normalize_kp(source, driving, initial, **flags)
    scaled = normalize_kp(source, driving, initial, adapt_movement_scale=True, **flags)
    scale = movement_scale(source, initial)
    assert torch.allclose(scaled["value"] - source["value"], scale * (plain["value"] - source["value"]), atol=1e-6)
    assert torch.allclose(scaled["jacobian"], plain["jacobian"])


def test_keypoints_without_jacobians_stay_without():
    source, driving, initial = (random_keypoints(1, 3, seed=s, jacobian=False) for s in (14, 15, 16))
    assert set(relative_keypoints(source, driving, initial)) == {"value"}


# --- make_animation against a frame-by-frame loop written here, as the authors' demo computes it ---

@pytest.fixture(scope="module")
def models():
    """small-64 models with align_corners false (the authors' code under a recent torch), random weights
    shaken so that the Jacobians are not the identity, and random BatchNorm running statistics."""
    config = copy.deepcopy(load_config("small-64"))
    config["model_params"]["common_params"]["align_corners"] = False
    torch.manual_seed(0)
    built = build_models(config)
    with torch.no_grad():
        for name in ("kp_detector", "generator"):
            for parameter in built[name].parameters():
                parameter.add_(0.02 * torch.randn_like(parameter))
            for module in built[name].modules():
                if isinstance(module, torch.nn.BatchNorm2d):
                    module.running_mean.normal_(0, 0.1)
                    module.running_var.uniform_(0.5, 1.5)
    return built["kp_detector"].eval(), built["generator"].eval()


def authors_normalize_kp(kp_source, kp_driving, kp_driving_initial, relative, adapt_movement_scale):
    """normalize_kp as the authors write it, with the hull area from the brute force above (element 0)."""
    if not relative:
        return kp_driving
    scale = 1.0
    if adapt_movement_scale:
        scale = math.sqrt(brute_force_hull_area(kp_source["value"][0]) / brute_force_hull_area(kp_driving_initial["value"][0]))
    value = (kp_driving["value"] - kp_driving_initial["value"]) * scale + kp_source["value"]
    jacobian = kp_driving["jacobian"] @ torch.inverse(kp_driving_initial["jacobian"]) @ kp_source["jacobian"]
    return {"value": value, "jacobian": jacobian}


@torch.no_grad()
def frame_by_frame(source, driving, generator, kp_detector, relative, adapt_movement_scale, start_frame=0):
    kp_source = kp_detector(source[None])
    kp_driving_initial = kp_detector(driving[start_frame][None])
    predictions = []
    for frame in driving:
        kp_norm = authors_normalize_kp(kp_source, kp_detector(frame[None]), kp_driving_initial, relative, adapt_movement_scale)
        predictions.append(generator(source[None], kp_driving=kp_norm, kp_source=kp_source)["prediction"][0])
    return torch.stack(predictions)


@pytest.fixture(scope="module")
def clip():
    generator = torch.Generator().manual_seed(20)
    base = torch.rand(3, 64, 64, generator=generator)
    driving = torch.stack([torch.roll(base, shifts=(t, 2 * t), dims=(1, 2)) for t in range(5)])    # (5, 3, 64, 64)
    return torch.rand(3, 64, 64, generator=generator), driving


@pytest.mark.parametrize("relative, adapt", [(True, True), (True, False), (False, False)])
def test_make_animation_equals_the_authors_frame_by_frame_loop(models, clip, relative, adapt):
    kp_detector, generator = models
    source, driving = clip
    expected = frame_by_frame(source, driving, generator, kp_detector, relative, adapt)
    got = make_animation(source, driving, generator, kp_detector, relative=relative, adapt_movement_scale=adapt,
                         batch_size=2)                                        # 5 frames: batches of 2, 2, 1
    assert got.shape == driving.shape
    assert (got - expected).abs().max() <= 1e-4


def test_start_frame_makes_that_frame_the_reference(models, clip):
    kp_detector, generator = models
    source, driving = clip
    expected = frame_by_frame(source, driving, generator, kp_detector, True, True, start_frame=3)
    got = make_animation(source, driving, generator, kp_detector, start_frame=3, batch_size=4)
    assert (got - expected).abs().max() <= 1e-4
    assert (got - make_animation(source, driving, generator, kp_detector)).abs().max() > 1e-3


def test_make_animation_leaves_the_models_as_they_were(models, clip):
    kp_detector, generator = models
    before = {key: value.clone() for key, value in generator.state_dict().items()}
    generator.train()
    try:
        make_animation(clip[0], clip[1][:2], generator, kp_detector)
        assert generator.training and not kp_detector.training
        assert all(torch.equal(before[key], value) for key, value in generator.state_dict().items())
    finally:
        generator.eval()


def test_an_inference_copy_folds_batchnorm_and_computes_the_same(models, clip):
    kp_detector, generator = models
    folded = inference_copy(kp_detector)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in folded.predictor.encoder.modules())
    with torch.no_grad():
        expected, got = kp_detector(clip[1]), folded(clip[1])
    assert (got["value"] - expected["value"]).abs().max() < 1e-5
    assert (got["jacobian"] - expected["jacobian"]).abs().max() < 1e-4


def test_the_best_frame_is_the_one_showing_the_source(models, clip):
    kp_detector, _ = models
    _, driving = clip
    assert find_best_frame(driving[3], driving, kp_detector) == 3
    assert float(pose_distances(driving[3], driving, kp_detector)[3]) == pytest.approx(0.0, abs=1e-10)


@pytest.mark.parametrize("change, message", [
    (lambda s, d: (s.double(), d), "float64"),
    (lambda s, d: (s * 255, d), r"expected \[0, 1\]"),
    (lambda s, d: (s[None], d), r"\(3, H, W\)"),
    (lambda s, d: (s, d[:, :, :32]), "same shape"),
    (lambda s, d: (s, d[:0]), "no frames"),
])
def test_bad_inputs_are_named(models, clip, change, message):
    kp_detector, generator = models
    source, driving = change(*clip)
    with pytest.raises(FommTeachError, match=message):
        make_animation(source, driving, generator, kp_detector)


def test_a_start_frame_outside_the_video_is_refused(models, clip):
    with pytest.raises(FommTeachError, match="start_frame 9"):
        make_animation(clip[0], clip[1], models[1], models[0], start_frame=9)
