"""``fomm-teach train`` and ``fomm-teach evaluate``.

    fomm-teach train --config NAME|PATH [--data DIR] [--resume PATH|latest] [--device D] [--out DIR] [--seed S]
                     [--precision fp32|bf16|fp16] [--channels-last] [--compile] [--workers N]
    fomm-teach evaluate [--checkpoint PATH] [--config NAME|PATH] --data synthetic:LEVEL [--videos N]

``train`` runs :func:`fomm_teach.train.train`; without ``--out`` it writes to
``log/<config name> <dd_mm_yy_HH.MM.SS>`` as the authors' run.py does (with ``--resume``: the
checkpoint's run folder, or a new folder when the checkpoint is not in one, e.g. the shipped model;
see :mod:`fomm_teach.run_folder`). Started by ``torchrun --nproc_per_node=N -m fomm_teach train ...``,
each of the N processes trains on its share of every batch (DistributedDataParallel, see
:mod:`fomm_teach.distributed`) and only rank 0 writes and prints. ``evaluate`` prints the metrics of :mod:`fomm_teach.evaluate` on held-out
synthetic videos, for the shipped model by default.
"""

from __future__ import annotations

import time
from pathlib import Path

import torch

from fomm_teach.argtypes import int_at_least, non_negative_int, positive_int
from fomm_teach.errors import FommTeachError


def register(subparsers) -> None:
    train_parser = subparsers.add_parser(
        "train", help="train the three networks of a config (log.txt, train-vis/, checkpoints)",
        description="Train FOMM with the authors' loop on a config: a shipped name (synthetic-fast, "
                    "synthetic-windmill, vox-256, ...) or a YAML file in the authors' format.")
    train_parser.add_argument("--config", required=True, help="shipped config name or YAML path")
    train_parser.add_argument("--data", default=None, metavar="DIR", help="dataset folder in the authors' layout "
                              "(default: the config's dataset_params.root_dir, e.g. data/vox-png)")
    train_parser.add_argument("--resume", default=None, help="checkpoint to continue from (optimisers, "
                              "schedulers and random state included), or 'latest': the newest checkpoint in "
                              "--out (a new run when it has none yet, so one command line starts and resumes)")
    train_parser.add_argument("--device", default=None, help="cpu, cuda, cuda:1, ... (default: cuda if available; "
                              "under torchrun each process takes cuda:LOCAL_RANK)")
    train_parser.add_argument("--out", default=None, help="output folder (default: log/<config> <date>, "
                              "or the checkpoint's folder with --resume)")
    train_parser.add_argument("--threads", type=positive_int, default=None, help="torch CPU threads")
    train_parser.add_argument("--seed", type=non_negative_int, default=0, help="seeds torch (weights, pairs, warps); "
                              "ignored with --resume, which restores the checkpoint's random state")
    train_parser.add_argument("--precision", choices=("fp32", "bf16", "fp16"), default="fp32",
                              help="arithmetic of the networks: bf16 (GPUs from Ampere on) or fp16 (with a gradient "
                              "scaler; Colab's T4) under autocast; losses, pyramid and equivariance stay fp32")
    train_parser.add_argument("--channels-last", action="store_true",
                              help="store weights and frames channels-last (NHWC), faster convolutions on GPUs")
    train_parser.add_argument("--compile", action="store_true",
                              help="torch.compile the networks: faster steps on a GPU after minutes of compiling; "
                              "rarely helps on a CPU. Checkpoints are the same")
    train_parser.add_argument("--workers", type=non_negative_int, default=None, metavar="N",
                              help="DataLoader worker processes for a dataset folder (default: the config's "
                              "train_params.num_workers, else the authors' 6, at most the number of CPUs)")
    train_parser.add_argument("--no-progress", action="store_true", help="no tqdm progress bar")
    train_parser.add_argument("--skip-data-check", action="store_true",
                              help="start without checking the dataset first (the check decodes every video "
                              "once, as fomm-teach check-dataset does; minutes for a large dataset)")
    train_parser.set_defaults(run=run_train)

    evaluate_parser = subparsers.add_parser(
        "evaluate", help="reconstruction L1, keypoint R² and transfer L1 on held-out synthetic videos",
        description="Evaluate a checkpoint (default: the shipped model) on held-out synthetic videos.")
    evaluate_parser.add_argument("--checkpoint", default=None, help="checkpoint (default: the shipped model)")
    evaluate_parser.add_argument("--config", default=None, help="the checkpoint's config, if the file does "
                                 "not carry one (checkpoints written by fomm-teach train do)")
    evaluate_parser.add_argument("--data", required=True, help="synthetic:rigid | synthetic:windmill | synthetic:puppet")
    evaluate_parser.add_argument("--videos", type=int_at_least(4), default=128,
                                 help="held-out videos (half fit the keypoint map; with 32, R² moved by ±0.05 between "
                                 "video samples)")
    evaluate_parser.add_argument("--no-transfer", action="store_true", help="skip the cross-identity metric")
    evaluate_parser.add_argument("--device", default="cpu")
    evaluate_parser.add_argument("--no-progress", action="store_true", help="no tqdm progress bar")
    evaluate_parser.set_defaults(run=run_evaluate)


