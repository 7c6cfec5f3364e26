"""Checkpoints in the authors' ``.pth.tar`` layout (their logger.py), read and written safely.

A checkpoint is a plain dict saved with ``torch.save``::

    {'generator': state_dict, 'kp_detector': state_dict, 'discriminator': state_dict,
     'optimizer_generator': ..., 'optimizer_kp_detector': ..., 'optimizer_discriminator': ...,
     'epoch': int}

so a file from the authors' code loads here with ``strict=True``, and ours loads in theirs (their
loader ignores any extra top-level key, such as the scheduler state a training run may add).

- Reading uses ``torch.load(..., weights_only=True, map_location='cpu')`` only: a checkpoint cannot
  run code when it is opened; a file that would is refused with a message that says so.
- Weights are finite: ``save_checkpoint`` refuses models holding nan or inf (a diverged run), and
  ``load_checkpoint`` refuses such a file, naming the tensors (:func:`require_finite_weights`).
- Writing goes to a temporary file in the same folder, then ``os.replace``: a run killed while
  saving leaves the previous file intact, never a truncated one.
- The generator and the keypoint detector load strictly. The discriminator loads leniently, as in
  the authors' ``load_cpk``: when the file has none, or one of another architecture (e.g. fine-tuning
  vox-adv-256, whose discriminator sees keypoints, from vox-256), it keeps its fresh initialisation
  and a warning says why. Unlike ``load_cpk``, its optimiser state is then skipped too (loading it
  onto different parameters would fail at the first step).
- A file that does not fit the models gives an error listing the missing, unexpected and
  wrongly-shaped keys, and the shipped config(s) whose architecture the file matches.
- :func:`load_trained_models` builds a config's keypoint detector and generator and loads a file
  into them (animation, evaluation, the shipped model). It lives here, not in ``models``, so that
  the dependencies point one way: config <- models <- checkpoint.
"""

from __future__ import annotations

import errno
import functools
import os
import pickle
import pickletools
import re
import zipfile
import tempfile
import warnings
from pathlib import Path

import torch

from fomm_teach.config import available_configs, load_config
from fomm_teach.errors import FommTeachError
from fomm_teach.models import build_models

MODEL_NAMES = ("generator", "kp_detector", "discriminator")  # top-level keys, in the authors' order
MAX_LISTED = 8  # keys shown per kind of problem in an error message


def save_checkpoint(path: str | os.PathLike, models: dict, optimizers: dict | None = None, epoch: int = 0,
                    extra: dict | None = None) -> Path:
    """Write ``models`` (and optimisers) to ``path`` in the authors' layout, atomically.

    models: ``{'generator': ..., 'kp_detector': ..., 'discriminator': ...}`` (any subset); wrappers
      (DataParallel, DistributedDataParallel, torch.compile) are unwrapped, so keys carry no prefix.
    optimizers: the same names (or ``optimizer_<name>``) mapped to their optimisers.
    epoch: stored as ``epoch``; the authors resume at this epoch (it is run again).
    extra: more top-level entries (e.g. scheduler state); tensors, numbers, strings, lists and dicts
      only, so that ``weights_only`` loading accepts them. The authors' loader ignores them.
    Returns the path written.
    """
    path = Path(path)
    checkpoint = {}
    for name, model in models.items():
        _check_name(name, MODEL_NAMES, "models")
        checkpoint[name] = _unwrap(model).state_dict()
    require_finite_weights(checkpoint, f"save_checkpoint {path}: not written, the models")
    for name, optimizer in (optimizers or {}).items():
        key = _optimizer_key(name)
        checkpoint[key] = optimizer.state_dict()
    checkpoint["epoch"] = int(epoch)
    for key, value in (extra or {}).items():
        if key in checkpoint:
            raise FommTeachError(f"save_checkpoint: extra key {key!r} would overwrite the {key!r} entry.")
        _check_plain(value, f"extra[{key!r}]")
        checkpoint[key] = value

    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(path)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    umask = os.umask(0)
    os.umask(umask)
    try:
        os.chmod(temporary, 0o666 & ~umask)  # mkstemp makes it private; a checkpoint is an ordinary file
        with os.fdopen(handle, "wb") as file:
            torch.save(checkpoint, file)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException as err:
        Path(temporary).unlink(missing_ok=True)
        if isinstance(err, OSError) and err.errno in (errno.ENOSPC, errno.EDQUOT):
            raise FommTeachError(
                f"no space left in {path.parent} to write {path.name} (it needs about "
                f"{_megabytes(checkpoint)} MB); earlier checkpoints are intact. Free some space, or choose "
                "another output folder, and resume from the last checkpoint.") from None
        raise
    return path


