"""Tests for fomm_teach.losses: pyramid, VGG19, the equivariance Transform, every loss, the full models."""

import math
import os

import pytest
import torch
import torchvision
from torch import nn

from fomm_teach.blocks import AntiAliasInterpolation2d
from fomm_teach.errors import FommTeachError
from fomm_teach.keypoints import KPDetector, make_coordinate_grid
from fomm_teach.losses import (
    DiscriminatorFullModel,
    GeneratorFullModel,
    ImagePyramide,
    Transform,
    Vgg19,
    build_vgg19,
    discriminator_gan_loss,
    equivariance_jacobian_loss,
    equivariance_value_loss,
    feature_matching_loss,
    generator_gan_loss,
    imagenet_vgg19_cache_path,
    l1_pyramid_loss,
    load_vgg19_imagenet,
    perceptual_loss,
    tps_offset,
)

torch.set_num_threads(1)


# --- image pyramid ------------------------------------------------------------------------------

def test_pyramid_keys_sizes_and_levels():
    x = torch.rand(2, 3, 64, 64)
    levels = ImagePyramide([1, 0.5, 0.25, 0.125], num_channels=3)(x)
    assert list(levels) == ["prediction_1", "prediction_0.5", "prediction_0.25", "prediction_0.125"]
    assert [tuple(v.shape) for v in levels.values()] == [(2, 3, 64, 64), (2, 3, 32, 32), (2, 3, 16, 16), (2, 3, 8, 8)]
    assert levels["prediction_1"] is x
    assert torch.equal(levels["prediction_0.25"], AntiAliasInterpolation2d(3, 0.25)(x))


# --- VGG19 ---------------------------------------------------------------------------------------

def test_vgg19_random_weights_shapes_gradients_and_frozen():
    vgg = Vgg19()
    assert [len(block) for block in vgg.slices] == [2, 5, 5, 9, 9]
    assert all(isinstance(block[-1], nn.ReLU) for block in vgg.slices)  # relu1_1 … relu5_1
    assert not any(p.requires_grad for p in vgg.parameters())
    x = torch.rand(2, 3, 32, 32, requires_grad=True)
    features = vgg(x)
    assert [tuple(f.shape) for f in features] == [
        (2, 64, 32, 32), (2, 128, 16, 16), (2, 256, 8, 8), (2, 512, 4, 4), (2, 512, 2, 2)]
    sum(f.mean() for f in features).backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_vgg19_normalises_with_imagenet_statistics():
    vgg = Vgg19()
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    x = torch.rand(1, 3, 16, 16)
    assert torch.allclose(vgg(x)[0], vgg.slices[0]((x - mean) / std))


def test_vgg19_loads_a_torchvision_state_dict_exactly():
    torch.manual_seed(0)
    features = torchvision.models.vgg.make_layers(torchvision.models.vgg.cfgs["E"])
    state_dict = {f"features.{k}": v for k, v in features.state_dict().items()}
    state_dict["classifier.0.weight"] = torch.zeros(1)  # a full torchvision file also holds the classifier
    vgg = Vgg19(state_dict)
    assert torch.equal(vgg.slices[0][0].weight, state_dict["features.0.weight"])
    assert torch.equal(vgg.slices[4][-2].weight, state_dict["features.28.weight"])  # the conv before relu5_1


def test_vgg19_rejects_images_below_16_pixels():
    with pytest.raises(FommTeachError, match="16"):
        Vgg19()(torch.rand(1, 3, 8, 8))


@pytest.fixture
def no_download(monkeypatch, tmp_path):
    """An empty torch hub cache, and any attempt to download fails the test."""
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))

    def refuse(*args, **kwargs):
        raise AssertionError("a download was attempted")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", refuse)
    monkeypatch.setattr(torchvision.models.VGG19_Weights.IMAGENET1K_V1.__class__, "get_state_dict", refuse)
    return tmp_path


def test_imagenet_weights_offline_give_a_clear_error(no_download):
    train_params = {"loss_weights": {"perceptual": [10, 10, 10, 10, 10]}}  # the authors' config: imagenet
    with pytest.raises(FommTeachError) as info:
        build_vgg19(train_params)
    message = str(info.value)
    assert imagenet_vgg19_cache_path() in message
    assert "fomm-teach fetch-vgg19" in message and "perceptual_backbone" in message and "vgg19_weights" in message
    with pytest.raises(FommTeachError, match="not at /no/such/vgg19.pth"):
        build_vgg19(dict(train_params, vgg19_weights="/no/such/vgg19.pth"))


