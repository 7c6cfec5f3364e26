"""Training with several processes (torch.distributed, gloo on the CPU): replicas stay equal, rank 0 writes.

What ``torchrun --nproc_per_node=N -m fomm_teach train ...`` runs, started here with
``torch.multiprocessing.spawn`` and the environment torchrun would set.
"""

import socket

import pytest
import torch
import torch.multiprocessing as mp
from torch import nn

from fomm_teach.checkpoint import MODEL_NAMES, load_trained_models, read_checkpoint
from fomm_teach.config import load_config
from fomm_teach.errors import FommTeachError
from fomm_teach.models import build_models
from fomm_teach.train import SyntheticBatches, parse_log, train

WORLD_SIZE = 2


def tiny_config(num_epochs=2):
    """synthetic-fast shrunk: 2 steps of 4 pairs (2 per process) per epoch."""
    config = load_config("synthetic-fast")
    config["dataset_params"]["synthetic_params"]["num_videos"] = 8
    config["dataset_params"]["curriculum"] = {"level": [[0, "rigid"], [1, "windmill"]], "max_gap": 2,
                                              "affine_warmup": {"epochs": 1, "sigma": 0.05}}
    config["train_params"].update(num_epochs=num_epochs, batch_size=4, checkpoint_freq=1)
    return config


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def worker(rank, port, out_dir, results_dir):
    import os

    os.environ.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(WORLD_SIZE), MASTER_ADDR="127.0.0.1",
                      MASTER_PORT=str(port))
    torch.set_num_threads(1)
    torch.manual_seed(100 + rank)   # different initial weights: DDP must start every replica from rank 0's
    result = train(tiny_config(), out_dir, device="cpu", progress=False)
    state = {name: {key: value for key, value in result["models"][name].named_parameters()} for name in MODEL_NAMES}
    torch.save({"parameters": state, "log": result["log"], "checkpoint": str(result["checkpoint"])},
               f"{results_dir}/rank{rank}.pt")


def test_two_processes_keep_equal_replicas_and_write_one_run(tmp_path):
    out_dir, results = tmp_path / "run", tmp_path / "results"
    results.mkdir()
    mp.spawn(worker, args=(free_port(), str(out_dir), str(results)), nprocs=WORLD_SIZE, join=True)
    ranks = [torch.load(results / f"rank{rank}.pt", weights_only=True) for rank in range(WORLD_SIZE)]

    for name in MODEL_NAMES:   # the replicas are the same network after every step
        for key, value in ranks[0]["parameters"][name].items():
            assert torch.equal(value, ranks[1]["parameters"][name][key]), f"{name}.{key}"
    # every process logs the losses averaged over the processes
    assert [epoch for epoch, _ in ranks[0]["log"]] == [0, 1]
    assert ranks[0]["log"] == ranks[1]["log"]

    # rank 0 wrote one run: one log line per epoch, checkpoints in the one-process format
    assert [epoch for epoch, _ in parse_log(out_dir / "log.txt")] == [0, 1]
    assert sorted(path.name for path in out_dir.glob("*-checkpoint.pth.tar")) == [
        "00000000-checkpoint.pth.tar", "00000001-checkpoint.pth.tar"]
    assert sorted(path.name for path in (out_dir / "train-vis").iterdir()) == ["00000000-rec.png", "00000001-rec.png"]
    checkpoint = read_checkpoint(out_dir / "00000001-checkpoint.pth.tar")
    assert not any(key.startswith("module.") for name in MODEL_NAMES for key in checkpoint[name])
    assert ranks[0]["checkpoint"] == ranks[1]["checkpoint"] == str(out_dir / "00000001-checkpoint.pth.tar")

    # ... and it loads in a single process, with the replicas' weights
    models = load_trained_models(out_dir / "00000001-checkpoint.pth.tar", tiny_config())
    for name in ("kp_detector", "generator"):
        for key, value in models[name].named_parameters():
            assert torch.equal(value, ranks[0]["parameters"][name][key]), f"{name}.{key}"


def test_each_process_renders_its_share_of_one_shared_batch_order():
    config = tiny_config()
    dataset_params, train_params = config["dataset_params"], config["train_params"]
    torch.manual_seed(0)
    one = [batch["source"] for batch in SyntheticBatches(dataset_params, train_params, world_size=1).epoch(1)]
    shares = []
    for rank in range(WORLD_SIZE):
        torch.manual_seed(0)   # the pairs' frames come from the global generator, the order from the seed
        batches = SyntheticBatches(dataset_params, train_params, rank=rank, world_size=WORLD_SIZE, seed=7)
        assert batches.steps_per_epoch() == len(one)
        shares.append([batch["source"] for batch in batches.epoch(1)])
    for step in range(len(one)):
        assert shares[0][step].shape[0] == shares[1][step].shape[0] == train_params["batch_size"] // WORLD_SIZE
        assert not torch.equal(shares[0][step], shares[1][step])   # different pairs on each process


def test_a_batch_that_does_not_split_over_the_processes_is_refused():
    from fomm_teach.distributed import per_process_batch_size

    assert per_process_batch_size(8, 2) == 4
    with pytest.raises(FommTeachError, match="batch_size 5 does not split over 2 processes"):
        per_process_batch_size(5, 2)


def test_sync_batchnorm_keeps_the_checkpoint_keys():
    """On a GPU the networks' BatchNorm layers become SyncBatchNorm: same state-dict keys, same file format."""
    models = build_models(tiny_config())
    for name, model in models.items():
        keys = list(model.state_dict())
        converted = nn.SyncBatchNorm.convert_sync_batchnorm(model)
        assert list(converted.state_dict()) == keys, name
    assert any(isinstance(module, nn.SyncBatchNorm) for module in models["generator"].modules())


def test_a_dataset_is_shared_out_by_a_distributed_sampler_reshuffled_each_epoch(tmp_path):
    from fomm_teach.data import write_synthetic_dataset
    from fomm_teach.train import FramesBatches

    write_synthetic_dataset(tmp_path / "data", level="rigid", num_train=4, num_test=1, size=32, num_frames=6)
    dataset_params = {"root_dir": str(tmp_path / "data"), "frame_shape": [32, 32, 3], "id_sampling": False}
    train_params = {"batch_size": 4, "num_repeats": 2}
    one = FramesBatches(dataset_params, train_params)
    shares = [FramesBatches(dataset_params, train_params, rank=rank, world_size=WORLD_SIZE, seed=3)
              for rank in range(WORLD_SIZE)]
    for batches in shares:
        assert batches.loader.batch_size == 2 and batches.steps_per_epoch() == one.steps_per_epoch() == 2
    orders = {}
    for epoch in (0, 1):
        for batches in shares:
            batches.sampler.set_epoch(epoch)
        orders[epoch] = [list(batches.sampler) for batches in shares]
        assert sorted(orders[epoch][0] + orders[epoch][1]) == list(range(8))   # disjoint, all of the pairs
    assert orders[0] != orders[1]   # set_epoch reshuffles
    x = next(shares[1].epoch(1))
    assert x["source"].shape == x["driving"].shape == (2, 3, 32, 32)
