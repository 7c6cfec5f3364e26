"""The paper's ablation (Table 1) repeated on synthetic videos, where the true motion is known.

Five variants, each the course's model with some switches of its config turned off (no forked
code; :data:`VARIANTS`, printed by ``fomm-teach ablation --list``):

- **Baseline**: keypoints only. No Jacobians (``estimate_jacobian: false``, so the Jacobian
  equivariance weight must be 0: there is nothing for it to constrain), no occlusion map, and the
  reconstruction loss at one scale only (``train_params.scales: [1]``; the paper's single-scale
  perceptual loss, here our ``l1_pyramid`` loss of the synthetic recipes).
- **Pyr.**: the pyramid of scales of the base config.
- **Pyr.+O**: plus the occlusion map.
- **Jac. w/o Eq.**: plus the Jacobians, without their equivariance term (weight 0).
- **Full**: the base config as it is.

Every variant trains the same number of epochs from the same seeds (torch's global generator,
seeded per run), then is scored by
:func:`fomm_teach.evaluate.evaluate_synthetic` on the same held-out videos. A variant without
Jacobians is scored on its Jacobian metrics with identity matrices, which is what its motion model
assumes (zero order); the table marks those rows. The batches are drawn from that same generator after the weights, so only variants with the
same networks (Baseline and Pyr.; Jac. w/o Eq. and Full) see the same batches and warps; the others
draw a different number of initial weights first and see other batches of the same data.

The budget. A budget in minutes of wall time would make the result depend on the machine's load,
so :func:`plan_epochs` turns it into a number of epochs once, from a short calibration of the
slowest variant (Full), and every run trains exactly that many; ``--epochs`` gives the number
directly. The output folder's ``plan.json`` keeps it, so a rerun of the same command resumes with
the same number: a run whose ``metrics.json`` exists is not trained again, an interrupted one
continues from its last checkpoint (:mod:`fomm_teach.run_folder`). Then ``results/`` gets
``ablation.csv`` (one row per variant and seed), ``ablation.md`` (means and the seeds' range),
``ablation.png`` (one bar chart per metric, a dot per seed) and ``run.json`` (the command,
machine, budget, epochs, steps and runtime).
"""

from __future__ import annotations

import copy
import csv
import json
import os
import platform
import re
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
from tqdm.auto import tqdm

from fomm_teach.checkpoint import load_trained_models, save_checkpoint
from fomm_teach.config import load_config
from fomm_teach.data.puppets import LEVELS
from fomm_teach.errors import FommTeachError
from fomm_teach.evaluate import evaluate_synthetic
from fomm_teach.machine import cpu_model
from fomm_teach.run_folder import run_checkpoints
from fomm_teach.train import SYNTHETIC_PREFIX, make_batches, train

BASE_CONFIGS = {"rigid": "synthetic-rigid", "windmill": "synthetic-fast", "puppet": "synthetic-fast"}

# The paper's Table 1, reconstruction L1 on Tai-Chi-HD (the other columns are AKD/MKR/AED).
PAPER_L1 = {"Baseline": 0.073, "Pyr.": 0.069, "Pyr.+O": 0.069, "Jac. w/o Eq.": 0.073, "Full": 0.063}

NO_JACOBIAN = {"model_params.common_params.estimate_jacobian": False,
               "train_params.loss_weights.equivariance_jacobian": 0}
NO_OCCLUSION = {"model_params.generator_params.estimate_occlusion_map": False}
SINGLE_SCALE = {"train_params.scales": [1]}


@dataclass(frozen=True)
class Variant:
    """One column of the paper's Table 1: its name, a folder name, and its config switches."""
    name: str
    slug: str
    why: str
    overrides: dict = field(default_factory=dict)   # dotted config path -> value, applied to the base config