def test_imagenet_weights_come_from_torchvisions_cache(no_download, monkeypatch):
    path = imagenet_vgg19_cache_path()
    assert path.startswith(str(no_download)) and path.endswith("vgg19-dcbb9e9d.pth")
    os.makedirs(os.path.dirname(path))
    open(path, "wb").close()  # the file only has to exist; torch.load is replaced below
    features = torchvision.models.vgg.make_layers(torchvision.models.vgg.cfgs["E"])
    state_dict = {f"features.{k}": v + 1 for k, v in features.state_dict().items()}
    calls = []

    def fake_load(file, map_location=None, weights_only=False):
        calls.append((file, map_location, weights_only))
        return state_dict

    monkeypatch.setattr(torch, "load", fake_load)
    vgg = build_vgg19({"loss_weights": {"perceptual": [10] * 5}, "perceptual_backbone": "imagenet"})
    assert calls == [(path, "cpu", True)]
    assert torch.equal(vgg.slices[2][0].weight, state_dict["features.7.weight"])
    assert load_vgg19_imagenet(path) is state_dict


def test_build_vgg19_backbone_choices(no_download):
    random_params = {"perceptual_backbone": "random", "loss_weights": {"perceptual": [1] * 5}}
    torch.manual_seed(0)
    state = torch.get_rng_state()
    first, second = build_vgg19(random_params), build_vgg19(random_params)
    assert torch.equal(torch.get_rng_state(), state)  # the caller's random stream is untouched
    assert isinstance(first, Vgg19)
    assert all(torch.equal(a, b) for a, b in zip(first.parameters(), second.parameters()))  # same net on resume
    assert build_vgg19({"perceptual_backbone": "none", "loss_weights": {"perceptual": [0] * 5}}) is None
    assert build_vgg19({"perceptual_backbone": "none", "loss_weights": {}}) is None
    with pytest.raises(FommTeachError, match="perceptual_backbone is none"):
        build_vgg19({"perceptual_backbone": "none", "loss_weights": {"perceptual": [10] * 5}})
    with pytest.raises(FommTeachError, match="imagenet, random or none"):
        build_vgg19({"perceptual_backbone": "resnet", "loss_weights": {"perceptual": [10] * 5}})


# --- reconstruction losses -----------------------------------------------------------------------

class FakeFeatures(nn.Module):
    """A stand-in "VGG" with 3 cheap, distinct feature maps."""

    def forward(self, x):
        return [x, 2 * x ** 2, x.mean(dim=1, keepdim=True)]


def test_perceptual_is_the_weighted_sum_over_scales_and_layers():
    torch.manual_seed(0)
    pyramid = ImagePyramide([1, 0.5, 0.25], 3)
    real, fake = pyramid(torch.rand(2, 3, 16, 16)), pyramid(torch.rand(2, 3, 16, 16))
    weights = [1.0, 10.0, 100.0]
    vgg = FakeFeatures()
    expected = 0.0
    for key in ["prediction_1", "prediction_0.5", "prediction_0.25"]:
        for weight, a, b in zip(weights, vgg(fake[key]), vgg(real[key])):
            expected += weight * float((a - b).abs().mean())
    assert float(perceptual_loss(vgg, fake, real, weights)) == pytest.approx(expected, rel=1e-5)
    one_scale = float(perceptual_loss(vgg, {"prediction_1": fake["prediction_1"]}, real, weights))
    assert float(perceptual_loss(vgg, fake, real, weights)) > one_scale  # a sum, not a mean


def test_perceptual_sends_no_gradient_into_the_target():
    real = torch.rand(1, 3, 16, 16, requires_grad=True)
    fake = torch.rand(1, 3, 16, 16, requires_grad=True)
    perceptual_loss(FakeFeatures(), {"prediction_1": fake}, {"prediction_1": real}, [1, 1, 1]).backward()
    assert real.grad is None and fake.grad.abs().sum() > 0


def test_l1_pyramid_loss_formula():
    real = {"prediction_1": torch.zeros(1, 3, 4, 4), "prediction_0.5": torch.zeros(1, 3, 2, 2)}
    fake = {"prediction_1": torch.full((1, 3, 4, 4), 0.5), "prediction_0.5": torch.full((1, 3, 2, 2), 0.25)}
    assert float(l1_pyramid_loss(fake, real, 10)) == pytest.approx(10 * (0.5 + 0.25))


