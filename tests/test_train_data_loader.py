"""The authors' DataLoader for dataset folders: num_repeats passes, shuffled, drop_last, 6 workers, pinned on CUDA."""

import os

import pytest
import torch

from fomm_teach.config import load_config
from fomm_teach.data import write_synthetic_dataset
from fomm_teach.train import AUTHORS_NUM_WORKERS, FramesBatches, loader_workers, make_batches
from one_thread import one_thread  # noqa: F401  (autouse: every test here runs on one torch thread)

SIZE = 32


@pytest.fixture
def dataset_params(tmp_path):
    write_synthetic_dataset(tmp_path / "data", "rigid", "folder", num_train=4, num_test=1, size=SIZE, num_frames=4)
    return {"root_dir": str(tmp_path / "data"), "frame_shape": [SIZE, SIZE, 3], "id_sampling": False}


def test_workers_default_to_the_authors_six_at_most_the_cpus(monkeypatch):
    assert AUTHORS_NUM_WORKERS == 6   # fomm-spec §7: DataLoader(..., num_workers=6)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(16)), raising=False)
    assert loader_workers({}) == 6
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1}, raising=False)
    assert loader_workers({}) == 2
    assert loader_workers({"num_workers": 0}) == 0 and loader_workers({"num_workers": 9}) == 9   # asked: as asked


def test_frames_batches_load_as_the_authors_did(dataset_params):
    batches = FramesBatches(dataset_params, {"batch_size": 3, "num_repeats": 5})
    loader = batches.loader
    assert len(loader.dataset) == 5 * 4 == batches.pairs_per_epoch()   # DatasetRepeater: 5 passes over 4 videos
    assert loader.drop_last and batches.steps_per_epoch() == 20 // 3
    assert isinstance(loader.sampler, torch.utils.data.RandomSampler)   # shuffle=True
    assert loader.num_workers == loader_workers({}) and not loader.pin_memory   # no pinned memory on the CPU
    epoch = list(batches.epoch(0))   # through the worker processes
    assert len(epoch) == 6 and all(x["source"].shape == x["driving"].shape == (3, 3, SIZE, SIZE) for x in epoch)
    # random frames of shuffled videos: the 18 pairs are not a handful repeated
    pairs = {x["source"][i].numpy().tobytes() + x["driving"][i].numpy().tobytes() for x in epoch for i in range(3)}
    assert len(pairs) > 6


def test_memory_is_pinned_for_a_cuda_device_only(dataset_params):
    train_params = {"batch_size": 2, "num_workers": 0}
    assert FramesBatches(dataset_params, train_params, device="cuda").loader.pin_memory   # built, not iterated
    assert not FramesBatches(dataset_params, train_params, device="cpu").loader.pin_memory


@pytest.mark.parametrize("name", ["vox-256", "taichi-256", "mgif-256"])
def test_the_authors_configs_get_their_loader(name, tmp_path):
    write_synthetic_dataset(tmp_path / "data", "rigid", "mp4", num_train=6, num_test=1, size=SIZE, num_frames=3,
                            clips_per_id=2)
    config = load_config(name, for_training=True)
    config["dataset_params"]["root_dir"] = str(tmp_path / "data")
    batches = make_batches(config)
    train_params = config["train_params"]
    videos = 3 if config["dataset_params"].get("id_sampling") else 6   # id_sampling: one item per identity
    assert len(batches.loader.dataset) == train_params["num_repeats"] * videos
    assert batches.loader.batch_size == train_params["batch_size"] and batches.loader.drop_last
    assert batches.loader.num_workers == loader_workers({})
