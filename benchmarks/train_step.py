"""How fast is one training iteration? Images per second and peak memory (no assertions).

    python benchmarks/train_step.py [--config vox-256] [--batch-size 4] [--image-size 256]
        [--precision fp32,bf16,fp16] [--channels-last off,on] [--compile off,on]
        [--warmup 2] [--iterations 5] [--device cuda|cpu] [--count]

One iteration is what ``fomm-teach train`` runs per batch (``fomm_teach.train.train_step``): the
generator's losses, backward, the generator's and keypoint detector's Adam steps, and the
discriminator's step when the config's GAN is on, with the options of ``fomm-teach train``
(``--precision``, ``--channels-last``, ``--compile``) applied by the same library functions.
The frames are random tensors already on the device, so data loading is not measured. The
perceptual VGG19 has random weights (``perceptual_backbone: random``: same layers and cost as the
ImageNet weights, which would need a download).

Each variant runs in a fresh process (so compilation caches and memory peaks do not leak from one
variant to the next): ``--warmup`` iterations (with ``--compile`` the first one compiles), then
``--iterations`` timed ones. Printed per variant: images/s, milliseconds per iteration, the speed
relative to the first variant (fp32, channels-first, eager), the peak memory (on CUDA
``torch.cuda.max_memory_allocated``; on the CPU the process's peak resident size, which includes
Python and torch themselves) and the mean ``l1_pyramid`` / ``perceptual`` loss of the timed
iterations (same weights and batch in every variant: the losses of bf16 / fp16 should sit near fp32's).

``--count`` prints instead what does not depend on the device, from one fp32 iteration at batch 1
on the CPU: the floating-point operations of forward + backward (torch's FlopCounterMode: convolutions
and matrix products, 2 per multiply-add), the bytes of the tensors autograd saves for backward
(activation memory per image, fp32), and the bytes of weights, gradients and Adam's two moments.
These are the inputs of the estimates in notebooks/08_gpu_training.py.
"""

from __future__ import annotations

import argparse
import copy
import itertools
import json
import os
import platform
import resource
import subprocess
import sys
import time

import torch

from fomm_teach.config import load_config
from fomm_teach.losses import DiscriminatorFullModel, GeneratorFullModel
from fomm_teach.machine import cpu_model
from fomm_teach.models import build_models
from fomm_teach.precision import (autocast_networks, autocast_vgg, compile_networks, compile_vgg, grad_scaler,
                                  to_channels_last)
from fomm_teach.train import build_optimizers, train_step


def benchmark_config(name, image_size):
    """The config with random VGG weights and, if asked, another frame size (the networks are convolutional)."""
    config = copy.deepcopy(load_config(name, for_training=True))
    config["train_params"]["perceptual_backbone"] = "random"
    if image_size:
        config["dataset_params"]["frame_shape"] = [image_size, image_size, 3]
    return config


def random_batch(config, batch_size, device):
    size = config["dataset_params"]["frame_shape"][0]
    generator = torch.Generator().manual_seed(1)
    return {key: torch.rand(batch_size, 3, size, size, generator=generator).to(device) for key in ("source", "driving")}


def build_step(config, device, precision, channels_last, compiled):
    """(models, generator_full, discriminator_full, optimizers, scaler) wired as fomm_teach.train does."""
    torch.manual_seed(0)
    models = build_models(config, device=device)
    if channels_last:
        for model in models.values():
            model.to(memory_format=torch.channels_last)
    networks = autocast_networks(models, precision, device)
    if compiled:
        networks = compile_networks(networks, device)
    train_params = config["train_params"]
    generator_full = GeneratorFullModel(networks["kp_detector"], networks["generator"], networks["discriminator"],
                                        train_params).to(device)
    discriminator_full = DiscriminatorFullModel(networks["kp_detector"], networks["generator"],
                                                networks["discriminator"], train_params).to(device)
    autocast_vgg(generator_full, precision, device)
    if compiled:
        compile_vgg(generator_full)
    return models, generator_full, discriminator_full, build_optimizers(models, train_params), grad_scaler(precision, device)