# --- the Transform -------------------------------------------------------------------------------

def test_affine_part_is_theta():
    torch.manual_seed(0)
    transform = Transform(3, sigma_affine=0.1)
    assert not transform.tps
    points = torch.rand(3, 7, 2) * 2 - 1
    linear, translation = transform.theta[:, :, :2], transform.theta[:, :, 2]
    expected = torch.einsum("bij,bnj->bni", linear, points) + translation[:, None]
    assert torch.allclose(transform.warp_coordinates(points), expected, atol=1e-6)


def test_tps_uses_the_l1_distance_and_adds_the_same_offset_to_x_and_y():
    transform = Transform(1, sigma_affine=0.0, sigma_tps=0.005, points_tps=5)
    assert torch.equal(transform.theta, torch.eye(2, 3)[None])  # no affine noise: W(p) = p + offset
    transform.control_params = torch.zeros(1, 1, 25)
    transform.control_params[0, 0, 0] = 2.0                   # only the control point (-1, -1) acts
    assert torch.equal(transform.control_points[0], torch.tensor([-1.0, -1.0]))
    point = torch.tensor([[[0.3, -0.2]]])
    offset = transform.warp_coordinates(point) - point
    assert offset[0, 0, 0] == offset[0, 0, 1]
    distance = 1.3 + 0.8  # L1; the L2 distance would be sqrt(1.3² + 0.8²)
    expected = 2.0 * distance ** 2 * math.log(distance + 1e-6)
    assert float(offset[0, 0, 0]) == pytest.approx(expected, rel=1e-5)
    assert torch.allclose(offset, tps_offset(point, transform.control_points, transform.control_params))


def test_noise_is_drawn_on_the_cpu_in_the_authors_order():
    torch.manual_seed(7)
    transform = Transform(2, sigma_affine=0.05, sigma_tps=0.005, points_tps=5)
    torch.manual_seed(7)
    theta = torch.normal(mean=torch.zeros(2, 2, 3), std=0.05 * torch.ones(2, 2, 3)) + torch.eye(2, 3)
    params = torch.normal(mean=torch.zeros(2, 1, 25), std=0.005 * torch.ones(2, 1, 25))
    assert torch.equal(transform.theta, theta) and torch.equal(transform.control_params, params)


def test_transform_frame_identity_reflection_and_explicit_align_corners():
    frame = torch.rand(2, 3, 16, 16)
    identity = Transform(2, sigma_affine=0.0)
    assert torch.allclose(identity.transform_frame(frame), frame, atol=1e-6)
    legacy = Transform(2, sigma_affine=0.0, align_corners=False)
    assert (legacy.transform_frame(frame) - frame).abs().max() > 1e-2  # the flag reaches grid_sample
    shifted = Transform(1, sigma_affine=0.0)
    shifted.theta[0, 0, 2] = 0.5  # read from x + 0.5: a quarter of the image comes from outside
    assert torch.allclose(shifted.transform_frame(torch.ones(1, 3, 16, 16)), torch.ones(1, 3, 16, 16))  # reflection


def test_transform_frame_reads_x_at_w_of_z():
    """Y(z) = X(W(z)): a dot at p in X appears at W⁻¹(p) in Y, so W(kp of Y) = kp of X."""
    grid = make_coordinate_grid((33, 33))                                   # (H, W, 2)
    p = torch.tensor([0.25, -0.5])
    frame = torch.exp(-((grid - p) ** 2).sum(-1) / 0.005)[None, None]      # (1, 1, H, W)
    transform = Transform(1, sigma_affine=0.0)
    transform.theta[0, :, 2] = torch.tensor([0.25, 0.125])                 # W(z) = z + t
    transformed = transform.transform_frame(frame)[0, 0]                    # (H, W)
    centroid = (transformed[..., None] * grid).sum((0, 1)) / transformed.sum()
    assert torch.allclose(centroid, p - torch.tensor([0.25, 0.125]), atol=1e-3)
    assert torch.allclose(transform.warp_coordinates(centroid.view(1, 1, 2))[0, 0], p, atol=1e-3)