def _device(name):
    if name is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError as err:
        raise FommTeachError(f"--device {name!r}: {err}") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise FommTeachError(f"--device {name}: this torch sees no CUDA device; use --device cpu.")
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        raise FommTeachError(f"--device {name}: this machine has {torch.cuda.device_count()} CUDA device(s), "
                             f"numbered from 0.")
    return device


def run_train(args) -> int:
    from fomm_teach.config import load_config
    from fomm_teach.distributed import is_main_process
    from fomm_teach.run_folder import resume_folder
    from fomm_teach.train import train

    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    config = load_config(args.config, for_training=True)
    if args.data is not None:
        config["dataset_params"]["root_dir"] = args.data
    if args.workers is not None:
        config["train_params"]["num_workers"] = args.workers
    if args.resume == "latest":
        args.resume = _latest(args.out)
    out_dir = Path(args.out) if args.out else (resume_folder(args.resume) if args.resume else None)
    if out_dir is None:
        out_dir = Path("log") / f"{Path(args.config).stem} {time.strftime('%d_%m_%y_%H.%M.%S')}"
        if args.resume and is_main_process():
            print(f"{args.resume} is not in a run folder of fomm-teach train; the run continues in {out_dir}")
    result = train(config, out_dir, resume=args.resume, device=_device(args.device), progress=not args.no_progress,
                   check_data=not args.skip_data_check, precision=args.precision,
                   channels_last=args.channels_last, compile_backend="inductor" if args.compile else None)
    if is_main_process():
        print(f"trained: {out_dir}/log.txt, last checkpoint {result['checkpoint']}")
    return 0


def _latest(out):
    """The newest checkpoint in the run folder ``out`` for ``--resume latest``, or None (a new run)."""
    from fomm_teach.distributed import is_main_process
    from fomm_teach.run_folder import run_checkpoints

    if not out:
        raise FommTeachError("--resume latest looks in --out for the newest checkpoint; name the run folder: "
                             "--out DIR --resume latest.")
    found = run_checkpoints(out)   # complete ones only: a checkpoint is written to a temporary file, then renamed
    if is_main_process():
        print(f"resuming from {found[-1]}" if found else f"no checkpoint in {out} yet: a new run")
    return str(found[-1]) if found else None


def run_evaluate(args) -> int:
    from fomm_teach.checkpoint import read_checkpoint
    from fomm_teach.config import load_config
    from fomm_teach.evaluate import evaluate_synthetic, format_metrics
    from fomm_teach.checkpoint import load_trained_models
    from fomm_teach.shipped import shipped_model_path

    prefix = "synthetic:"
    if not args.data.startswith(prefix):
        raise FommTeachError(f"--data {args.data!r}: only synthetic data has ground truth; "
                             "use synthetic:rigid, synthetic:windmill or synthetic:puppet.")
    level = args.data[len(prefix):]
    path = Path(args.checkpoint) if args.checkpoint else shipped_model_path()
    if args.config:
        config = load_config(args.config)
    else:
        stored = read_checkpoint(path).get("config")
        if stored is None:
            raise FommTeachError(f"checkpoint {path} carries no config; name the one it was trained with, --config NAME|PATH.")
        if not isinstance(stored, dict):
            raise FommTeachError(f"checkpoint {path}: its 'config' entry is a {type(stored).__name__}, not a config "
                                 "dict; name the config it was trained with, --config NAME|PATH.")
        config = load_config(stored)
    device = _device(args.device)
    models = load_trained_models(path, config, device=device)
    size = config["dataset_params"]["frame_shape"][0]
    try:
        metrics = evaluate_synthetic(models["kp_detector"], models["generator"], level, size, num_videos=args.videos,
                                     cross_identity=not args.no_transfer, device=device, progress=not args.no_progress)
    except ValueError as err:
        raise FommTeachError(f"--data {args.data!r}: {err}") from None
    print(f"checkpoint {path}")
    print(format_metrics(metrics, level))
    return 0
