"""build_models gives, for every config, exactly the authors' state_dict names, shapes and sizes."""

import math
from pathlib import Path

import pytest
import torch

from fomm_teach import available_configs, build_models, load_config
from fomm_teach.errors import FommTeachError
from official_layout import (AUTHORS_CONFIGS, COUNTS, KEYS_FILE, MODULES, SECTIONS, layout_of,
                             official_layout, spec_layout)

_BUILT = {}


def built_on_meta(name):
    """build_models(name) on the meta device (shapes without memory), built once per config."""
    if name not in _BUILT:
        with torch.device("meta"):
            _BUILT[name] = build_models(name)
    return _BUILT[name]


def differences(found, expected):
    """Readable list of what differs between two {key: shape} dicts."""
    problems = [f"missing {key} {shape}" for key, shape in expected.items() if key not in found]
    problems += [f"unexpected {key} {shape}" for key, shape in found.items() if key not in expected]
    problems += [f"{key}: {found[key]} instead of {shape}" for key, shape in expected.items()
                 if key in found and found[key] != shape]
    return problems


def test_keys_file_copy_is_current():
    """tests/data holds a copy of the shared reference (CI has shared/ beside the clone)."""
    shared = Path(__file__).resolve().parents[2] / "shared" / "reference" / KEYS_FILE.name
    if not shared.is_file():
        pytest.skip(f"no shared reference at {shared}")
    assert KEYS_FILE.read_text() == shared.read_text()


COURSE_CONFIGS = sorted(set(available_configs()) - set(AUTHORS_CONFIGS))


def test_all_authors_configs_ship_beside_the_course_configs():
    assert set(AUTHORS_CONFIGS) <= set(available_configs())
    assert "small-64" in COURSE_CONFIGS


@pytest.mark.parametrize("name", AUTHORS_CONFIGS)
def test_spec_derived_layout_reproduces_the_authors_file(name):
    """The test's own layout formula agrees with the authors' dump, so it can judge small-64 too."""
    derived = spec_layout(load_config(name)["model_params"])
    for module in MODULES:
        assert list(derived[module].items()) == list(official_layout(name)[module].items()), (name, module)


@pytest.mark.parametrize("name", AUTHORS_CONFIGS)
def test_names_and_shapes_equal_the_authors(name):
    layout = layout_of(built_on_meta(name))
    for module in MODULES:
        problems = differences(layout[module], official_layout(name)[module])
        assert not problems, f"{name} {module}: {len(problems)} differences, e.g. {problems[:6]}"


def test_state_dict_order_equals_the_authors():
    layout = layout_of(built_on_meta("vox-256"))
    for module in MODULES:
        assert list(layout[module]) == list(SECTIONS["vox-256"][module]), module


@pytest.mark.parametrize("name", COURSE_CONFIGS)
def test_course_configs_follow_the_spec_structure(name):
    """Our own configs (small-64, the synthetic recipes) have the authors' layout at their widths."""
    layout = layout_of(built_on_meta(name))
    expected = spec_layout(load_config(name)["model_params"])
    for module in MODULES:
        problems = differences(layout[module], expected[module])
        assert not problems, f"{name} {module}: {problems[:6]}"


def _counts(module):
    parameters = sum(p.numel() for p in module.parameters())
    buffers = sum(b.numel() for b in module.buffers())
    return {"parameters": parameters, "buffer_elements": buffers, "state_dict_entries": len(module.state_dict())}


@pytest.mark.parametrize("name", AUTHORS_CONFIGS)
def test_parameter_counts_equal_the_authors(name):
    models = built_on_meta(name)
    for module in MODULES:
        expected = {key: COUNTS[(name, module)][key]
                    for key in ("parameters", "buffer_elements", "state_dict_entries")}
        assert _counts(models[module]) == expected, (name, module)
    dense = _counts(models["generator"].dense_motion_network)
    assert dense["parameters"] == COUNTS[(name, "generator.dense_motion_network")]["parameters"]


def test_parameter_counts_of_spec_sections_10_and_11():
    """The numbers printed in the spec (not read from the keys file)."""
    vox, adv, mgif = built_on_meta("vox-256"), built_on_meta("vox-adv-256"), built_on_meta("mgif-256")
    assert _counts(vox["kp_detector"])["parameters"] == 14_215_368
    assert _counts(vox["generator"])["parameters"] == 45_575_391
    assert _counts(vox["generator"].dense_motion_network)["parameters"] == 37_730_268
    assert _counts(vox["discriminator"]) == {"parameters": 2_758_849, "buffer_elements": 8_689,
                                             "state_dict_entries": 26}
    assert _counts(adv["discriminator"])["parameters"] == 2_769_089
    assert _counts(mgif["kp_detector"])["parameters"] == 14_153_592
    assert [_counts(vox[m])["state_dict_entries"] for m in MODULES] == [75, 196, 26]


def test_small_config_is_small():
    models = built_on_meta("small-64")
    total = sum(_counts(models[m])["parameters"] for m in ("kp_detector", "generator"))
    assert total < 2_000_000
    assert math.isclose(total, 1_311_559, rel_tol=0.05)


# --- build_models behaviour ----------------------------------------------------------------------

def test_build_models_on_cpu_gives_modules_in_training_mode():
    models = build_models(load_config("small-64"), device="cpu")
    assert list(models) == ["kp_detector", "generator", "discriminator"]
    for model in models.values():
        assert model.training
        assert all(p.device.type == "cpu" for p in model.parameters())


def _recording(monkeypatch, module_name, class_name):
    """Replace a model class by a subclass that records the keyword arguments it was built with."""
    import importlib

    module = importlib.import_module(module_name)
    original = getattr(module, class_name)
    calls = []

    class Recording(original):
        def __init__(self, *args, **kwargs):
            calls.append(kwargs)
            super().__init__(*args, **kwargs)

    Recording.__name__ = class_name
    monkeypatch.setattr(module, class_name, Recording)
    return calls


@pytest.mark.parametrize("flag", [True, False, None])
def test_align_corners_goes_to_the_generator_only(monkeypatch, flag):
    config = load_config("small-64")
    common = config["model_params"]["common_params"]
    if flag is None:
        del common["align_corners"]
    else:
        common["align_corners"] = flag
    generator_calls = _recording(monkeypatch, "fomm_teach.generator", "OcclusionAwareGenerator")
    kp_calls = _recording(monkeypatch, "fomm_teach.keypoints", "KPDetector")
    with torch.device("meta"):
        build_models(config)
    assert generator_calls[0]["align_corners"] is (True if flag is None else flag)
    assert "align_corners" not in kp_calls[0]
    # common_params reach every network, as in the authors' run.py
    assert generator_calls[0]["num_kp"] == kp_calls[0]["num_kp"] == 10


def test_config_typo_is_named():
    config = load_config("small-64")
    config["model_params"]["generator_params"]["num_botleneck_blocks"] = 2
    with pytest.raises(FommTeachError, match="generator_params"):
        build_models(config)


def test_discriminator_typo_is_named():
    config = load_config("small-64")
    config["model_params"]["discriminator_params"]["spectral"] = True
    with pytest.raises(FommTeachError, match="discriminator_params"):
        build_models(config)
