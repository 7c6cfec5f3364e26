"""Held-out metrics on cases with a known answer."""

import pytest
import torch
from torch import nn

from fomm_teach.cli import main as cli_main
from fomm_teach.data.synthetic import SyntheticVideos
from fomm_teach.evaluate import (evaluate_synthetic, format_metrics, jacobian_quality, keypoint_quality, keypoint_spread,
                                 linear_fit_r2, target_lines)


class CopySource(nn.Module):
    """A 'generator' that moves nothing: its prediction is the source."""

    def forward(self, source_image, kp_driving, kp_source):
        return {"prediction": source_image}


class FixedKeypoints(nn.Module):
    """A 'detector' that puts K keypoints at the same place in every frame."""

    def __init__(self, num_kp=3):
        super().__init__()
        self.num_kp = num_kp

    def forward(self, image):
        batch = image.shape[0]
        return {"value": torch.zeros(batch, self.num_kp, 2), "jacobian": torch.eye(2).expand(batch, self.num_kp, 2, 2)}


def test_r2_is_one_for_an_exact_linear_map_and_low_for_noise():
    generator = torch.Generator().manual_seed(0)
    features = torch.randn(200, 6, generator=generator)
    weights, bias = torch.randn(6, 3, generator=generator), torch.randn(3, generator=generator)
    targets = features @ weights + bias
    r2, prediction = linear_fit_r2(features[:100], targets[:100], features[100:], targets[100:])
    assert r2 == pytest.approx(1.0, abs=1e-9)
    assert torch.allclose(prediction, targets[100:], atol=1e-4)
    noise = torch.randn(200, 3, generator=generator)
    r2_noise, _ = linear_fit_r2(features[:100], noise[:100], features[100:], noise[100:])
    assert r2_noise < 0.1


def test_keypoints_that_are_the_joints_score_r2_one_and_zero_pixels():
    generator = torch.Generator().manual_seed(1)
    joints = torch.rand(6, 5, 2, 2, generator=generator) * 2 - 1            # (V, T, P, 2)
    centers = torch.rand(6, 5, 2, 2, generator=generator) * 2 - 1
    kp_values = torch.cat([joints, centers], dim=2) * 0.5 + 0.1            # (V, T, 4, 2): an affine map of the truth
    present = torch.ones(6, 2)
    present[4, 1] = 0                                                      # one video lacks part 1
    quality = keypoint_quality(kp_values, joints, centers, present, size=64)
    assert quality["r2"] == pytest.approx(1.0, abs=1e-6)
    assert quality["pixel_error"] == pytest.approx(0.0, abs=1e-3)
    still = torch.zeros_like(kp_values)                                     # keypoints that never move
    blind = keypoint_quality(still, joints, centers, present, size=64)
    assert blind["r2"] < 0.05 and blind["pixel_error"] > 1
    with pytest.raises(ValueError, match="2 videos are too few"):                # 1 fits, 1 scores: no part fits
        keypoint_quality(kp_values[:2], joints[:2], centers[:2], present[:2], size=64)


def random_affine(videos, frames, parts, seed):
    """Rotations by up to ±1 rad and scales 0.7–1.4 per video, frame and part: (V, T, P, 2, 3)."""
    generator = torch.Generator().manual_seed(seed)
    angle = (torch.rand(videos, frames, parts, generator=generator) * 2 - 1)
    scale = 0.7 + 0.7 * torch.rand(videos, frames, parts, generator=generator)
    cos, sin = torch.cos(angle) * scale, torch.sin(angle) * scale
    linear = torch.stack([torch.stack([cos, -sin], -1), torch.stack([sin, cos], -1)], -2)      # (V, T, P, 2, 2)
    shift = torch.rand(videos, frames, parts, 2, 1, generator=generator)
    return torch.cat([linear, shift], dim=-1)                                                  # (V, T, P, 2, 3)


def test_jacobians_in_one_frame_per_keypoint_score_zero_and_find_their_parts():
    affine = random_affine(8, 5, 3, seed=2)
    present = torch.ones(8, 3)
    present[5, 2] = 0
    frames = torch.tensor([[[1.5, 0.3], [0.0, 0.8]], [[0.0, -1.0], [2.0, 0.0]]])             # (2, 2, 2): invertible
    kp_jacobians = affine[..., [2, 0], :2, :2] @ frames                                       # keypoint 0 follows part 2, 1 part 0
    quality = jacobian_quality(kp_jacobians, affine, present)
    assert quality["jacobian_parts"] == [2, 0]
    assert quality["jacobian_motion_error"] == pytest.approx(0.0, abs=1e-5)
    assert quality["jacobian_frame_error"] == pytest.approx(0.0, abs=1e-5)
    assert quality["jacobian_motion_zero_order"] > 0.5


def test_a_frame_that_changes_with_the_identity_moves_right_but_fails_the_frame_error():
    affine = random_affine(8, 5, 2, seed=3)
    generator = torch.Generator().manual_seed(4)
    per_video = torch.randn(8, 1, 1, 2, 2, generator=generator) + 2 * torch.eye(2)             # M differs per video
    kp_jacobians = affine[..., :2, :2] @ per_video                                            # J = B·M(video)
    quality = jacobian_quality(kp_jacobians, affine, torch.ones(8, 2))
    assert quality["jacobian_motion_error"] == pytest.approx(0.0, abs=1e-5)                   # J(0) J(t)⁻¹ is blind to M
    assert quality["jacobian_frame_error"] > 0.2
    still = jacobian_quality(torch.eye(2).expand(8, 5, 2, 2, 2), affine, torch.ones(8, 2))     # zero order: identities
    assert still["jacobian_motion_error"] == pytest.approx(still["jacobian_motion_zero_order"])
    assert still["jacobian_frame_error"] > 0.2
    with pytest.raises(ValueError, match="too few"):
        jacobian_quality(kp_jacobians[:1], affine[:1], torch.ones(1, 2))