def remove_stale_temporaries(path) -> list[Path]:
    """Delete the temporary files a killed ``save_checkpoint`` of ``path`` left (``.<name>.XXXX.tmp``).

    path: a checkpoint file, or a folder (then the leftovers of every ``*-checkpoint.pth.tar`` in it).

    A run killed while writing leaves its temporary file behind (SIGKILL leaves no time to remove
    it); the next save of the same checkpoint, or the next run in the folder, removes it.
    Returns the files removed.
    """
    path = Path(path)
    folder, pattern = (path, ".*-checkpoint.pth.tar.*.tmp") if path.is_dir() else (path.parent, f".{path.name}.*.tmp")
    removed = []
    for stale in folder.glob(pattern):
        stale.unlink(missing_ok=True)
        removed.append(stale)
    return removed


def read_checkpoint(path) -> dict:
    """The checkpoint dict at ``path``, read with ``weights_only=True`` onto the CPU.

    Raises ``FommTeachError`` for a missing, empty, truncated or corrupt file, or one that holds
    Python objects other than tensors and plain containers.
    """
    path = Path(path)
    if path.is_dir():
        raise FommTeachError(f"checkpoint {path} is a folder; give the checkpoint file in it "
                             "(e.g. the last *-checkpoint.pth.tar of a run folder).")
    if not path.is_file():
        hint = "" if path.parent.is_dir() else f" (the folder {path.parent} does not exist either)"
        raise FommTeachError(f"checkpoint not found: {path}{hint}.")
    size = path.stat().st_size
    if size == 0:
        raise FommTeachError(f"checkpoint {path} is empty (0 bytes); use another checkpoint.")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:   # weights_only refused what the file asks for
        names = _pickled_globals(path)
        if names is None:   # not even a well-formed pickle: damaged, not malicious
            raise _corrupt(path, size, ValueError("its pickled data does not decode")) from None
        named = f" (it calls {', '.join(names[:4])})" if names else ""
        raise FommTeachError(
            f"checkpoint {path} refused: this file would run code when loaded{named}. fomm_teach opens "
            "checkpoints with weights_only=True, which loads only tensors and plain containers. If you "
            "trust the file, re-save just its state dicts and epoch.") from None
    except Exception as err:  # the zip reader's and the unpickler's errors for a damaged file
        raise _corrupt(path, size, err) from None
    if not isinstance(checkpoint, dict):
        raise FommTeachError(
            f"checkpoint {path} holds a {type(checkpoint).__name__}, not a dict with "
            "'generator', 'kp_detector', ... entries (the authors' layout)."
        )
    return checkpoint