def test_jacobian_matches_finite_differences():
    torch.manual_seed(0)
    transform = Transform(2, sigma_affine=0.2, sigma_tps=0.05, points_tps=5, dtype=torch.float64)
    points = torch.rand(2, 6, 2, dtype=torch.float64) * 2.4 - 1.2
    step = 1e-6
    columns = [(transform.warp_coordinates(points + step * e) - transform.warp_coordinates(points - step * e)) / (2 * step)
               for e in torch.eye(2, dtype=torch.float64)]
    finite = torch.stack(columns, dim=-1)                                  # (B, N, 2, 2), [..., i, j] = ∂W_i/∂p_j
    jacobian = transform.jacobian(points)
    assert jacobian.shape == (2, 6, 2, 2)
    assert torch.allclose(jacobian, finite, atol=1e-8)
    assert not torch.allclose(jacobian[0, 0], jacobian[0, 1], atol=1e-3)  # the TPS makes it vary


def test_jacobian_keeps_the_graph_for_a_double_backward():
    torch.manual_seed(0)
    transform = Transform(1, sigma_affine=0.05, sigma_tps=0.05, points_tps=5)
    weight = torch.tensor(0.3, requires_grad=True)
    points = weight * torch.ones(1, 3, 2)                                  # like keypoints from a network
    transform.jacobian(points).sum().backward()
    assert weight.grad is not None and weight.grad.abs() > 0              # only possible with create_graph=True


# --- equivariance losses -------------------------------------------------------------------------

def invert_warp(transform, target, iterations=20):
    """Newton's method for W(p) = target, (B, N, 2)."""
    p = target.clone()
    for _ in range(iterations):
        residual = transform.warp_coordinates(p) - target                 # (B, N, 2)
        step = torch.linalg.solve(transform.jacobian(p), residual[..., None])[..., 0]
        p = p - step
    return p


@pytest.mark.parametrize("tps", [False, True])
def test_an_exactly_equivariant_detector_gives_zero_loss(tps):
    """kp_t = W⁻¹(kp_d), J_t = ∇W(kp_t)⁻¹ J_d is exactly what an equivariant detector returns on Y."""
    torch.manual_seed(3)
    params = dict(sigma_affine=0.1, sigma_tps=0.005, points_tps=5) if tps else dict(sigma_affine=0.1)
    transform = Transform(2, **params, dtype=torch.float64)
    kp_driving = {"value": torch.rand(2, 5, 2, dtype=torch.float64) * 1.6 - 0.8,
                  "jacobian": torch.eye(2, dtype=torch.float64) + 0.3 * torch.randn(2, 5, 2, 2, dtype=torch.float64)}
    value_t = invert_warp(transform, kp_driving["value"])
    jacobian_t = torch.inverse(transform.jacobian(value_t)) @ kp_driving["jacobian"]
    warp_jacobian = transform.jacobian(value_t)
    assert float(equivariance_value_loss(kp_driving["value"], value_t, transform)) < 1e-10
    assert float(equivariance_jacobian_loss(kp_driving["jacobian"], jacobian_t, warp_jacobian)) < 1e-10
    # the same detector compared in the wrong direction, or with J_t = J_d, is not zero
    assert float(equivariance_value_loss(value_t, kp_driving["value"], transform)) > 1e-3
    assert float(equivariance_jacobian_loss(kp_driving["jacobian"], kp_driving["jacobian"], warp_jacobian)) > 1e-3


def test_equivariance_jacobian_loss_by_hand():
    eye = torch.eye(2).expand(1, 1, 2, 2)
    # J_d = 2I, ∇W = I, J_t = I: |I − I/2| = diag(1/2, 1/2), mean 1/4
    assert float(equivariance_jacobian_loss(2 * eye, eye, eye)) == pytest.approx(0.25)
    # the order matters: J_d⁻¹ · ∇W · J_t with non-commuting ∇W and J_t
    a, b = torch.tensor([[1.0, 1.0], [0.0, 1.0]]), torch.tensor([[1.0, 0.0], [1.0, 1.0]])
    assert float(equivariance_jacobian_loss((a @ b)[None, None], b[None, None], a[None, None])) == pytest.approx(0.0)
    assert float(equivariance_jacobian_loss((b @ a)[None, None], b[None, None], a[None, None])) > 0.1


# --- GAN losses ----------------------------------------------------------------------------------