VARIANTS = (
    Variant("Baseline", "baseline", "keypoints only: zero-order motion, no occlusion map, loss at one scale",
            {**NO_JACOBIAN, **NO_OCCLUSION, **SINGLE_SCALE}),
    Variant("Pyr.", "pyr", "adds the pyramid of scales to the reconstruction loss", {**NO_JACOBIAN, **NO_OCCLUSION}),
    Variant("Pyr.+O", "pyr-o", "adds the occlusion map", dict(NO_JACOBIAN)),
    Variant("Jac. w/o Eq.", "jac-wo-eq", "adds the Jacobians, without their equivariance constraint",
            {"train_params.loss_weights.equivariance_jacobian": 0}),
    Variant("Full", "full", "adds the Jacobians' equivariance constraint: the full model", {}),
)


def variant(name: str) -> Variant:
    """The variant called ``name`` (its paper name or its folder name)."""
    for candidate in VARIANTS:
        if name in (candidate.name, candidate.slug):
            return candidate
    raise FommTeachError(f"no ablation variant {name!r}; the variants are "
                         f"{', '.join(v.name for v in VARIANTS)}.")


def get_dotted(config: dict, path: str):
    """config['a']['b'] for path 'a.b' (KeyError if absent)."""
    node = config
    for key in path.split("."):
        node = node[key]
    return node


def set_dotted(config: dict, path: str, value) -> None:
    """config['a']['b'] = value for path 'a.b', creating the sections on the way."""
    *parents, last = path.split(".")
    node = config
    for key in parents:
        node = node.setdefault(key, {})
    node[last] = value


def variant_config(base: dict, variant: Variant) -> dict:
    """A copy of ``base`` with the switches of ``variant`` applied, checked against the schema.

    A loss weight that a variant sets is also dropped from ``train_params.loss_weight_schedule``,
    so that the switch holds in every epoch.
    """
    config = copy.deepcopy(base)
    for path, value in variant.overrides.items():
        set_dotted(config, path, copy.deepcopy(value))
        prefix = "train_params.loss_weights."
        schedule = config["train_params"].get("loss_weight_schedule") or {}
        if path.startswith(prefix):
            schedule.pop(path[len(prefix):], None)
    return load_config(config, for_training=True)


def switches(base: dict, variant: Variant) -> list[str]:
    """'path: base value -> variant value' for each switch of ``variant`` that changes ``base``."""
    lines = []
    for path, value in variant.overrides.items():
        before = get_dotted(base, path)
        if before != value:
            lines.append(f"{path}: {json.dumps(before)} -> {json.dumps(value)}")
    return lines


def format_variants(base: dict, base_name: str) -> str:
    """The text of ``fomm-teach ablation --list``: each variant, why it exists, what it switches."""
    lines = [f"The paper's Table 1 (reconstruction L1 on Tai-Chi-HD in brackets), as switches of {base_name}:"]
    for v in VARIANTS:
        lines.append(f"  {v.name:<13} [{PAPER_L1[v.name]:.3f}]  {v.why}")
        lines.extend(f"      {line}" for line in switches(base, v) or ["(the base config as it is)"])
    return "\n".join(lines)


def parse_data(text: str) -> str:
    """'synthetic:LEVEL' -> LEVEL, or a FommTeachError naming what is allowed."""
    level = text[len(SYNTHETIC_PREFIX):] if text.startswith(SYNTHETIC_PREFIX) else None
    if level not in LEVELS:
        raise FommTeachError(f"--data {text!r}: the ablation needs data with ground-truth motion; use "
                             f"{', '.join(SYNTHETIC_PREFIX + name for name in LEVELS)}.")
    return level


def base_config(level: str, config=None) -> dict:
    """The config every variant starts from: ``config`` (default: the course's recipe for ``level``).

    Its training data is set to ``level``: ``root_dir`` becomes 'synthetic:LEVEL' and, where the
    config has a curriculum of levels, its last entry becomes LEVEL.
    """
    config = load_config(config if config is not None else BASE_CONFIGS[level], for_training=True)
    config["dataset_params"]["root_dir"] = SYNTHETIC_PREFIX + level
    curriculum = config["dataset_params"].get("curriculum") or {}
    if isinstance(curriculum.get("level"), list):
        curriculum["level"][-1][1] = level
    elif "level" in curriculum:
        curriculum["level"] = level
    return load_config(config, for_training=True)


