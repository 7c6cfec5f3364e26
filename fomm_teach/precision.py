"""Mixed precision, memory layout and compilation for training: ``--precision fp32|bf16|fp16``,
``--channels-last`` and ``--compile``.

All three keep the math: the same networks, losses and optimiser, only the arithmetic changes.

- ``bf16`` / ``fp16``: the three networks (and the perceptual VGG) run under ``torch.autocast``, so
  their convolutions and matrix products use 16-bit floats, and their outputs are handed back in
  fp32. Everything the full models compute *between* the networks stays in fp32: the image pyramid,
  the equivariance transform with its ``torch.inverse`` and Jacobians, and every loss. We do this
  by wrapping each network (:class:`Autocast`) rather than the whole full model, so no loss code
  needs to know about precision.
- ``fp16`` has a narrow range (largest 65504, smallest normal 6·10⁻⁵), so its gradients can
  underflow: it trains with a ``torch.amp.GradScaler`` (the loss is multiplied before backward, the
  gradients divided back before the step, and a step with inf gradients is skipped). ``bf16`` has
  fp32's range and needs none; it needs a GPU that supports it (Ampere or later; Colab's T4 does
  not, use fp16 there). On the CPU both run, slowly: they are there for tests.
- ``channels_last``: the networks' weights and the input frames are stored NHWC, the layout that
  tensor cores and oneDNN prefer. Same values, different order in memory.
- ``compile``: each network of the training step (and the perceptual VGG) goes through
  ``torch.compile``, which traces it once and generates fused kernels. The first iterations are
  slow (compilation: minutes for the 256×256 networks); after that a GPU step is faster. On the
  CPU it rarely pays off, so it warns. The optimisers and checkpoints keep the uncompiled modules,
  so a checkpoint has the same keys as without ``--compile`` (no ``_orig_mod.`` prefix).
"""

from __future__ import annotations

import warnings

import torch
from torch import nn

from fomm_teach.errors import FommTeachError

PRECISIONS = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


def check_precision(precision: str, device) -> torch.dtype:
    """The dtype of ``precision`` ('fp32', 'bf16', 'fp16'); FommTeachError if unknown or unsupported on ``device``."""
    if precision not in PRECISIONS:
        raise FommTeachError(f"precision {precision!r}: use one of {', '.join(PRECISIONS)}.")
    device = torch.device(device)
    if precision == "bf16" and device.type == "cuda" and not torch.cuda.is_bf16_supported():
        name = torch.cuda.get_device_name(device)
        raise FommTeachError(f"precision bf16: {name} does not support bfloat16; use --precision fp16 "
                             "(with a gradient scaler) or fp32.")
    return PRECISIONS[precision]


def to_float32(value):
    """``value`` with every floating tensor in it (dicts, lists, tuples) turned to fp32."""
    if isinstance(value, torch.Tensor):
        return value.float() if value.is_floating_point() else value
    if isinstance(value, dict):
        return {key: to_float32(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(to_float32(item) for item in value)
    return value


class Autocast(nn.Module):
    """Run ``module`` under ``torch.autocast(device_type, dtype)`` and hand its outputs back in fp32.

    Attributes the full models read (``num_channels``, ``scales``, ``align_corners``) are the module's.
    """

    def __init__(self, module: nn.Module, device_type: str, dtype: torch.dtype):
        super().__init__()
        self.module = module
        self.device_type = device_type
        self.dtype = dtype

    def forward(self, *args, **kwargs):
        with torch.autocast(self.device_type, dtype=self.dtype):
            output = self.module(*args, **kwargs)
        return to_float32(output)

    def __getattr__(self, name):
        try:
            return super().__getattr__(name)
        except AttributeError:
            return getattr(self.module, name)


def autocast_networks(networks: dict, precision: str, device) -> dict:
    """``networks`` wrapped in :class:`Autocast` for bf16 / fp16 (unchanged for fp32)."""
    dtype = check_precision(precision, device)
    if dtype == torch.float32:
        return networks
    return {name: Autocast(network, torch.device(device).type, dtype) for name, network in networks.items()}


def autocast_vgg(generator_full: nn.Module, precision: str, device) -> None:
    """Run the perceptual network of a GeneratorFullModel under autocast too (in place), if it has one."""
    dtype = check_precision(precision, device)
    if dtype != torch.float32 and isinstance(getattr(generator_full, "vgg", None), nn.Module):
        generator_full.vgg = Autocast(generator_full.vgg, torch.device(device).type, dtype)


def grad_scaler(precision: str, device):
    """A ``torch.amp.GradScaler`` for fp16, else None."""
    if precision != "fp16":
        return None
    return torch.amp.GradScaler(torch.device(device).type)


def to_channels_last(x: dict) -> dict:
    """The batch {'source', 'driving'} with its frames in channels-last memory order."""
    return {key: value.contiguous(memory_format=torch.channels_last) for key, value in x.items()}


def compile_networks(networks: dict, device, backend: str = "inductor") -> dict:
    """``networks`` each through ``torch.compile(network, backend=backend)``; warns on the CPU.

    Each result wraps its network (same parameters; attributes answered by the network), so the
    optimisers and checkpoints keep using the uncompiled modules. backend: ``inductor`` (what
    ``--compile`` uses), or e.g. ``aot_eager``, which traces forward and backward like inductor
    but generates no kernels (for tests: seconds instead of minutes on a CPU).
    """
    if torch.device(device).type == "cpu" and backend == "inductor":
        warnings.warn("--compile on the CPU rarely makes training faster, and the first step compiles for "
                      "minutes; it is meant for GPUs.", stacklevel=2)
    return {name: torch.compile(network, backend=backend) for name, network in networks.items()}


def compile_vgg(generator_full: nn.Module, backend: str = "inductor") -> None:
    """Compile the perceptual network of a GeneratorFullModel too (in place), if it has one."""
    if isinstance(getattr(generator_full, "vgg", None), nn.Module):
        generator_full.vgg = torch.compile(generator_full.vgg, backend=backend)
