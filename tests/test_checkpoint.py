"""Checkpoints: the authors' .pth.tar layout loads strictly; our files round-trip; bad files say why."""

import os
import warnings

import pytest
import torch

from fomm_teach import build_models, load_checkpoint, load_config, save_checkpoint
from fomm_teach.errors import FommTeachError
from official_layout import MODULES, official_layout, spec_layout

AUTHORS_TOP_LEVEL = {"generator", "kp_detector", "discriminator", "optimizer_generator",
                     "optimizer_kp_detector", "optimizer_discriminator", "epoch"}
BUFFER_SUFFIXES = ("running_mean", "running_var", "num_batches_tracked", "down.weight", "weight_u", "weight_v")


def fake_state(layout, generator):
    """A state_dict with the layout's keys and shapes; entry i is filled with one random value.

    The tensors are broadcast views of one number (stride 0), so a 60 M-parameter checkpoint takes
    a few kB on disk, yet a key loaded into the wrong place shows up as a wrong value.
    """
    state = {}
    for key, shape in layout.items():
        if key.endswith("num_batches_tracked"):
            state[key] = torch.tensor(int(torch.randint(0, 1000, (), generator=generator)))
        else:
            state[key] = torch.rand((), generator=generator).expand(shape)
    return state


def authors_optimizer_state(layout, lr=2e-4):
    """Adam state as the authors' code (torch 1.x) saved it before its first step: no per-parameter state."""
    count = sum(1 for key in layout if not key.endswith(BUFFER_SUFFIXES))
    return {"state": {}, "param_groups": [{"lr": lr, "betas": (0.5, 0.999), "eps": 1e-8, "weight_decay": 0,
                                           "amsgrad": False, "params": list(range(count))}]}


def authors_checkpoint(config_name, layout=None, epoch=7, lr=2e-4, seed=0):
    """A checkpoint dict in the authors' layout, with the keys of their modules for ``config_name``."""
    layout = layout or official_layout(config_name)
    generator = torch.Generator().manual_seed(seed)
    checkpoint = {name: fake_state(layout[name], generator) for name in MODULES}
    checkpoint.update({f"optimizer_{name}": authors_optimizer_state(layout[name], lr) for name in MODULES})
    checkpoint["epoch"] = epoch
    return checkpoint


@pytest.fixture(scope="module")
def vox_models():
    torch.manual_seed(0)
    return build_models("vox-256")


def adam(models, lr=2e-4):
    return {name: torch.optim.Adam(model.parameters(), lr=lr, betas=(0.5, 0.999)) for name, model in models.items()}


def assert_state_equal(model, state):
    loaded = model.state_dict()
    assert list(loaded) == list(state)
    for key, value in state.items():
        assert torch.equal(loaded[key], value), key


# --- the authors' files -----------------------------------------------------------------------------

def test_authors_vox256_checkpoint_loads_strictly(tmp_path, vox_models):
    checkpoint = authors_checkpoint("vox-256", lr=1e-3)
    path = tmp_path / "vox-cpk.pth.tar"
    torch.save(checkpoint, path)
    optimizers = adam(vox_models)
    epoch = load_checkpoint(path, vox_models, optimizers)
    assert epoch == 7
    for name in MODULES:
        assert_state_equal(vox_models[name], checkpoint[name])
        assert optimizers[name].param_groups[0]["lr"] == 1e-3  # the file's optimiser state was applied


@pytest.mark.parametrize("zip_format", [True, False], ids=["zip", "torch-1.0-format"])
def test_inference_loads_only_what_it_is_given(tmp_path, vox_models, zip_format):
    """Also in the pre-1.6 serialisation format of the authors' torch 1.0 files."""
    checkpoint = authors_checkpoint("vox-256", seed=1)
    del checkpoint["discriminator"], checkpoint["optimizer_discriminator"]
    path = tmp_path / "inference.pth.tar"
    torch.save(checkpoint, path, _use_new_zipfile_serialization=zip_format)
    models = {name: vox_models[name] for name in ("kp_detector", "generator")}
    assert load_checkpoint(path, models) == 7
    assert_state_equal(vox_models["generator"], checkpoint["generator"])


@pytest.mark.parametrize("name", ["mgif-256", "vox-adv-256", "taichi-256"])
def test_each_authors_layout_loads_into_its_config(tmp_path, name):
    with torch.device("meta"):
        models = build_models(name)
    for model in models.values():
        model.to_empty(device="cpu")
    checkpoint = authors_checkpoint(name, seed=2)
    path = tmp_path / f"{name}.pth.tar"
    torch.save(checkpoint, path)
    load_checkpoint(path, models, strict_discriminator=True)
    for module in MODULES:
        assert_state_equal(models[module], checkpoint[module])


# --- our files ----------------------------------------------------------------------------------------

def trained_small_models(seed):
    """small-64 models and Adam optimisers after one step, so that the optimiser has moments."""
    torch.manual_seed(seed)
    models = build_models("small-64")
    optimizers = adam(models)
    for name, model in models.items():
        loss = sum((param ** 2).sum() for param in model.parameters())
        loss.backward()
        optimizers[name].step()
    return models, optimizers


