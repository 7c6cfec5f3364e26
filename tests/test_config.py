"""Configs: the eight authors' configs carry the values of the spec (Appendix A); files load as they are."""

import shutil
from pathlib import Path

import pytest

import fomm_teach
from fomm_teach import available_configs, load_config
from fomm_teach.errors import FommTeachError

AUTHORS = ["vox-256", "vox-adv-256", "taichi-256", "taichi-adv-256", "bair-256", "fashion-256", "mgif-256", "nemo-256"]
ABSENT = object()  # "—" in the spec: the key is not in the file

# Values that differ between configs (fomm-spec.md §10 and Appendix A), in the column order of AUTHORS.
DIFFERING = {
    "dataset_params.root_dir": ["data/vox-png", "data/vox-png", "data/taichi-png", "data/taichi-png", "data/bair",
                                "data/fashion-png", "data/moving-gif", "data/nemo-png"],
    "dataset_params.id_sampling": [True, True, True, True, False, False, False, False],
    "dataset_params.pairs_list": ["data/vox256.csv", "data/vox256.csv", "data/taichi256.csv", "data/taichi256.csv",
                                  ABSENT, ABSENT, ABSENT, ABSENT],
    "dataset_params.augmentation_params.jitter_param.brightness": [0.1] * 5 + [ABSENT] * 3,
    "dataset_params.augmentation_params.jitter_param.contrast": [0.1] * 5 + [ABSENT] * 3,
    "dataset_params.augmentation_params.jitter_param.saturation": [0.1] * 5 + [ABSENT] * 3,
    "dataset_params.augmentation_params.jitter_param.hue": [0.1] * 6 + [0.5, ABSENT],
    "dataset_params.augmentation_params.crop_param.size": [ABSENT] * 6 + [[256, 256], ABSENT],
    "dataset_params.augmentation_params.resize_param.ratio": [ABSENT] * 6 + [[0.9, 1.1], ABSENT],
    "model_params.kp_detector_params.single_jacobian_map": [ABSENT] * 6 + [True, ABSENT],
    "model_params.discriminator_params.sn": [True, ABSENT, ABSENT, ABSENT, True, ABSENT, True, True],
    "model_params.discriminator_params.use_kp": [ABSENT, True, ABSENT, True, ABSENT, ABSENT, ABSENT, ABSENT],
    "train_params.num_epochs": [100, 150, 100, 150, 20, 100, 100, 100],
    "train_params.num_repeats": [75, 75, 150, 150, 1, 50, 25, 8],
    "train_params.epoch_milestones": [[60, 90], [], [60, 90], [], [12, 18], [60, 90], [60, 90], [60, 90]],
    "train_params.lr_kp_detector": [2e-4, 2e-4, 2e-4, 0, 2e-4, 2e-4, 2e-4, 2e-4],
    "train_params.batch_size": [40, 36, 30, 27, 36, 27, 36, 36],
    "train_params.checkpoint_freq": [50, 50, 50, 50, 10, 50, 100, 50],
    "train_params.loss_weights.generator_gan": [0, 1, 0, 1, 1, 1, 1, 1],
}

# Values identical in all eight ("(same)" in Appendix A).
SHARED = {
    "dataset_params.frame_shape": [256, 256, 3],
    "dataset_params.augmentation_params.flip_param.horizontal_flip": True,
    "dataset_params.augmentation_params.flip_param.time_flip": True,
    "model_params.common_params.num_kp": 10,
    "model_params.common_params.num_channels": 3,
    "model_params.common_params.estimate_jacobian": True,
    "model_params.kp_detector_params.temperature": 0.1,
    "model_params.kp_detector_params.block_expansion": 32,
    "model_params.kp_detector_params.max_features": 1024,
    "model_params.kp_detector_params.scale_factor": 0.25,
    "model_params.kp_detector_params.num_blocks": 5,
    "model_params.generator_params.block_expansion": 64,
    "model_params.generator_params.max_features": 512,
    "model_params.generator_params.num_down_blocks": 2,
    "model_params.generator_params.num_bottleneck_blocks": 6,
    "model_params.generator_params.estimate_occlusion_map": True,
    "model_params.generator_params.dense_motion_params.block_expansion": 64,
    "model_params.generator_params.dense_motion_params.max_features": 1024,
    "model_params.generator_params.dense_motion_params.num_blocks": 5,
    "model_params.generator_params.dense_motion_params.scale_factor": 0.25,
    "model_params.discriminator_params.scales": [1],
    "model_params.discriminator_params.block_expansion": 32,
    "model_params.discriminator_params.max_features": 512,
    "model_params.discriminator_params.num_blocks": 4,
    "train_params.lr_generator": 2e-4,
    "train_params.lr_discriminator": 2e-4,
    "train_params.scales": [1, 0.5, 0.25, 0.125],
    "train_params.transform_params.sigma_affine": 0.05,
    "train_params.transform_params.sigma_tps": 0.005,
    "train_params.transform_params.points_tps": 5,
    "train_params.loss_weights.discriminator_gan": 1,
    "train_params.loss_weights.feature_matching": [10, 10, 10, 10],
    "train_params.loss_weights.perceptual": [10, 10, 10, 10, 10],
    "train_params.loss_weights.equivariance_value": 10,
    "train_params.loss_weights.equivariance_jacobian": 10,
    "reconstruction_params.num_videos": 1000,
    "reconstruction_params.format": ".mp4",
    "animate_params.num_pairs": 50,
    "animate_params.format": ".mp4",
    "animate_params.normalization_params.adapt_movement_scale": False,
    "animate_params.normalization_params.use_relative_movement": True,
    "animate_params.normalization_params.use_relative_jacobian": True,
    "visualizer_params.kp_size": 5,
    "visualizer_params.draw_border": True,
    "visualizer_params.colormap": "gist_rainbow",
}