def test_lsgan_and_feature_matching_formulas():
    real, fake = torch.tensor([[0.5, 1.0]]), torch.tensor([[0.0, 0.5]])
    assert float(generator_gan_loss(fake)) == pytest.approx((1 + 0.25) / 2)
    assert float(discriminator_gan_loss(real, fake)) == pytest.approx((0.25 + 0 + 0 + 0.25) / 2)
    maps_real = [torch.zeros(2, 2), torch.zeros(3), torch.ones(1)]
    maps_fake = [torch.ones(2, 2), torch.full((3,), 2.0), torch.full((1,), 5.0)]
    assert float(feature_matching_loss(maps_real, maps_fake, [10, 1, 0])) == pytest.approx(10 * 1 + 1 * 2)


# --- full models (tiny stand-ins for the generator and the discriminator) ------------------------

class TinyGenerator(nn.Module):
    """Returns a prediction that depends on the source and on the keypoints."""

    num_channels = 3
    align_corners = True

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 3, padding=1)

    def forward(self, source_image, kp_driving, kp_source):
        shift = (kp_driving["value"] - kp_source["value"]).mean(dim=(1, 2))[:, None, None, None]  # (B, 1, 1, 1)
        return {"prediction": torch.sigmoid(self.conv(source_image) + shift)}


class TinyDiscriminator(nn.Module):
    """The MultiScaleDiscriminator interface: {'feature_maps_<s>': [...], 'prediction_map_<s>': ...}."""

    scales = [1]

    def __init__(self, fail=False):
        super().__init__()
        self.fail = fail
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.head = nn.Conv2d(4, 1, 1)
        self.kp_seen = []

    def forward(self, x, kp=None):
        if self.fail:
            raise AssertionError("the discriminator must not run")
        self.kp_seen.append(kp)
        features = torch.relu(self.conv(x["prediction_1"]))
        return {"feature_maps_1": [features], "prediction_map_1": self.head(features)}


def tiny_models(fail_discriminator=False):
    torch.manual_seed(0)
    kp_detector = KPDetector(block_expansion=4, num_kp=3, num_channels=3, max_features=8, num_blocks=2,
                             temperature=0.1, estimate_jacobian=True)
    return kp_detector, TinyGenerator(), TinyDiscriminator(fail=fail_discriminator)


def train_params(**loss_weights):
    weights = dict(generator_gan=1, discriminator_gan=1, feature_matching=[10], perceptual=[10] * 5,
                   equivariance_value=10, equivariance_jacobian=10)
    weights.update(loss_weights)
    return {"scales": [1, 0.5], "perceptual_backbone": "random", "loss_weights": weights,
            "transform_params": {"sigma_affine": 0.05, "sigma_tps": 0.005, "points_tps": 5}}


def batch():
    torch.manual_seed(1)
    return {"source": torch.rand(2, 3, 32, 32), "driving": torch.rand(2, 3, 32, 32)}


def test_generator_full_model_keys_outputs_and_gradients():
    kp_detector, generator, discriminator = tiny_models()
    model = GeneratorFullModel(kp_detector, generator, discriminator, train_params(l1_pyramid=5))
    losses, generated = model(batch())
    assert list(losses) == ["perceptual", "l1_pyramid", "gen_gan", "feature_matching",
                            "equivariance_value", "equivariance_jacobian"]
    assert all(v.dim() == 0 and torch.isfinite(v) for v in losses.values())
    assert {"prediction", "kp_source", "kp_driving", "transformed_frame", "transformed_kp"} <= set(generated)
    assert all(not kp["value"].requires_grad for kp in discriminator.kp_seen)  # D sees detached keypoints
    # the jacobian equivariance term trains the jacobian head
    losses["equivariance_jacobian"].backward()
    assert kp_detector.jacobian.weight.grad.abs().sum() > 0


def test_generator_full_model_without_vgg_and_without_gan():
    kp_detector, generator, discriminator = tiny_models(fail_discriminator=True)
    params = train_params(generator_gan=0, perceptual=[0] * 5, l1_pyramid=10)
    params["perceptual_backbone"] = "none"
    model = GeneratorFullModel(kp_detector, generator, discriminator, params)
    assert model.vgg is None
    losses, _ = model(batch())  # the failing discriminator is never called
    assert list(losses) == ["l1_pyramid", "equivariance_value", "equivariance_jacobian"]