def test_round_trip_keeps_weights_and_optimiser_state(tmp_path):
    models, optimizers = trained_small_models(seed=1)
    path = save_checkpoint(tmp_path / "run" / "00000004-checkpoint.pth.tar", models, optimizers, epoch=4,
                           extra={"schedulers": {"generator": {"last_epoch": 4}}})
    raw = torch.load(path, map_location="cpu", weights_only=True)
    assert set(raw) == AUTHORS_TOP_LEVEL | {"schedulers"}
    assert raw["epoch"] == 4

    fresh, fresh_optimizers = trained_small_models(seed=2)
    assert load_checkpoint(path, fresh, fresh_optimizers) == 4
    for name in MODULES:
        assert_state_equal(fresh[name], models[name].state_dict())
        saved, loaded = optimizers[name].state_dict(), fresh_optimizers[name].state_dict()
        assert saved["param_groups"] == loaded["param_groups"]
        for index, moments in saved["state"].items():
            for key, value in moments.items():
                assert torch.equal(loaded["state"][index][key], value), (name, index, key)
    assert not [p for p in path.parent.iterdir() if p.name.endswith(".tmp")]


def test_round_trip_gives_the_same_outputs(tmp_path):
    models, _ = trained_small_models(seed=8)
    path = save_checkpoint(tmp_path / "small.pth.tar", models)
    fresh, _ = trained_small_models(seed=9)
    load_checkpoint(path, fresh)
    images = torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    outputs = []
    with torch.no_grad():
        for candidate in (models, fresh):
            for model in candidate.values():
                model.eval()
            kp_source = candidate["kp_detector"](images[:1])
            kp_driving = candidate["kp_detector"](images[1:])
            prediction = candidate["generator"](images[:1], kp_driving=kp_driving, kp_source=kp_source)["prediction"]
            outputs.append(torch.cat([kp_driving["value"].flatten(), kp_driving["jacobian"].flatten(),
                                      prediction.flatten()]))
    assert torch.equal(outputs[0], outputs[1])


def test_wrapped_models_are_saved_without_prefix(tmp_path):
    models, _ = trained_small_models(seed=3)
    wrapped = {name: torch.nn.DataParallel(model) for name, model in models.items()}
    path = save_checkpoint(tmp_path / "wrapped.pth.tar", wrapped)
    raw = torch.load(path, map_location="cpu", weights_only=True)
    assert list(raw["generator"]) == list(models["generator"].state_dict())
    load_checkpoint(path, wrapped)


def test_a_failed_write_keeps_the_previous_file(tmp_path, monkeypatch):
    models, _ = trained_small_models(seed=4)
    path = save_checkpoint(tmp_path / "last.pth.tar", models, epoch=1)
    before = path.read_bytes()

    def save_then_die(obj, file):
        file.write(b"half a checkpoint")
        raise KeyboardInterrupt

    monkeypatch.setattr(torch, "save", save_then_die)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(path, models, epoch=2)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["last.pth.tar"]


# --- errors ---------------------------------------------------------------------------------------

def small_checkpoint_file(tmp_path):
    models, optimizers = trained_small_models(seed=5)
    return save_checkpoint(tmp_path / "small.pth.tar", models, optimizers, epoch=3), models


def test_missing_file(tmp_path):
    with pytest.raises(FommTeachError, match="not found") as info:
        load_checkpoint(tmp_path / "nope.pth.tar", {})
    assert "nope.pth.tar" in str(info.value)


@pytest.mark.parametrize("keep", [0, 100, 0.5])
def test_truncated_file_gives_a_clear_error(tmp_path, keep):
    path, models = small_checkpoint_file(tmp_path)
    data = path.read_bytes()
    size = keep if isinstance(keep, int) else int(len(data) * keep)
    path.write_bytes(data[:size])
    with pytest.raises(FommTeachError, match="empty|truncated or corrupt") as info:
        load_checkpoint(path, models)
    assert str(path) in str(info.value)
    error = info.value  # shown without the zip reader's or unpickler's traceback
    assert error.__cause__ is None and (error.__context__ is None or error.__suppress_context__)


def test_file_that_is_not_a_checkpoint(tmp_path):
    path = tmp_path / "notes.pth.tar"
    path.write_text("this is not a checkpoint\n" * 20)
    with pytest.raises(FommTeachError, match="truncated or corrupt"):
        load_checkpoint(path, {})


class Payload:
    """Stands for arbitrary pickled objects, which weights_only loading refuses to run."""


def test_pickled_objects_are_refused(tmp_path):
    path = tmp_path / "objects.pth.tar"
    torch.save({"generator": Payload(), "epoch": 1}, path)
    with pytest.raises(FommTeachError, match="weights_only") as info:
        load_checkpoint(path, {})
    assert "Payload" in str(info.value)


def test_bare_state_dict_is_explained(tmp_path):
    models, _ = trained_small_models(seed=6)
    path = tmp_path / "generator-only.pth"
    torch.save(models["generator"].state_dict(), path)
    with pytest.raises(FommTeachError, match="no 'generator' entry"):
        load_checkpoint(path, {"generator": models["generator"]})