def load_checkpoint(path: str | os.PathLike, models: dict, optimizers: dict | None = None, *,
                    strict_discriminator: bool = False) -> int:
    """Load the file at ``path`` into ``models`` (and ``optimizers``); return the stored epoch.

    models / optimizers: as for ``save_checkpoint``; only the entries given are loaded (pass just
    ``kp_detector`` and ``generator`` for animation). The generator and keypoint detector load
    strictly; the discriminator loads only if the file has one that fits (otherwise a warning),
    unless ``strict_discriminator`` is true.
    """
    checkpoint = read_checkpoint(path)
    for name in models:
        _check_name(name, MODEL_NAMES, "models")
    epoch = checkpoint.get("epoch", 0)
    if not (isinstance(epoch, int) and not isinstance(epoch, bool) and epoch >= 0):
        raise FommTeachError(f"checkpoint {path}: its 'epoch' entry is {epoch!r} ({type(epoch).__name__}), "
                             "not a whole number >= 0; the file was not written by a training run.")
    optimizers = {_optimizer_key(name): optimizer for name, optimizer in (optimizers or {}).items()}

    # Check everything first, so that a file that does not fit leaves the models untouched.
    to_load, loaded, notes = [], set(), []
    for name, model in models.items():
        model = _unwrap(model)
        problem = _state_dict_problem(checkpoint, name, model)
        if problem is None:
            to_load.append((model, checkpoint[name]))
            loaded.add(name)
        elif name == "discriminator" and not strict_discriminator:
            summary = " ".join(line.strip().rstrip(":") + ";" for line in problem.splitlines()
                               if not line.startswith("    "))
            notes.append(f"discriminator not loaded, it keeps its fresh initialisation ({summary} "
                         "strict_discriminator=True lists the keys)")
        else:
            raise FommTeachError(f"checkpoint {path}: {problem}{_config_hint(checkpoint)}")
    for key, optimizer in optimizers.items():
        name = key[len("optimizer_"):]
        if name not in models:
            raise FommTeachError(f"load_checkpoint: optimizers has {key!r}, but models has no {name!r}.")
        if name not in loaded:
            continue  # the discriminator's weights were skipped, so its optimiser state is too
        if key not in checkpoint:
            if name == "discriminator" and not strict_discriminator:
                notes.append(f"no {key}; the discriminator optimiser starts fresh.")
                continue
            raise FommTeachError(
                f"checkpoint {path} has no {key!r} entry (it holds {_listing(sorted(checkpoint))}); "
                "it cannot resume training. Load it without optimizers to use the weights."
            )
        _check_optimizer_state(path, key, optimizer, checkpoint[key])
        to_load.append((optimizer, checkpoint[key]))

    require_finite_weights({name: checkpoint[name] for name in loaded}, f"checkpoint {path}")
    for target, state in to_load:
        if isinstance(target, torch.nn.Module):
            target.load_state_dict(state, strict=True)
        else:
            target.load_state_dict(state)
    for note in notes:
        warnings.warn(f"checkpoint {path}: {note}", stacklevel=2)
    return epoch


def load_trained_models(path: str | os.PathLike, config: dict | str | os.PathLike, device: torch.device | str | None = None) -> dict:
    """``{'kp_detector', 'generator'}`` of ``config`` with the weights of checkpoint ``path``, in eval mode.

    Both load strictly (see :func:`load_checkpoint`); the discriminator is not built. A file with
    non-finite weights (a diverged run) is refused.
    """
    built = build_models(config, device=device)
    models = {"kp_detector": built["kp_detector"], "generator": built["generator"]}
    load_checkpoint(path, models)
    for model in models.values():
        model.eval()
    return models


def check_resume_entries(path, checkpoint: dict, scheduler_names) -> None:
    """Raise ``FommTeachError`` unless the entries a resume reads have the types a training run writes.

    ``next_epoch`` (int), ``rng_state`` (uint8 tensor), ``scheduler_<name>`` (dicts with ``last_epoch``)
    and ``config`` (dict) are ours; a file from the authors' code has none of them, and that is fine.
    """
    def wrong(key, expected):
        value = checkpoint[key]
        shown = repr(value) if not isinstance(value, torch.Tensor) else f"a {value.dtype} tensor"
        return FommTeachError(f"checkpoint {path}: its {key!r} entry is {shown[:60]}, not {expected}; the file was "
                              "changed after training wrote it, so it cannot resume. Use another checkpoint.")

    if "next_epoch" not in checkpoint:
        return
    next_epoch = checkpoint["next_epoch"]
    if not (isinstance(next_epoch, int) and not isinstance(next_epoch, bool) and next_epoch >= 0):
        raise wrong("next_epoch", "a whole number >= 0")
    rng_state = checkpoint.get("rng_state")
    if not (isinstance(rng_state, torch.Tensor) and rng_state.dtype == torch.uint8 and rng_state.dim() == 1):
        if "rng_state" not in checkpoint:
            raise FommTeachError(f"checkpoint {path} has 'next_epoch' but no 'rng_state'; it cannot resume exactly.")
        raise wrong("rng_state", "torch's random state (a uint8 tensor)")
    for name in scheduler_names:
        key = f"scheduler_{name}"
        if key not in checkpoint:
            raise FommTeachError(f"checkpoint {path} has no {key!r} entry; it cannot resume the learning-rate schedule.")
        state = checkpoint[key]
        if not (isinstance(state, dict) and isinstance(state.get("last_epoch"), int)):
            raise wrong(key, "a scheduler state_dict")
    if "config" in checkpoint and not isinstance(checkpoint["config"], dict):
        raise wrong("config", "a config dict")