def test_generator_full_model_perceptual_matches_the_formula():
    kp_detector, generator, discriminator = tiny_models()
    params = train_params(generator_gan=0, equivariance_value=0, equivariance_jacobian=0)
    model = GeneratorFullModel(kp_detector, generator, discriminator, params, vgg=Vgg19())
    x = batch()
    losses, generated = model(x)
    assert list(losses) == ["perceptual"]
    pyramid = ImagePyramide([1, 0.5], 3)
    expected = perceptual_loss(model.vgg, pyramid(generated["prediction"]), pyramid(x["driving"]), [10] * 5)
    assert torch.allclose(losses["perceptual"], expected)
    assert "transformed_frame" not in generated


def test_generator_full_model_offline_imagenet_config_fails_before_training(no_download):
    kp_detector, generator, discriminator = tiny_models()
    params = train_params()
    del params["perceptual_backbone"]  # the authors' configs: the ImageNet loss
    with pytest.raises(FommTeachError, match="perceptual_backbone"):
        GeneratorFullModel(kp_detector, generator, discriminator, params)


def test_discriminator_full_model():
    kp_detector, generator, discriminator = tiny_models()
    params = train_params(discriminator_gan=2)
    generator_full = GeneratorFullModel(kp_detector, generator, discriminator, params, vgg=Vgg19())
    discriminator_full = DiscriminatorFullModel(kp_detector, generator, discriminator, params)
    x = batch()
    _, generated = generator_full(x)
    losses = discriminator_full(x, generated)
    assert list(losses) == ["disc_gan"]
    with torch.no_grad():
        real = discriminator({"prediction_1": x["driving"]})["prediction_map_1"]
        fake = discriminator({"prediction_1": generated["prediction"]})["prediction_map_1"]
    assert torch.allclose(losses["disc_gan"], 2 * ((1 - real) ** 2 + fake ** 2).mean())
    losses["disc_gan"].backward()
    assert discriminator.head.weight.grad is not None
    assert generator.conv.weight.grad is None and kp_detector.kp.weight.grad is None  # prediction detached


def test_full_models_with_the_course_networks():
    from fomm_teach.config import load_config
    from fomm_teach.models import build_models

    config = load_config("small-64")
    torch.manual_seed(0)
    models = build_models(config)
    params = dict(config["train_params"], perceptual_backbone="none")
    params["loss_weights"] = dict(params["loss_weights"], perceptual=[0] * 5, l1_pyramid=10, generator_gan=1)
    generator_full = GeneratorFullModel(models["kp_detector"], models["generator"], models["discriminator"], params)
    discriminator_full = DiscriminatorFullModel(models["kp_detector"], models["generator"], models["discriminator"], params)
    x = {"source": torch.rand(2, 3, 64, 64), "driving": torch.rand(2, 3, 64, 64)}
    losses, generated = generator_full(x)
    assert list(losses) == ["l1_pyramid", "gen_gan", "feature_matching", "equivariance_value", "equivariance_jacobian"]
    assert generated["transformed_frame"].shape == (2, 3, 64, 64)
    assert generated["transformed_kp"]["jacobian"].shape == (2, 10, 2, 2)
    sum(losses.values()).backward()
    assert models["kp_detector"].jacobian.weight.grad.abs().sum() > 0
    assert list(discriminator_full(x, generated)) == ["disc_gan"]


@pytest.mark.parametrize("align_corners", [True, False])
def test_the_equivariance_warp_uses_the_generators_align_corners(align_corners):
    kp_detector, generator, discriminator = tiny_models()
    generator.align_corners = align_corners
    params = train_params(generator_gan=0, perceptual=[0] * 5)
    params["transform_params"] = {"sigma_affine": 0.0}  # W is the identity
    params["perceptual_backbone"] = "none"
    x = batch()
    _, generated = GeneratorFullModel(kp_detector, generator, discriminator, params)(x)
    unchanged = torch.allclose(generated["transformed_frame"], x["driving"], atol=1e-6)
    assert unchanged == align_corners


def test_unreadable_or_wrong_vgg19_weights_give_clear_errors(tmp_path):
    broken = tmp_path / "vgg19-dcbb9e9d.pth"
    broken.write_bytes(b"PK\x03\x04 half a download")
    with pytest.raises(FommTeachError, match="Cannot read the VGG19 weights"):
        load_vgg19_imagenet(str(broken))
    with pytest.raises(FommTeachError, match="not a torchvision VGG19 state_dict"):
        Vgg19({"features.0.weight": torch.zeros(3)})