def test_mgif_file_into_vox_models_names_mgif(tmp_path, vox_models):
    path = tmp_path / "mgif-cpk.pth.tar"
    torch.save(authors_checkpoint("mgif-256"), path)
    with pytest.raises(FommTeachError) as info:
        load_checkpoint(path, vox_models)
    message = str(info.value)
    assert "jacobian.weight (4, 35, 7, 7) in the file, (40, 35, 7, 7) in the model" in message
    assert "looks like it was trained with mgif-256:" in message and "single_jacobian_map: True" in message


def test_small_file_into_vox_models_names_small_config(tmp_path, vox_models):
    path, _ = small_checkpoint_file(tmp_path)
    with pytest.raises(FommTeachError) as info:
        load_checkpoint(path, vox_models)
    message = str(info.value)
    assert "trained with small-64" in message
    assert "... and" in message  # long key lists are cut to a readable length
    assert len(message.splitlines()) < 40


def test_adv_discriminator_is_skipped_with_a_warning(tmp_path, vox_models):
    """vox-adv-256 from vox-256 weights: the authors' fine-tuning path (discriminator sees keypoints)."""
    path = tmp_path / "vox-adv.pth.tar"
    checkpoint = authors_checkpoint("vox-adv-256", seed=3, lr=1e-3)
    torch.save(checkpoint, path)
    before = {key: value.clone() for key, value in vox_models["discriminator"].state_dict().items()}
    optimizers = adam(vox_models, lr=2e-4)
    with pytest.warns(UserWarning, match="discriminator not loaded"):
        load_checkpoint(path, vox_models, optimizers)
    assert_state_equal(vox_models["discriminator"], before)
    assert_state_equal(vox_models["generator"], checkpoint["generator"])
    assert optimizers["generator"].param_groups[0]["lr"] == 1e-3
    assert optimizers["discriminator"].param_groups[0]["lr"] == 2e-4  # its state was not loaded either

    with pytest.raises(FommTeachError) as info:
        load_checkpoint(path, vox_models, strict_discriminator=True)
    message = str(info.value)
    assert "vox-adv-256" in message and "taichi-adv-256" in message and "use_kp" in message


def test_renamed_key_lists_missing_and_unexpected(tmp_path, vox_models):
    checkpoint = authors_checkpoint("vox-256", seed=4)
    kp_state = checkpoint["kp_detector"]
    kp_state["keypoint_head.weight"] = kp_state.pop("kp.weight")
    path = tmp_path / "renamed.pth.tar"
    torch.save(checkpoint, path)
    with pytest.raises(FommTeachError) as info:
        load_checkpoint(path, {"kp_detector": vox_models["kp_detector"]})
    message = str(info.value)
    assert "missing from the file (1):\n    kp.weight" in message
    assert "unexpected in the file (1):\n    keypoint_head.weight" in message
    assert "the closest is bair-256 / nemo-256 / vox-256 (2 keys differ)" in message


def test_data_parallel_prefix_is_explained(tmp_path):
    models, _ = trained_small_models(seed=11)
    path = tmp_path / "prefixed.pth.tar"
    torch.save({name: torch.nn.DataParallel(model).state_dict() for name, model in models.items()}, path)
    with pytest.raises(FommTeachError, match="Every key starts with 'module.'"):
        load_checkpoint(path, models)


def test_optimiser_state_of_another_model_is_refused(tmp_path):
    path, models = small_checkpoint_file(tmp_path)
    checkpoint = torch.load(path, weights_only=True)
    checkpoint["optimizer_generator"] = checkpoint["optimizer_kp_detector"]
    torch.save(checkpoint, path)
    with pytest.raises(FommTeachError, match="optimizer_generator"):
        load_checkpoint(path, models, adam(models))


def test_missing_optimiser_state_cannot_resume(tmp_path):
    models, _ = trained_small_models(seed=7)
    path = save_checkpoint(tmp_path / "weights.pth.tar", models)
    with pytest.raises(FommTeachError, match="cannot resume"):
        load_checkpoint(path, models, adam(models))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert load_checkpoint(path, models) == 0


def test_spec_layout_helper_agrees_for_small_files(tmp_path):
    """The small-64 file holds exactly the spec-derived small-64 layout (names and shapes)."""
    path, _ = small_checkpoint_file(tmp_path)
    raw = torch.load(path, weights_only=True)
    expected = spec_layout(load_config("small-64")["model_params"])
    for name in MODULES:
        assert {key: tuple(value.shape) for key, value in raw[name].items()} == expected[name]


def test_extra_entries_must_load_with_weights_only(tmp_path):
    models, _ = trained_small_models(seed=10)
    with pytest.raises(FommTeachError, match=r"extra\['schedulers'\]\['generator'\] is a Payload"):
        save_checkpoint(tmp_path / "x.pth.tar", models, extra={"schedulers": {"generator": Payload()}})
    assert not list(tmp_path.iterdir())


def test_unknown_model_name(tmp_path):
    with pytest.raises(FommTeachError, match="names are"):
        save_checkpoint(tmp_path / "x.pth.tar", {"keypoints": torch.nn.Linear(1, 1)})