# --- finite weights -----------------------------------------------------------------------------

def non_finite_tensors(state: dict) -> list[str]:
    """Names of the floating-point tensors of ``state`` (a state_dict, or {name: state_dict}) holding nan or inf.

    Parameters and buffers both count: a diverged run can keep finite losses while BatchNorm's
    running statistics are already inf. One pass over the weights, a few milliseconds even for vox-256.
    """
    found = []
    for key, value in state.items():
        if isinstance(value, dict):
            found.extend(f"{key}.{name}" for name in non_finite_tensors(value))
        elif isinstance(value, torch.Tensor) and value.is_floating_point() and not bool(torch.isfinite(value).all()):
            found.append(str(key))
    return found


def require_finite_weights(models: dict, where: str) -> None:
    """Raise ``NonFiniteWeights`` naming the tensors if any weight or buffer of ``models`` is nan or inf.

    models: {name: nn.Module or state_dict}. where: how the message starts ("checkpoint PATH", ...).
    """
    states = {name: (_unwrap(model).state_dict() if isinstance(model, torch.nn.Module) else model)
              for name, model in models.items()}
    bad = non_finite_tensors(states)
    if bad:
        raise NonFiniteWeights(bad, where)


class NonFiniteWeights(FommTeachError):
    """Some weights or buffers are nan or inf; ``names`` lists them (``generator.first.conv.weight``, ...)."""

    def __init__(self, names: list[str], where: str):
        self.names = names
        super().__init__(
            f"{where} hold{'s' if where.startswith('checkpoint') else ''} non-finite values (nan or inf) in "
            f"{len(names)} tensor(s): {_listing(names)}. The training run diverged; use an earlier "
            "checkpoint, and lower the learning rates to train again.")


# --- diagnosis ---------------------------------------------------------------------------------

def _state_dict_problem(checkpoint: dict, name: str, model: torch.nn.Module) -> str | None:
    """None if ``checkpoint[name]`` fits ``model`` exactly; else a description of what differs."""
    if name not in checkpoint or checkpoint[name] is None:
        return f"it has no {name!r} entry (its top-level keys: {_listing(sorted(checkpoint))})."
    state = checkpoint[name]
    if not isinstance(state, dict):
        return f"its {name!r} entry is a {type(state).__name__}, not a state_dict."
    expected = {key: tuple(value.shape) for key, value in model.state_dict().items()}
    found = {key: tuple(value.shape) for key, value in state.items() if isinstance(value, torch.Tensor)}
    missing = [key for key in expected if key not in state]
    unexpected = [key for key in state if key not in expected]
    mismatched = [f"{key} {found.get(key)} in the file, {expected[key]} in the model"
                  for key in expected if key in state and found.get(key) != expected[key]]
    if not (missing or unexpected or mismatched):
        return None
    lines = [f"its {name!r} state_dict does not fit your {type(model).__name__}:"]
    for label, keys in (("missing from the file", missing), ("unexpected in the file", unexpected),
                        ("shape differs", mismatched)):
        if keys:
            lines.append(f"  {label} ({len(keys)}):\n    {_listing(keys, separator=chr(10) + '    ')}")
    prefix = "module."
    stripped = {key[len(prefix):] for key in state if key.startswith(prefix)}
    if state and len(stripped) == len(state) and stripped == set(expected):
        lines.append(f"  Every key starts with {prefix!r}: it was saved from a DataParallel or "
                     "DistributedDataParallel wrapper. Strip the prefix from its keys and save it again.")
    return "\n".join(lines)


def _config_hint(checkpoint: dict) -> str:
    """Sentences naming the shipped config(s) whose models the checkpoint fits, with the evidence."""
    matches, closest = guess_config(checkpoint)
    facts = describe_architecture(checkpoint)
    evidence = f"\nWhat its shapes say: {'; '.join(facts)}." if facts else ""
    if matches:
        return (f"\nThe file looks like it was trained with {' / '.join(matches)}: build the models from "
                f"that config, build_models(load_config({matches[0]!r})).{evidence}")
    if closest:
        names, differences = closest
        return (f"\nThe file matches none of the shipped configs; the closest is {' / '.join(names)} "
                f"({differences} keys differ). Build the models from the YAML config it was trained "
                f"with.{evidence}")
    return evidence