def test_keypoint_spread_is_the_mean_pixel_distance_between_a_frames_keypoints():
    # three keypoints at pixel corners of a right triangle with sides 3, 4, 5 on a 33x33 frame (16 px per unit)
    triangle = torch.tensor([[0.0, 0.0], [3.0, 0.0], [0.0, 4.0]]) / 16                 # (K, 2) in [-1, 1] units
    kp_values = triangle.expand(2, 5, 3, 2)                                            # (V, T, K, 2)
    assert keypoint_spread(kp_values, size=33) == pytest.approx((3 + 4 + 5) / 3)
    assert keypoint_spread(torch.zeros(4, 3, 2), size=33) == 0.0                       # collapsed
    assert keypoint_spread(torch.zeros(4, 1, 2), size=33) is None                      # one keypoint: undefined


def test_a_model_that_copies_the_source_scores_the_copy_source_l1():
    metrics = evaluate_synthetic(FixedKeypoints(), CopySource(), "rigid", 16, num_videos=4, num_frames=6)
    videos = SyntheticVideos("rigid", size=16, num_frames=6, split="test")
    expected = sum(float((videos.video(i)["frames"] - videos.video(i)["frames"][:1]).abs().mean()) for i in range(4)) / 4
    assert metrics["copy_l1"] == pytest.approx(expected, rel=1e-6)
    assert metrics["l1"] == pytest.approx(expected, rel=1e-6)
    assert metrics["transfer_l1"] == pytest.approx(metrics["transfer_copy_l1"], rel=1e-6)
    assert metrics["r2"] < 0.05                                             # fixed keypoints explain nothing
    assert metrics["kp_spread"] == 0.0                                      # all at one point
    report = format_metrics(metrics, "rigid")
    assert "ratio 1.00" in report and "R²" in report and "keypoint spread        0.00 px" in report
    assert "target R² >= 0.9" in report and "NOT met" in report and "L1 <=" not in report  # rigid: no L1 target


def test_targets_report_met_and_the_gap():
    metrics = {"r2": 0.95, "l1": 0.012, "copy_l1": 0.03}
    assert [line.split()[-1] for line in target_lines(metrics, "windmill")] == ["met", "met"]
    missed = target_lines({"r2": 0.7, "l1": 0.03, "copy_l1": 0.03}, "windmill")
    assert "NOT met (gap 0.200)" in missed[0] and "NOT met (gap 0.500)" in missed[1]


def test_evaluate_cli_rejects_real_data_and_a_checkpoint_without_config(tmp_path, capsys):
    assert cli_main(["evaluate", "--data", "vox", "--checkpoint", str(tmp_path / "x.pth.tar")]) == 2
    assert "synthetic:" in capsys.readouterr().err
    from fomm_teach.checkpoint import save_checkpoint
    from fomm_teach.models import build_models
    path = save_checkpoint(tmp_path / "bare.pth.tar", build_models("synthetic-fast"))
    assert cli_main(["evaluate", "--data", "synthetic:rigid", "--checkpoint", str(path)]) == 2
    assert "--config" in capsys.readouterr().err


def test_the_shipped_model_loads_offline_with_its_config_log_and_command(capsys):
    from fomm_teach.checkpoint import read_checkpoint
    from fomm_teach.config import load_config
    from fomm_teach.shipped import asset_path, load_shipped_model, shipped_model_path
    from fomm_teach.train import parse_log

    checkpoint = read_checkpoint(shipped_model_path())                     # weights_only=True
    assert shipped_model_path().stat().st_size < 20 * 2 ** 20
    assert {"generator", "kp_detector", "discriminator", "epoch"} <= set(checkpoint)
    models, config = load_shipped_model()
    assert not models["generator"].training
    assert config["dataset_params"]["root_dir"].startswith("synthetic:")
    log = parse_log(asset_path("log.txt"))
    assert log and log[-1][0] == checkpoint["epoch"]
    assert "fomm-teach train --config" in asset_path("COMMAND.txt").read_text()
    assert config == load_config("synthetic-windmill")     # COMMAND.txt's recipe is the shipped config
    assert cli_main(["evaluate", "--data", "synthetic:windmill", "--videos", "4", "--no-transfer"]) == 0
    captured = capsys.readouterr()
    assert "reconstruction L1" in captured.out and "R²" in captured.out
    assert "reconstruction: 100%" in captured.err and "cross-identity" not in captured.err   # progress on stderr
    assert cli_main(["evaluate", "--data", "synthetic:rigid", "--videos", "2"]) == 2
    assert "--videos: must be an integer >= 4, got '2'" in capsys.readouterr().err
    assert cli_main(["evaluate", "--data", "synthetic:rigid", "--videos", "4", "--no-progress"]) == 0
    captured = capsys.readouterr()
    assert "cross-identity L1" in captured.out and captured.err == ""
