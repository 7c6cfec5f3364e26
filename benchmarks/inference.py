"""How fast is animation? The authors' frame-by-frame loop against make_animation (no assertions).

    python benchmarks/inference.py [--threads 2] [--frames 8] [--repeats 3] [--models vox-256,shipped]

For each model (vox-256 at 256×256 with random weights and ``align_corners: false``, as the
authors' code computes under a recent torch; the shipped 64×64 model) and each device (the CPU,
and CUDA when a GPU is at hand), it times:

- ``loop``: the authors' ``demo.make_animation``: the whole generator for every driving frame,
  the first driving frame detected twice;
- ``source once, bN``: make_animation without its other savings: the source's work done once,
  every driving frame detected once, N driving frames per generator call;
- ``+ BatchNorm folded`` / ``+ channels-last`` / ``+ both``: with the inference copies of
  ``animate.inference_copy`` (both is make_animation as it ships, at batch 4 by default);
- ``inference_mode``: inside ``torch.inference_mode`` instead of ``no_grad`` alone;
- on CUDA, ``autocast bf16``: under ``torch.autocast`` (outputs differ: reported).

Each line gives frames per second, milliseconds per frame, the speed-up over the loop and the
largest difference from the loop's frames. Times are the best of ``--repeats`` runs, interleaved,
so a busy machine slows every variant alike.
"""

from __future__ import annotations

import argparse
import copy
import functools
import os
import platform
import time

import torch

from fomm_teach import animate
from fomm_teach.animate import make_animation, normalize_kp
from fomm_teach.config import load_config
from fomm_teach.models import build_models
from fomm_teach.shipped import load_shipped_model


@torch.no_grad()
def authors_loop(source, driving, generator, kp_detector):
    """demo.make_animation as the authors wrote it (relative, scale adaptation), on tensors."""
    kp_source = kp_detector(source[None])
    kp_driving_initial = kp_detector(driving[:1])
    frames = []
    for frame in driving:
        kp_norm = normalize_kp(kp_source, kp_detector(frame[None]), kp_driving_initial, adapt_movement_scale=True,
                               use_relative_movement=True, use_relative_jacobian=True)
        frames.append(generator(source[None], kp_driving=kp_norm, kp_source=kp_source)["prediction"][0])
    return torch.stack(frames)


def vox_models(device):
    config = copy.deepcopy(load_config("vox-256"))
    config["model_params"]["common_params"]["align_corners"] = False
    torch.manual_seed(0)
    built = build_models(config, device=device)
    return built["kp_detector"].eval(), built["generator"].eval(), 256


def shipped_models(device):
    models, config = load_shipped_model(device=device)
    return models["kp_detector"], models["generator"], config["dataset_params"]["frame_shape"][0]


def with_inference(fold_batchnorm, memory_format, batch_size, inference_mode=False):
    """make_animation with its inference copies made as given (it folds and goes channels-last by default)."""
    def run(source, driving, generator, kp_detector):
        original = (animate.inference_copy, animate.MEMORY_FORMAT)
        animate.inference_copy = functools.partial(original[0], fold_batchnorm=fold_batchnorm, memory_format=memory_format)
        animate.MEMORY_FORMAT = memory_format
        try:
            with torch.inference_mode(inference_mode):
                return make_animation(source, driving, generator, kp_detector, batch_size=batch_size)
        finally:
            animate.inference_copy, animate.MEMORY_FORMAT = original
    return run


def variants(device):
    """(name, function(source, driving, generator, kp_detector) -> frames) of every way that is timed."""
    plain, last = torch.contiguous_format, torch.channels_last
    found = [("loop (authors')", authors_loop),
             ("source once, b1", with_inference(False, plain, 1)),
             ("source once, b4", with_inference(False, plain, 4)),
             ("+ BatchNorm folded, b1", with_inference(True, plain, 1)),
             ("+ channels-last, b1", with_inference(False, last, 1)),
             ("+ both, b1", with_inference(True, last, 1)),
             ("+ both, b4 (make_animation's default)", with_inference(True, last, 4)),
             ("+ both, b8", with_inference(True, last, 8)),
             ("+ both, b4, inference_mode", with_inference(True, last, 4, inference_mode=True))]
    if device.type == "cuda":
        def autocast(source, driving, generator, kp_detector):
            with torch.autocast("cuda", dtype=torch.bfloat16):
                return make_animation(source, driving, generator, kp_detector, batch_size=8).float()
        found.append(("+ both, b8, autocast bf16", autocast))
    return found


def timed(function, *args, device):
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    out = function(*args)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start, out


def benchmark(name, build, device, num_frames, repeats):
    kp_detector, generator, size = build(device)
    generator_seed = torch.Generator().manual_seed(1)
    source = torch.rand(3, size, size, generator=generator_seed).to(device)
    base = torch.rand(3, size, size, generator=generator_seed)
    driving = torch.stack([torch.roll(base, shifts=(t, 2 * t), dims=(1, 2)) for t in range(num_frames)]).to(device)
    found = variants(device)
    best = {label: float("inf") for label, _ in found}
    outputs = {}
    for label, function in found:                                       # warm-up (and the outputs)
        _, outputs[label] = timed(function, source, driving, generator, kp_detector, device=device)
    for _ in range(repeats):
        for label, function in found:
            seconds, _ = timed(function, source, driving, generator, kp_detector, device=device)
            best[label] = min(best[label], seconds)
    loop_label = found[0][0]
    print(f"\n{name} at {size}×{size} on {device}, {num_frames} driving frames, best of {repeats}")
    print(f"  {'variant':36s} {'frames/s':>9s} {'ms/frame':>9s} {'× loop':>7s} {'max |Δ| vs loop':>16s}")
    for label, _ in found:
        difference = float((outputs[label].float() - outputs[loop_label].float()).abs().max())
        print(f"  {label:36s} {num_frames / best[label]:9.2f} {1000 * best[label] / num_frames:9.1f} "
              f"{best[loop_label] / best[label]:7.2f} {difference:16.1e}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--frames", type=int, default=8, help="driving frames per animation (256×256 on a CPU: keep it small)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--models", default="vox-256,shipped", help="comma-separated: vox-256, shipped")
    parser.add_argument("--cpu-only", action="store_true", help="skip CUDA even when a GPU is at hand")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    devices = [torch.device("cpu")]
    gpu = ""
    if torch.cuda.is_available() and not args.cpu_only:
        devices.append(torch.device("cuda"))
        gpu = f", GPU {torch.cuda.get_device_name(0)}"
    print(f"animation speed: {platform.machine()} {platform.processor() or ''} with {os.cpu_count()} CPUs{gpu}; "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    builders = {"vox-256": vox_models, "shipped": shipped_models}
    for device in devices:
        for name in args.models.split(","):
            frames = args.frames if (name == "vox-256" and device.type == "cpu") else 8 * args.frames
            benchmark(name, builders[name], device, frames, args.repeats)


if __name__ == "__main__":
    main()