def synchronize(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def run_variant(args, precision, channels_last, compiled):
    """Time one variant in this process; returns a dict of its numbers."""
    import warnings

    warnings.filterwarnings("ignore", message="--compile on the CPU")
    device = torch.device(args.device)
    config = benchmark_config(args.config, args.image_size)
    _, generator_full, discriminator_full, optimizers, scaler = build_step(config, device, precision, channels_last,
                                                                           compiled)
    x = random_batch(config, args.batch_size, device)
    if channels_last:
        x = to_channels_last(x)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    started = time.perf_counter()
    for _ in range(args.warmup):
        train_step(generator_full, discriminator_full, optimizers, x, scaler)
    synchronize(device)
    warmup_s = time.perf_counter() - started
    torch.manual_seed(2)   # the same equivariance transforms in every variant
    losses = []
    started = time.perf_counter()
    for _ in range(args.iterations):
        losses.append(train_step(generator_full, discriminator_full, optimizers, x, scaler)[0])
    synchronize(device)
    seconds = time.perf_counter() - started
    if device.type == "cuda":
        peak = torch.cuda.max_memory_allocated(device)
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024   # kilobytes on Linux
    mean = {name: sum(step[name] for step in losses) / len(losses) for name in losses[0]}
    return {"images_per_s": args.batch_size * args.iterations / seconds, "ms_per_iteration": 1000 * seconds /
            args.iterations, "warmup_s": warmup_s, "peak_bytes": peak, "losses": mean}


def count(args):
    """FLOPs and memory of one fp32 iteration at batch 1 on the CPU (device-independent quantities)."""
    from torch.utils.flop_counter import FlopCounterMode

    config = benchmark_config(args.config, args.image_size)
    models, generator_full, discriminator_full, optimizers, _ = build_step(config, torch.device("cpu"), "fp32",
                                                                           False, False)
    x = random_batch(config, 1, "cpu")
    saved = {}

    def pack(tensor):
        storage = tensor.untyped_storage()
        saved[storage.data_ptr()] = storage.nbytes()
        return tensor

    counter = FlopCounterMode(display=False)
    with counter, torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        train_step(generator_full, discriminator_full, optimizers, x)
    parameters = sum(p.numel() for model in models.values() for p in model.parameters())
    trained = sum(p.numel() for name in ("generator", "kp_detector") for p in models[name].parameters())
    gan = config["train_params"]["loss_weights"]["generator_gan"] != 0
    return {"flops_per_image": counter.get_total_flops(), "saved_bytes_per_image": sum(saved.values()),
            "parameters": parameters, "parameters_stepped": parameters if gan else trained,
            "frame": config["dataset_params"]["frame_shape"][0], "gan": gan}


def machine(device):
    """One line naming the machine: the GPU, or the CPU model and cores; torch's version; the load."""
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        what = f"GPU {props.name} ({props.total_memory / 2 ** 30:.0f} GiB, compute capability {props.major}.{props.minor})"
    else:
        what = f"CPU {cpu_model()}, {os.cpu_count()} cores, {torch.get_num_threads()} torch threads"
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return f"{what} | torch {torch.__version__} | python {platform.python_version()} | load average {load:.1f}"


def choices(text, allowed):
    values = [value.strip() for value in text.split(",") if value.strip()]
    unknown = [value for value in values if value not in allowed]
    if unknown or not values:
        raise argparse.ArgumentTypeError(f"choose from {', '.join(allowed)}, comma-separated")
    return values


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="vox-256", help="shipped config name or YAML path (default vox-256)")
    parser.add_argument("--batch-size", type=int, default=None, help="default: the config's on CUDA, 2 on the CPU")
    parser.add_argument("--image-size", type=int, default=None,
                        help="frame side instead of the config's (the authors' configs need >= 128: the VGG "
                        "sees the 1/8 pyramid level)")
    parser.add_argument("--precision", type=lambda text: choices(text, ("fp32", "bf16", "fp16")), default="fp32,bf16,fp16")
    parser.add_argument("--channels-last", type=lambda text: choices(text, ("off", "on")), default="off,on")
    parser.add_argument("--compile", type=lambda text: choices(text, ("off", "on")), default="off",
                        help="off,on to include torch.compile (minutes of compilation per variant)")
    parser.add_argument("--warmup", type=int, default=None, help="untimed iterations (default 1 on the CPU, 3 on CUDA)")
    parser.add_argument("--iterations", type=int, default=None, help="timed iterations (default 3 on the CPU, 20 on CUDA)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--count", action="store_true", help="print FLOPs and memory per image instead of timing")
    parser.add_argument("--variant", default=None, help=argparse.SUPPRESS)   # internal: one variant, JSON out
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    cuda = device.type == "cuda"
    args.batch_size = args.batch_size or (load_config(args.config)["train_params"]["batch_size"] if cuda else 2)
    args.warmup = args.warmup if args.warmup is not None else (3 if cuda else 1)
    args.iterations = args.iterations or (20 if cuda else 3)

    if args.variant:
        precision, channels_last, compiled = args.variant.split(":")
        print(json.dumps(run_variant(args, precision, channels_last == "on", compiled == "on")))
        return 0
    if args.count:
        print(f"# {machine(torch.device('cpu'))}")
        print(json.dumps(count(args)))
        return 0

    size = args.image_size or load_config(args.config)["dataset_params"]["frame_shape"][0]
    print(f"# train step: {args.config} at {size}x{size}, batch {args.batch_size}, {args.warmup} warm-up + "
          f"{args.iterations} timed iterations, random frames and VGG weights")
    print(f"# {machine(device)}")
    print("| precision | channels-last | compile | images/s | ms/iteration | × first | peak memory | warm-up s | "
          "l1_pyramid / perceptual |")
    print("|---|---|---|---|---|---|---|---|---|")
    first = None
    for precision, channels_last, compiled in itertools.product(args.precision, args.channels_last, args.compile):
        command = [sys.executable, os.path.abspath(__file__), "--variant", f"{precision}:{channels_last}:{compiled}",
                   "--config", args.config, "--batch-size", str(args.batch_size), "--warmup", str(args.warmup),
                   "--iterations", str(args.iterations), "--device", args.device]
        command += ["--image-size", str(args.image_size)] if args.image_size else []
        command += ["--threads", str(args.threads)] if args.threads else []
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode != 0:
            reason = (done.stderr.strip().splitlines() or ["?"])[-1][:160]
            print(f"| {precision} | {channels_last} | {compiled} | failed: {reason} | | | | | |")
            continue
        result = json.loads(done.stdout.strip().splitlines()[-1])
        first = first or result["images_per_s"]
        loss = " / ".join(f"{result['losses'][name]:.4f}" for name in ("l1_pyramid", "perceptual")
                          if name in result["losses"])
        print(f"| {precision} | {channels_last} | {compiled} | {result['images_per_s']:.2f} | "
              f"{result['ms_per_iteration']:.0f} | {result['images_per_s'] / first:.2f} | "
              f"{result['peak_bytes'] / 2 ** 30:.2f} GiB | {result['warmup_s']:.1f} | {loss} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
