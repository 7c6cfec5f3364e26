"""Several processes through ``torch.distributed``: what ``torchrun -m fomm_teach train ...`` needs.

:func:`fomm_teach.train.train` calls :func:`session` around a run. With ``WORLD_SIZE`` > 1 in the
environment (torchrun sets it, with ``RANK``, ``LOCAL_RANK``, ``MASTER_ADDR`` and ``MASTER_PORT``)
it starts the process group (nccl on CUDA, gloo on the CPU) and yields a :class:`Distributed`;
otherwise it yields None and nothing changes. In a distributed run:

- each process trains on ``batch_size / WORLD_SIZE`` pairs of every batch, so the config's
  ``batch_size`` stays the batch of one optimiser step, as with the authors' DataParallel;
- the three networks are wrapped in DistributedDataParallel (gradients averaged over the
  processes; rank 0's weights broadcast at the start, so every replica starts equal), and on CUDA
  their BatchNorm layers become ``nn.SyncBatchNorm``: statistics over the whole batch, as the
  authors' synchronised BatchNorm. PyTorch's SyncBatchNorm runs on GPUs only; on the CPU (gloo,
  for tests) each process normalises with its own part of the batch and DDP copies rank 0's
  running statistics to the others at every forward pass;
- only rank 0 writes (run folder, ``log.txt``, pictures, checkpoints) and shows progress; the
  logged losses are averaged over the processes. A checkpoint holds the unwrapped networks' state
  dicts, so it is the same file one process writes (SyncBatchNorm has BatchNorm2d's keys).
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn

from fomm_teach.errors import FommTeachError


@dataclass
class Distributed:
    """Where this process stands in a distributed run."""

    rank: int
    world_size: int
    local_rank: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def world_size_from_env() -> int:
    """``WORLD_SIZE`` from the environment (1 when unset)."""
    value = os.environ.get("WORLD_SIZE", "1")
    try:
        return int(value)
    except ValueError:
        raise FommTeachError(f"WORLD_SIZE={value!r} in the environment is not a whole number.") from None


def is_main_process() -> bool:
    """True unless this is a process of rank > 0 of a torchrun launch (``RANK`` in the environment)."""
    return int(os.environ.get("RANK", "0") or 0) == 0


@contextlib.contextmanager
def session(device):
    """Yield a :class:`Distributed` when ``WORLD_SIZE`` > 1 (starting the process group if needed), else None.

    device: the device asked for; on CUDA each process takes ``cuda:LOCAL_RANK``. A group this
    function started is destroyed on exit.
    """
    world_size = world_size_from_env()
    if world_size <= 1:
        yield None
        return
    if not dist.is_available():
        raise FommTeachError("WORLD_SIZE > 1 but this torch was built without torch.distributed.")
    device = torch.device(device)
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if device.type == "cuda":
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    started = not dist.is_initialized()
    if started:
        missing = [name for name in ("RANK", "MASTER_ADDR", "MASTER_PORT") if name not in os.environ]
        if missing:
            raise FommTeachError(f"WORLD_SIZE={world_size} but {', '.join(missing)} not set; start the "
                                 "processes with torchrun (torchrun --nproc_per_node=N -m fomm_teach train ...).")
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    try:
        yield Distributed(rank=dist.get_rank(), world_size=dist.get_world_size(), local_rank=local_rank,
                          device=device)
    finally:
        if started and dist.is_initialized():
            dist.destroy_process_group()


class DistributedModule(nn.parallel.DistributedDataParallel):
    """DistributedDataParallel that also answers the wrapped network's attributes (``num_channels``,
    ``scales``, ``align_corners``, ...), which the full models of chapter 05 read."""

    def __getattr__(self, name):
        try:
            return super().__getattr__(name)
        except AttributeError:
            return getattr(self.module, name)


def wrap_models(models: dict, distributed: Distributed) -> dict:
    """``models`` converted in place (SyncBatchNorm on CUDA) and wrapped in :class:`DistributedModule`.

    Returns the wrapped networks under the same names; ``models`` keeps the unwrapped ones (the
    optimisers and checkpoints use those: same parameters, no ``module.`` prefix).
    """
    wrapped = {}
    for name, model in models.items():
        if distributed.device.type == "cuda":
            model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
            models[name] = model
        device_ids = [distributed.device.index] if distributed.device.type == "cuda" else None
        wrapped[name] = DistributedModule(model, device_ids=device_ids)
    return wrapped


def per_process_batch_size(batch_size: int, world_size: int) -> int:
    """``batch_size / world_size``; raises FommTeachError when it does not divide."""
    if batch_size % world_size:
        raise FommTeachError(f"train_params.batch_size {batch_size} does not split over {world_size} processes; "
                             f"use a multiple of {world_size} (each process trains on batch_size / {world_size}).")
    return batch_size // world_size


def shared_seed(distributed: Distributed | None) -> int:
    """A seed drawn from torch's generator on rank 0 and given to every process (data order)."""
    seed = torch.randint(0, 2 ** 62, (), dtype=torch.int64)
    if distributed is not None:
        seed = seed.to(distributed.device)
        dist.broadcast(seed, src=0)
    return int(seed)


def average_losses(losses: dict, distributed: Distributed) -> dict:
    """{name: float} averaged over the processes (every process gets the same numbers)."""
    values = torch.tensor(list(losses.values()), dtype=torch.float64, device=distributed.device)
    dist.all_reduce(values)
    return dict(zip(losses, (values / distributed.world_size).tolist()))


def any_process(flag: bool, distributed: Distributed | None) -> bool:
    """True on every process when ``flag`` is true on any (e.g. a callback on rank 0 asked to stop)."""
    if distributed is None:
        return flag
    value = torch.tensor([int(bool(flag))], device=distributed.device)
    dist.all_reduce(value)
    return bool(value.item())


def barrier(distributed: Distributed | None) -> None:
    if distributed is not None:
        dist.barrier()