def steps_per_epoch(config: dict) -> int:
    """Training steps in one epoch of ``config`` (its synthetic batches)."""
    return make_batches(config).steps_per_epoch()


def _stop_after(steps: int, times: list):
    """A train() callback that records the time of every step and stops after ``steps``."""
    def callback(event):
        if event["kind"] != "step":
            return False
        times.append(time.perf_counter())
        return len(times) >= steps
    return callback


def seconds_per_step(config: dict, steps: int = 8, warmup: int = 2, device="cpu") -> float:
    """Seconds of one training step of ``config`` on this machine now: the mean of ``steps`` after ``warmup``."""
    times = []
    config = copy.deepcopy(config)
    config["train_params"]["num_epochs"] = 10 ** 6
    with tempfile.TemporaryDirectory() as scratch:
        train(config, scratch, device=device, callback=_stop_after(warmup + steps + 1, times), progress=False,
              visualize_every=0)
    return (times[-1] - times[warmup]) / steps


def plan_epochs(base: dict, budget_minutes: float, device="cpu") -> dict:
    """Turn a budget of training minutes per run into a whole number of epochs, from a calibration.

    Times a few steps of Full (the slowest variant) now and returns {'epochs', 'steps_per_epoch',
    'seconds_per_step'}: the most epochs whose steps fit the budget at that speed, at least one.
    """
    seconds = seconds_per_step(variant_config(base, variant("Full")), device=device)
    per_epoch = steps_per_epoch(base)
    epochs = max(1, int(budget_minutes * 60 / (seconds * per_epoch)))
    return {"epochs": epochs, "steps_per_epoch": per_epoch, "seconds_per_step": seconds}


def machine() -> dict:
    """What the runtime depends on: CPU model, cores, torch threads, torch version, the load."""
    return {"cpu": cpu_model(), "cores": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "torch": torch.__version__, "python": platform.python_version(), "system": platform.system(),
            "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None}


def load_average():
    """The 1-minute load average (None where the system has none)."""
    try:
        return round(os.getloadavg()[0], 2)
    except (AttributeError, OSError):
        return None


PLAN_KEYS = ("level", "base_config", "epochs", "videos")   # what a resumed run must share with its plan


def open_plan(out_dir: Path, request: dict) -> dict:
    """The plan of ``out_dir``: read (a resume) or made from ``request`` and written (a new ablation).

    request: level, base_config, seeds, videos, and either epochs or budget_minutes (then calibrated
    here). A resume keeps the plan's epochs; it refuses a request for other data, config, epochs or
    evaluation videos, and takes the request's seeds (finished seeds are reused).
    """
    path = out_dir / "plan.json"
    if path.is_file():
        plan = json.loads(path.read_text(encoding="utf-8"))
        for key in PLAN_KEYS:
            if request.get(key) is not None and request[key] != plan[key]:
                raise FommTeachError(f"{out_dir} holds an ablation with another {key} ({_short(plan[key])}, asked "
                                     f"{_short(request[key])}); rerun its command to resume it, or choose another --out.")
        plan["seeds"] = request["seeds"]
        return plan
    plan = {key: request[key] for key in ("level", "base_config", "seeds", "videos", "budget_minutes")}
    if request.get("epochs") is None:
        plan.update(plan_epochs(request["base_config"], request["budget_minutes"], request.get("device", "cpu")))
    else:
        plan.update(epochs=request["epochs"], steps_per_epoch=steps_per_epoch(request["base_config"]),
                    seconds_per_step=None)
    out_dir.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(plan, indent=1), encoding="utf-8")
    return plan


def _short(value) -> str:
    return "a different config" if isinstance(value, dict) else repr(value)


def run_folder(out_dir: Path, v: Variant, seed: int) -> Path:
    return out_dir / v.slug / f"seed-{seed}"