def guess_config(checkpoint: dict) -> tuple[list[str], tuple[list[str], int] | None]:
    """Shipped configs whose models have exactly the file's state_dict names and shapes.

    Only the entries present in the file (generator, kp_detector, discriminator) are compared.
    Returns (exact matches, (closest configs, number of keys that differ for them)).
    """
    present = [name for name in MODEL_NAMES if isinstance(checkpoint.get(name), dict)]
    if not present:
        return [], None
    scores = []
    for config_name in available_configs():
        layout = _shipped_layout(config_name)
        differences = 0
        for name in present:
            found = {key: tuple(value.shape) for key, value in checkpoint[name].items()
                     if isinstance(value, torch.Tensor)}
            expected = layout[name]
            differences += len(set(found) ^ set(expected))
            differences += sum(1 for key in set(found) & set(expected) if found[key] != expected[key])
        scores.append((differences, config_name))
    fewest = min(differences for differences, _ in scores)
    closest = [name for differences, name in scores if differences == fewest]
    return (closest if fewest == 0 else []), (closest, fewest)


def describe_architecture(checkpoint: dict) -> list[str]:
    """Facts read off the file's shapes: keypoints, Jacobian maps, widths, discriminator kind."""
    facts = []
    kp_state = checkpoint.get("kp_detector")
    if isinstance(kp_state, dict):
        kp_head = kp_state.get("kp.weight")
        if isinstance(kp_head, torch.Tensor):
            facts.append(f"num_kp {kp_head.shape[0]}")
        jacobian = kp_state.get("jacobian.weight")
        if isinstance(jacobian, torch.Tensor):
            single = jacobian.shape[0] == 4
            facts.append(f"Jacobian head with {jacobian.shape[0]} channels"
                         + (" (single_jacobian_map: True)" if single else ""))
        elif kp_state:
            facts.append("no Jacobian head (estimate_jacobian: False)")
        first = kp_state.get("predictor.encoder.down_blocks.0.conv.weight")
        if isinstance(first, torch.Tensor):
            facts.append(f"kp_detector block_expansion {first.shape[0] // 2}")
    gen_state = checkpoint.get("generator")
    if isinstance(gen_state, dict):
        first = gen_state.get("first.conv.weight")
        if isinstance(first, torch.Tensor):
            facts.append(f"generator block_expansion {first.shape[0]}")
    disc_state = checkpoint.get("discriminator")
    if isinstance(disc_state, dict) and disc_state:
        spectral = any(key.endswith("weight_orig") for key in disc_state)
        facts.append("discriminator with spectral norm (sn: True)" if spectral
                     else "discriminator without spectral norm")
        for key, value in disc_state.items():
            if key.endswith(("down_blocks.0.conv.weight", "down_blocks.0.conv.weight_orig")):
                channels = value.shape[1]
                facts.append(f"discriminator input {channels} channels"
                             + (" (image + keypoint heatmaps: use_kp: True)" if channels > 3 else ""))
                break
    return facts


@functools.lru_cache(maxsize=None)
def _shipped_layout(config_name: str) -> dict:
    """{model name: {key: shape}} of a shipped config, built on the meta device (no memory, fast)."""
    config = load_config(config_name)
    with torch.device("meta"):
        models = build_models(config)
    return {name: {key: tuple(value.shape) for key, value in model.state_dict().items()}
            for name, model in models.items()}


# --- small helpers ------------------------------------------------------------------------------

def _check_optimizer_state(path, key: str, optimizer: torch.optim.Optimizer, state: dict) -> None:
    """Raise unless ``state`` was saved for parameters of the shapes ``optimizer`` holds.

    torch's ``load_state_dict`` checks only the number of parameters per group; moments of the
    wrong shape would fail at the first step.
    """
    groups = state.get("param_groups") if isinstance(state, dict) else None
    if not isinstance(groups, list):
        raise FommTeachError(f"checkpoint {path}: {key} is not an optimiser state_dict.")
    saved = [[index for index in group.get("params", [])] for group in groups]
    own = [group["params"] for group in optimizer.param_groups]
    if [len(g) for g in saved] != [len(g) for g in own]:
        raise FommTeachError(
            f"checkpoint {path}: {key} holds parameter groups of sizes {[len(g) for g in saved]}, the "
            f"optimiser {[len(g) for g in own]}; it was saved for another model or optimiser setup.")
    for indices, params in zip(saved, own):
        for index, param in zip(indices, params):
            for name, value in state.get("state", {}).get(index, {}).items():
                if isinstance(value, torch.Tensor) and value.dim() > 0 and value.shape != param.shape:
                    raise FommTeachError(
                        f"checkpoint {path}: {key} state {name!r} has shape {tuple(value.shape)} for a "
                        f"parameter of shape {tuple(param.shape)}; it was saved for another model.")