def flatten(tree, prefix=""):
    """{'a': {'b': 1}} -> {'a.b': 1}; lists are leaves."""
    flat = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            flat.update(flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def same_value(actual, expected):
    """Equal, and of the same kind: a bool must not pass for 1, nor a string for a number."""
    if isinstance(expected, list):
        return isinstance(actual, list) and len(actual) == len(expected) and all(
            same_value(a, e) for a, e in zip(actual, expected))
    if isinstance(expected, bool) or isinstance(actual, bool):
        return actual is expected
    if isinstance(expected, (int, float)):
        return isinstance(actual, (int, float)) and actual == pytest.approx(expected)
    return actual == expected


def test_shipped_names():
    assert set(AUTHORS) | {"small-64"} <= set(available_configs())


@pytest.mark.parametrize("name", AUTHORS)
def test_authors_config_has_the_spec_values_and_nothing_else(name):
    column = AUTHORS.index(name)
    expected = dict(SHARED)
    expected.update({key: values[column] for key, values in DIFFERING.items() if values[column] is not ABSENT})
    flat = flatten(load_config(name))
    assert set(flat) == set(expected), f"extra keys {set(flat) - set(expected)}, missing {set(expected) - set(flat)}"
    wrong = {key: (flat[key], value) for key, value in expected.items() if not same_value(flat[key], value)}
    assert not wrong, f"{name}: (found, spec) = {wrong}"


def test_sections_in_the_authors_order():
    for name in AUTHORS + ["small-64"]:
        config = load_config(name)
        assert list(config) == ["dataset_params", "model_params", "train_params", "reconstruction_params",
                                "animate_params", "visualizer_params"], name
        assert list(config["model_params"]) == ["common_params", "kp_detector_params", "generator_params",
                                                "discriminator_params"], name


def test_small_config_is_64px_with_three_scales():
    config = load_config("small-64")
    assert config["dataset_params"]["frame_shape"] == [64, 64, 3]
    assert config["train_params"]["scales"] == [1, 0.5, 0.25]
    assert config["model_params"]["common_params"]["align_corners"] is True
    # same keys as the authors' vox-256 model section, plus our align_corners
    vox_keys = set(flatten(load_config("vox-256")["model_params"]))
    assert set(flatten(config["model_params"])) == vox_keys | {"common_params.align_corners"}


def test_a_path_loads_as_it_is(tmp_path):
    copied = tmp_path / "my-vox.yaml"
    shutil.copy(Path(fomm_teach.__file__).parent / "configs" / "vox-256.yaml", copied)
    assert load_config(copied) == load_config("vox-256")
    assert load_config(str(copied)) == load_config("vox-256")


def test_floats_without_a_dot_are_numbers(tmp_path):
    path = tmp_path / "x.yaml"
    path.write_text("model_params:\n  common_params: {num_kp: 5}\n  kp_detector_params: {}\n"
                    "  generator_params: {}\n  discriminator_params: {}\ntrain_params:\n  lr_generator: 2e-4\n"
                    "  vgg19_weights: hello\n")
    config = load_config(path)
    assert config["train_params"]["lr_generator"] == pytest.approx(2e-4)
    assert config["train_params"]["vgg19_weights"] == "hello"


def test_dict_is_copied():
    original = load_config("small-64")
    copied = load_config(original)
    copied["model_params"]["common_params"]["num_kp"] = 3
    assert original["model_params"]["common_params"]["num_kp"] == 10


def test_unknown_name_lists_the_shipped_ones():
    with pytest.raises(FommTeachError) as info:
        load_config("vox-512")
    message = str(info.value)
    assert "vox-512" in message
    for name in AUTHORS:
        assert name in message


def test_missing_file_is_named(tmp_path):
    missing = tmp_path / "nope" / "config.yaml"
    with pytest.raises(FommTeachError, match="not found") as info:
        load_config(missing)
    assert str(missing) in str(info.value)


def test_shipped_name_with_extension_gets_a_hint():
    with pytest.raises(FommTeachError, match="named 'vox-256', without .yaml"):
        load_config("vox-256.yaml")


def test_bad_yaml_names_file_and_line(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("model_params:\n  common_params: [1, 2\n  kp_detector_params: {}\n")
    with pytest.raises(FommTeachError) as info:
        load_config(bad)
    assert str(bad) in str(info.value) and "line" in str(info.value)


@pytest.mark.parametrize("text, fragment", [
    ("- a\n- b\n", "mapping"),
    ("dataset_params: {}\n", "model_params"),
    ("model_params:\n  common_params: {}\n  kp_detector_params: {}\n", "generator_params"),
    ("model_params:\n  common_params: {align_corners: maybe}\n  kp_detector_params: {}\n"
     "  generator_params: {}\n  discriminator_params: {}\n", "align_corners"),
])
def test_structure_errors(tmp_path, text, fragment):
    path = tmp_path / "broken.yaml"
    path.write_text(text)
    with pytest.raises(FommTeachError, match=fragment) as info:
        load_config(path)
    assert str(path) in str(info.value)