def train_variant(plan: dict, v: Variant, seed: int, folder: Path, device="cpu", progress=True) -> dict:
    """Train one variant from one seed for the plan's epochs (continuing an interrupted run), return its models.

    Also writes ``folder/model.pth.tar``: the keypoint detector and generator with the config, the
    small file that notebook 09 draws from.
    """
    config = variant_config(plan["base_config"], v)
    config["train_params"]["num_epochs"] = plan["epochs"]
    config["train_params"]["checkpoint_freq"] = max(1, plan["epochs"] // 4)
    checkpoints = run_checkpoints(folder)
    done = bool(checkpoints) and int(checkpoints[-1].name[:8]) == plan["epochs"] - 1
    started = time.perf_counter()
    if done:
        models = load_trained_models(checkpoints[-1], config, device=device)
    else:
        torch.manual_seed(seed)   # weights, then batch order, pairs and warps (a resume restores the saved state)
        models = train(config, folder, resume=checkpoints[-1] if checkpoints else None, device=device,
                       progress=progress, visualize_every=0)["models"]
    save_checkpoint(folder / "model.pth.tar", {"kp_detector": models["kp_detector"], "generator": models["generator"]},
                    epoch=plan["epochs"] - 1, extra={"config": config})
    return {"models": models, "config": config, "train_seconds": time.perf_counter() - started,
            "resumed": bool(checkpoints)}


def evaluate_variant(models: dict, plan: dict, device="cpu", progress=True) -> dict:
    """The metrics of :func:`fomm_teach.evaluate.evaluate_synthetic` on the plan's held-out videos.

    The videos have the training videos' length (``synthetic_params.num_frames``, default 32).
    """
    dataset_params = plan["base_config"]["dataset_params"]
    num_frames = (dataset_params.get("synthetic_params") or {}).get("num_frames", 32)   # as long as the training videos
    return evaluate_synthetic(models["kp_detector"], models["generator"], plan["level"], dataset_params["frame_shape"][0],
                              num_videos=plan["videos"], num_frames=num_frames, device=device, progress=progress)


def run_ablation(out_dir, *, level: str, base: dict, seeds: int = 2, budget_minutes=None, epochs=None,
                 videos: int = 32, device="cpu", progress=True, command=None) -> dict:
    """Train and score every variant from every seed (skipping finished runs); write the results.

    Returns {'plan', 'rows', 'results': folder of the results files, 'trained_now': runs trained by this call}.
    """
    if (budget_minutes is None) == (epochs is None):
        raise FommTeachError("the ablation needs either a budget in minutes (--budget) or a number of epochs (--epochs).")
    out_dir = Path(out_dir)
    started, load_start = time.perf_counter(), load_average()
    plan = open_plan(out_dir, {"level": level, "base_config": base, "seeds": list(range(seeds)), "videos": videos,
                               "budget_minutes": budget_minutes, "epochs": epochs, "device": device})
    runs = [(v, seed) for v in VARIANTS for seed in plan["seeds"]]
    trained_now = 0
    bar = tqdm(runs, desc="ablation", disable=not progress)
    for v, seed in bar:
        folder = run_folder(out_dir, v, seed)
        metrics_path = folder / "metrics.json"
        if metrics_path.is_file():
            bar.set_postfix_str(f"{v.name} seed {seed}: done earlier")
            continue
        bar.set_postfix_str(f"{v.name} seed {seed}: training")
        trained = train_variant(plan, v, seed, folder, device, progress)
        bar.set_postfix_str(f"{v.name} seed {seed}: evaluating")
        evaluated = time.perf_counter()
        metrics = evaluate_variant(trained["models"], plan, device, progress)
        metrics.update(variant=v.name, seed=seed, epochs=plan["epochs"], steps=plan["epochs"] * plan["steps_per_epoch"],
                       jacobian_estimated=bool(trained["config"]["model_params"]["common_params"]["estimate_jacobian"]),
                       train_seconds=round(trained["train_seconds"], 1), resumed=trained["resumed"],
                       eval_seconds=round(time.perf_counter() - evaluated, 1))
        metrics_path.write_text(json.dumps(metrics, indent=1), encoding="utf-8")
        trained_now += 1
    rows = [json.loads((run_folder(out_dir, v, seed) / "metrics.json").read_text(encoding="utf-8")) for v, seed in runs]
    results = out_dir / "results"
    earlier = json.loads((results / "run.json").read_text(encoding="utf-8")) if (results / "run.json").is_file() else None
    if earlier is not None and trained_now == 0 and earlier["seeds"] == plan["seeds"]:
        run = earlier   # nothing trained now: the record of the command that made these numbers stays
    else:
        command = command or "run_ablation(...)"
        run = {"command": command, "reproduce": re.sub(r"--budget[ =]\S+", f"--epochs {plan['epochs']}", command),
               "machine": machine(), "load_average_start": earlier["load_average_start"] if earlier else load_start,
               "load_average_end": load_average(),
               "runtime_seconds": round(time.perf_counter() - started + (earlier["runtime_seconds"] if earlier else 0), 1),
               "sessions": (earlier.get("sessions", 1) + 1) if earlier else 1,
               "date_utc": time.strftime("%Y-%m-%d %H:%M", time.gmtime()),
               **{key: plan[key] for key in ("level", "seeds", "videos", "budget_minutes", "epochs", "steps_per_epoch",
                                             "seconds_per_step")},
               "steps_per_variant": plan["epochs"] * plan["steps_per_epoch"],
               "trained_runs_seconds": round(sum(row["train_seconds"] + row["eval_seconds"] for row in rows), 1)}
    write_results(results, rows, run)
    return {"plan": plan, "rows": rows, "results": results, "trained_now": trained_now}


# --- the results files ---

COLUMNS = ("variant", "seed", "epochs", "steps", "train_seconds", "l1", "copy_l1", "l1_ratio", "r2", "pixel_error",
           "kp_spread", "transfer_l1", "transfer_copy_l1", "transfer_ratio", "jacobian_estimated",
           "jacobian_motion_error", "jacobian_motion_zero_order", "jacobian_frame_error")

# (column, heading, what it means) for the Markdown table and the figure; lower is better except R².
METRICS = (
    ("l1", "L1", "reconstruction L1 (frame 0 re-posed to every frame)"),
    ("l1_ratio", "L1 ÷ copy", "reconstruction L1 ÷ the L1 of copying frame 0 (below 1: better than moving nothing)"),
    ("r2", "keypoint R²", "R² of a linear map from the keypoints to the true joints and centres (1 = exact)"),
    ("transfer_ratio", "transfer ÷ copy", "cross-identity L1 ÷ the L1 of copying the source"),
    ("jacobian_motion_error", "Jac. motion err.", "|J(0)J(t)⁻¹ − B(0)B(t)⁻¹|, Frobenius, mean (B: the true 2×2 maps)"),
    ("jacobian_frame_error", "Jac. frame err.", "relative distance of J from B·M, one M per keypoint (0 = exact)"),
)


def table_row(metrics: dict) -> dict:
    """The CSV row of one run: COLUMNS, with the two ratios computed."""
    row = {key: metrics.get(key) for key in COLUMNS}
    row["l1_ratio"] = metrics["l1"] / metrics["copy_l1"]
    row["transfer_ratio"] = metrics["transfer_l1"] / metrics["transfer_copy_l1"]
    return row


def summarize(rows: list[dict]) -> dict:
    """{variant: {metric: (mean, min, max)}} over the seeds, in the order of VARIANTS."""
    table = [table_row(row) for row in rows]
    summary = {}
    for v in VARIANTS:
        mine = [row for row in table if row["variant"] == v.name]
        if mine:
            summary[v.name] = {key: (sum(row[key] for row in mine) / len(mine), min(row[key] for row in mine),
                                     max(row[key] for row in mine)) for key, _, _ in METRICS}
            summary[v.name]["jacobian_estimated"] = mine[0]["jacobian_estimated"]
    return summary


def markdown(rows: list[dict], run: dict) -> str:
    """ablation.md: how it was run, then the table of means with each seed range, then the legend."""
    summary = summarize(rows)
    machine_ = run["machine"]
    budget = (f"{run['budget_minutes']} min of training per run, calibrated to {run['epochs']} epoch(s)"
              if run["budget_minutes"] is not None else f"{run['epochs']} epoch(s) per run (given)")
    lines = [
        f"# Ablation on synthetic:{run['level']} (the paper's Table 1, repeated)",
        "",
        f"- command: `{run['command']}`; the same numbers again (no calibration): `{run['reproduce']}`",
        f"- machine: {machine_['cpu']}, {machine_['cores']} cores, {machine_['torch_threads']} torch thread(s), "
        f"torch {machine_['torch']}; load average {run['load_average_start']} at the start, "
        f"{run['load_average_end']} at the end",
        f"- budget: {budget} = {run['steps_per_variant']} steps for every variant and seed "
        f"(seeds {', '.join(map(str, run['seeds']))})",
        f"- runtime: {run['runtime_seconds'] / 60:.1f} min for the command"
        f"{'' if run.get('sessions', 1) == 1 else ' over ' + str(run['sessions']) + ' sessions (resumed)'}, "
        f"ending {run['date_utc']} UTC; "
        f"the runs' training and evaluation together {run['trained_runs_seconds'] / 60:.1f} min",
        f"- evaluation: {run['videos']} held-out videos (test split)",
        "",
        "Mean over the seeds, the seeds' range in brackets. Lower is better, except R². "
        "Jacobian errors marked * are those of the identity: that variant has no Jacobians (zero order).",
        "",
        "| variant | paper L1 (Tai-Chi) | " + " | ".join(heading for _, heading, _ in METRICS) + " |",
        "|---|---|" + "---|" * len(METRICS),
    ]
    for name, values in summary.items():
        cells = []
        for key, _, _ in METRICS:
            mean, low, high = values[key]
            star = "*" if key.startswith("jacobian") and not values["jacobian_estimated"] else ""
            cells.append(f"{mean:.3f}{star} ({low:.3f}–{high:.3f})")
        lines.append(f"| {name} | {PAPER_L1[name]:.3f} | " + " | ".join(cells) + " |")
    zero = sum(row["jacobian_motion_zero_order"] for row in rows) / len(rows)
    lines += ["", f"Zero-order reference of the Jacobian motion error (identity matrices): {zero:.3f}.", ""]
    lines += [f"- **{heading}**: {meaning}" for _, heading, meaning in METRICS]
    return "\n".join(lines) + "\n"


def figure(rows: list[dict], run: dict):
    """One bar chart per metric: the mean over the seeds, a dot per seed; hatched: identity Jacobians."""
    from matplotlib.figure import Figure

    from fomm_teach.viz import keypoint_color

    summary = summarize(rows)
    table = [table_row(row) for row in rows]
    names = list(summary)
    zero = sum(row["jacobian_motion_zero_order"] for row in rows) / len(rows)
    fig = Figure(figsize=(10.2, 6.6))
    axes = fig.subplots(2, 3)
    for ax, (key, heading, _) in zip(axes.flat, METRICS):
        for i, name in enumerate(names):
            hatch = "//" if key.startswith("jacobian") and not summary[name]["jacobian_estimated"] else None
            ax.bar(i, summary[name][key][0], color=keypoint_color(i), alpha=0.6, hatch=hatch, edgecolor="black")
            seeds = [row[key] for row in table if row["variant"] == name]
            ax.scatter([i] * len(seeds), seeds, color="black", s=14, zorder=3)
        if key == "l1_ratio" or key == "transfer_ratio":
            ax.axhline(1.0, color="grey", linestyle="--", linewidth=1)
        if key == "jacobian_motion_error":
            ax.axhline(zero, color="grey", linestyle="--", linewidth=1)
        values = [row[key] for row in table] + ([zero] if key == "jacobian_motion_error" else [])
        low, high = min(values), max(values)
        zoomed = 0 < high - low < 0.15 * abs(high)   # differences too small to see on bars from 0
        if zoomed:
            ax.set_ylim(low - 2 * (high - low), high + (high - low))
        ax.set_xticks(range(len(names)), names, rotation=25, fontsize=9)
        ax.set_title(heading + (" (higher is better)" if key == "r2" else " (lower is better)")
                     + (",\naxis zoomed" if zoomed else ""), fontsize=10)
        ax.tick_params(axis="y", labelsize=9)
    fig.suptitle(f"Ablation on synthetic:{run['level']}: {run['steps_per_variant']} steps per run, "
                 f"{len(run['seeds'])} seed(s) (dots; bars: their mean), {run['videos']} held-out videos\n"
                 "hatched: identity Jacobians (no Jacobians); dashed: copying the source (ratios), zero order "
                 "(motion error)", fontsize=10)
    fig.tight_layout()
    return fig


def write_results(folder: Path, rows: list[dict], run: dict) -> None:
    """ablation.csv, ablation.md, ablation.png and run.json into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "ablation.csv", "w", newline="", encoding="utf-8") as file:
        writer = csv.DictWriter(file, fieldnames=COLUMNS)
        writer.writeheader()
        for row in rows:   # full precision: the notebook recomputes the table from this file
            writer.writerow(table_row(row))
    (folder / "ablation.md").write_text(markdown(rows, run), encoding="utf-8")
    (folder / "run.json").write_text(json.dumps(run, indent=1), encoding="utf-8")
    figure(rows, run).savefig(folder / "ablation.png", dpi=100)


def read_results(folder) -> tuple[list[dict], dict]:
    """(rows of ablation.csv with numbers as floats, run.json) of a results folder."""
    folder = Path(folder)
    with open(folder / "ablation.csv", newline="", encoding="utf-8") as file:
        rows = [{key: _number(value) for key, value in row.items()} for row in csv.DictReader(file)]
    return rows, json.loads((folder / "run.json").read_text(encoding="utf-8"))


def _number(text: str):
    if text in ("True", "False"):
        return text == "True"
    try:
        value = float(text)
    except ValueError:
        return text
    return int(value) if value.is_integer() and "." not in text else value



# --- notebook 09's pictures of the learned keypoints ---

def committed_results(start=None):
    """The committed full run's folder (``benchmarks/ablation`` of the repository above ``start``), or None.

    None where the course was installed without the repository (pip): the notebook then uses its own run.
    """
    start = Path.cwd() if start is None else Path(start)
    for folder in (start, *start.resolve().parents):
        candidate = folder / "benchmarks" / "ablation"
        if (candidate / "run.json").is_file():
            return candidate
    return None


@torch.no_grad()
def jacobian_figure(models: dict, clip: dict, times, length: float = 0.25):
    """Keypoints and Jacobians of several trained models on the same frames, beside the true motion.

    models: {variant name: {'kp_detector', ...}} (Jacobian variants); clip: a SyntheticVideos video
    (frames (T, 3, S, S), affine (T, P, 2, 3), centers (T, P, 2)); times: the frames to show. Row 0:
    the true 2×2 map B(t) of each part at its centre; then one row per model, its keypoints and the
    columns of J(t) (solid: the first, dotted: the second), ``length`` units of [-1, 1] long for an identity.
    """
    from matplotlib.figure import Figure

    from fomm_teach import viz

    frames = clip["frames"][list(times)]                                                          # (F, 3, S, S)
    size = frames.shape[-1]
    rows = [("ground truth", {"value": clip["centers"][list(times)],                             # (F, P, 2)
                              "jacobian": clip["affine"][list(times)][..., :2, :2]})]             # (F, P, 2, 2)
    for name, pair in models.items():
        pair["kp_detector"].eval()
        rows.append((name, pair["kp_detector"](frames)))
    fig = Figure(figsize=(2.3 * len(times), 2.5 * len(rows)))
    axes = fig.subplots(len(rows), len(times), squeeze=False)
    for row, (name, kp) in enumerate(rows):
        for column, t in enumerate(times):
            ax = axes[row, column]
            viz.show_image(ax, frames[column], f"{name}, frame {t}")
            viz.draw_jacobians(ax, kp["value"][column], kp["jacobian"][column], size, length=length)
            viz.draw_keypoints(ax, kp["value"][column], size, numbers=row > 0, size=30)
            ax.set_xlim(-0.5, size - 0.5)
            ax.set_ylim(size - 0.5, -0.5)
    fig.suptitle("Keypoints with their Jacobians as local frames (solid: J's first column, dotted: its second); "
                 "top row: the true 2×2 map of the part", fontsize=10)
    fig.tight_layout()
    return fig