def _pickled_globals(path: Path) -> list[str] | None:
    """The Python names the file's pickle would import, read without running it; None if it is malformed.

    A torch file is a zip archive with the pickle in ``<name>/data.pkl`` (or, in the legacy format,
    a pickle at the start of the file). ``pickletools.genops`` only decodes opcodes, it never builds objects.
    """
    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as archive:
                member = next(name for name in archive.namelist() if name.endswith("data.pkl"))
                data = archive.read(member)
        else:
            data = path.read_bytes()
        names, strings = [], []
        for opcode, argument, _ in pickletools.genops(data):
            if opcode.name in ("GLOBAL", "INST"):
                names.append(str(argument).replace(" ", "."))
            elif opcode.name == "STACK_GLOBAL" and len(strings) >= 2:
                names.append(f"{strings[-2]}.{strings[-1]}")
            elif isinstance(argument, str):
                strings.append(argument)
    except Exception:   # not a zip with data.pkl, or a pickle that does not decode
        return None
    return [name for name in dict.fromkeys(names)
            if not name.startswith(("torch.", "collections.OrderedDict", "builtins.set"))]


def _megabytes(checkpoint: dict) -> str:
    """The size of the tensors in ``checkpoint``, in MB (one decimal), as a rough size of the file."""
    total = 0

    def add(value):
        nonlocal total
        if isinstance(value, torch.Tensor):
            total += value.numel() * value.element_size()
        elif isinstance(value, dict):
            for item in value.values():
                add(item)
        elif isinstance(value, (list, tuple)):
            for item in value:
                add(item)
    add(checkpoint)
    return f"{total / 1e6:.1f}"


def _corrupt(path: Path, size: int, err: Exception) -> FommTeachError:
    reason = f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}"
    reason = reason if len(reason) <= 120 else reason[:117] + "..."
    return FommTeachError(
        f"checkpoint {path} ({size} bytes) is truncated or corrupt and cannot be read ({reason}). "
        "If a run was killed while copying or writing it, use an earlier checkpoint or copy it again."
    )


def _check_plain(value, where: str) -> None:
    """Raise unless ``value`` is made of tensors, numbers, strings and containers (weights_only-loadable)."""
    if isinstance(value, dict):
        for key, item in value.items():
            _check_plain(key, where)
            _check_plain(item, f"{where}[{key!r}]")
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            _check_plain(item, f"{where}[{index}]")
    elif not (value is None or isinstance(value, (torch.Tensor, bool, int, float, str))):
        raise FommTeachError(
            f"save_checkpoint: {where} is a {type(value).__name__}; a checkpoint holds only tensors, "
            "numbers, strings, lists and dicts (so that it loads with weights_only=True)."
        )


def _unwrap(model: torch.nn.Module) -> torch.nn.Module:
    """The module inside DataParallel / DistributedDataParallel / torch.compile wrappers."""
    model = getattr(model, "_orig_mod", model)
    if isinstance(model, (torch.nn.DataParallel, torch.nn.parallel.DistributedDataParallel)):
        model = model.module
    return model


def _optimizer_key(name: str) -> str:
    key = name if name.startswith("optimizer_") else f"optimizer_{name}"
    _check_name(key[len("optimizer_"):], MODEL_NAMES, "optimizers")
    return key


def _check_name(name: str, allowed, argument: str) -> None:
    if name not in allowed:
        raise FommTeachError(f"{argument} has an entry {name!r}; the names are {', '.join(allowed)}.")


def _listing(keys: list, separator: str = ", ") -> str:
    """The first MAX_LISTED keys joined by ``separator``, and how many more there are."""
    shown = separator.join(str(key) for key in keys[:MAX_LISTED])
    return shown + (f"{separator}... and {len(keys) - MAX_LISTED} more" if len(keys) > MAX_LISTED else "")
