"""YAML configs in the authors' structure: the eight configs of first-order-model, plus course ones.

A config is a plain nested dict with the sections of the authors' ``config/*.yaml``:

- ``dataset_params``: the frames dataset (root_dir, frame_shape, id_sampling, augmentation_params);
- ``model_params``: ``common_params`` (num_kp, num_channels, estimate_jacobian) merged into each of
  ``kp_detector_params``, ``generator_params`` (with ``dense_motion_params``) and
  ``discriminator_params`` by :func:`fomm_teach.models.build_models`, as the authors' run.py does;
- ``train_params``: epochs, repeats, learning rates, milestones, batch size, pyramid scales,
  checkpoint frequency, ``transform_params`` (equivariance warp) and ``loss_weights``;
- ``reconstruction_params``, ``animate_params`` (with ``normalization_params``), ``visualizer_params``.

Every config is checked against one schema (:data:`SCHEMA`, :func:`validate_config`) when it is
loaded: it knows every key of the authors' eight files and of ours, so a misspelt key is an error
that names the nearest known one ("did you mean train_params.batch_size?") instead of a default
silently used, and a value of the wrong type or out of range is an error that names the key, the
value and what is allowed. ``load_config(..., for_training=True)`` also requires the keys the
training loop reads. YAML is read with a SafeLoader that refuses documents whose aliases expand to
more than ``MAX_CONFIG_NODES`` values (an "alias bomb"), in microseconds.

One key is ours: ``model_params.common_params.align_corners`` (optional, default ``true``).
The coordinate grid puts -1 and +1 on the *centres* of the border pixels, which is the
``align_corners=True`` convention of ``F.grid_sample``. The authors' code never passes the flag:
under torch 1.0, where their released models were trained, grid_sample behaved like ``True``;
since torch 1.3 the default is ``False``, and the identity warp then shrinks the image by
(W-1)/W about its centre (mean error 0.026 on a smooth 64x64 image).
``true`` (our default) reproduces the training-time behaviour of the released checkpoints;
``false`` reproduces what the authors' current code computes under a modern torch. Only the
generator (and the dense motion network inside it) warps images, so only it receives the flag.

Keys of ours in ``train_params`` (absent from the authors' files, which keep their meaning):

- ``perceptual_backbone``: ``imagenet`` (default, the authors' VGG19 loss; the weights come from
  ``train_params.vgg19_weights`` or torchvision's cache, never from a download at run time, and a
  config that cannot get them stops with a message), ``random`` (randomly initialised VGG19
  features, offline) or ``none`` (no perceptual loss; its weights must then be zero);
- ``vgg19_weights``: a local file of torchvision's ``vgg19`` ImageNet weights;
- ``loss_weights.l1_pyramid``: weight of the offline L1 image-pyramid loss (sum over the pyramid
  scales of mean |prediction - driving|), logged under its own key.

The synthetic recipes (``synthetic-*``) use ``perceptual_backbone: none`` with ``l1_pyramid``.

``load_config(name)`` reads a shipped config by name; ``load_config(path)`` reads any YAML file in
the authors' format as it is.
"""

from __future__ import annotations

import copy
import difflib
import math
import os
import re
from importlib import resources
from pathlib import Path

import yaml

from fomm_teach.errors import FommTeachError

# The sections build_models needs; every config of the authors has them.
MODEL_SECTIONS = ("common_params", "kp_detector_params", "generator_params", "discriminator_params")


class _ConfigLoader(yaml.SafeLoader):
    """SafeLoader that also reads ``2e-4`` as a float.

    PyYAML follows YAML 1.1, where a float needs a dot (``2.0e-4``) and ``2e-4`` is a string.
    People write both, so both mean the number.
    """


_ConfigLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?[0-9][0-9_]*(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)


def available_configs() -> list[str]:
    """Names of the configs that ship with the package, sorted (``vox-256``, ``small-64``, ...)."""
    folder = resources.files("fomm_teach") / "configs"
    return sorted(entry.name[: -len(".yaml")] for entry in folder.iterdir() if entry.name.endswith(".yaml"))


def load_config(name_or_path: str | os.PathLike | dict, for_training: bool = False) -> dict:
    """Read a config: a shipped name (``"vox-256"``), a path to a YAML file, or a dict (copied).

    Returns the nested dict of the authors' YAML structure, unchanged (no defaults are filled in).
    Raises ``FommTeachError`` for an unknown name, a missing file, bad YAML, a file without the
    ``model_params`` sections that the models are built from, or one that does not fit the schema
    (see :func:`validate_config`; for_training also requires the keys training reads).
    """
    if isinstance(name_or_path, dict):
        config = copy.deepcopy(name_or_path)
        _check_structure(config, "given as a dict", for_training)
        return config
    text_name = os.fspath(name_or_path)
    path = Path(text_name).expanduser()
    if path.is_file():
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as err:
            raise FommTeachError(f"config file {path} cannot be read as UTF-8 text: {err}.") from None
        return _read_yaml(text, str(path), for_training)
    names = available_configs()
    if text_name in names:
        resource = resources.files("fomm_teach") / "configs" / f"{text_name}.yaml"
        return _read_yaml(resource.read_text(encoding="utf-8"), f"{text_name} (shipped config)", for_training)
    if path.exists():
        raise FommTeachError(f"config path {path} is not a file; give a .yaml file or a shipped name.")
    if os.sep in text_name or "/" in text_name or path.suffix in (".yaml", ".yml"):
        hint = f" (the shipped one is named {path.stem!r}, without .yaml)" if path.stem in names else ""
        raise FommTeachError(
            f"config file not found: {path}{hint}. Check the path, or use a shipped config: {', '.join(names)}."
        )
    raise FommTeachError(
        f"unknown config name {text_name!r}. Shipped configs: {', '.join(names)}; "
        "or give the path of a YAML file in the authors' format."
    )


def _read_yaml(text: str, source: str, for_training: bool = False) -> dict:
    """Parse ``text`` (read from ``source``) and check that it has the model sections."""
    try:
        loader = _ConfigLoader(text)
        try:
            node = loader.get_single_node()
            _check_expanded_size(node, source)
            config = loader.construct_document(node) if node is not None else None
        finally:
            loader.dispose()
    except RecursionError:
        raise FommTeachError(f"config {source}: nested too deeply to be a config. Fix the file.") from None
    except yaml.YAMLError as err:
        where = ""
        mark = getattr(err, "problem_mark", None)
        if mark is not None:
            where = f" at line {mark.line + 1}, column {mark.column + 1}"
        problem = getattr(err, "problem", None) or str(err)
        raise FommTeachError(f"config {source}: not valid YAML{where}: {problem}. Fix the file.") from None
    _check_structure(config, source, for_training)
    return config


MAX_CONFIG_NODES = 100_000   # a config has a few hundred; an alias bomb expands to billions


def _check_expanded_size(node, source: str) -> None:
    """Refuse a document whose aliases expand to more than MAX_CONFIG_NODES values, or refer to themselves.

    YAML aliases (``*name``) reuse a node; nested ones multiply (nine aliases of nine aliases of ...
    is a "billion laughs" document). PyYAML builds the shared objects quickly, but anything that
    walks the config afterwards (validation, printing, saving) would run for hours. Counting the
    expanded size on the parsed node graph, once per distinct node, takes microseconds.
    """
    sizes, active = {}, set()

    def size(current):
        key = id(current)
        if key in sizes:
            return sizes[key]
        if key in active:
            raise FommTeachError(f"config {source}: an alias refers to the node that contains it (a recursive "
                                 "structure); a config cannot hold one. Fix the file.")
        active.add(key)
        if isinstance(current, yaml.MappingNode):
            total = 1 + sum(size(k) + size(v) for k, v in current.value)
        elif isinstance(current, yaml.SequenceNode):
            total = 1 + sum(size(item) for item in current.value)
        else:
            total = 1
        active.discard(key)
        sizes[key] = total
        if total > MAX_CONFIG_NODES:
            raise FommTeachError(
                f"config {source}: its aliases (*name) expand to more than {MAX_CONFIG_NODES:,} values "
                "(an 'alias bomb'); a config has a few hundred. Refused without reading further.")
        return total

    if node is not None:
        size(node)


def _check_structure(config, source: str, for_training: bool = False) -> None:
    """Raise ``FommTeachError`` unless ``config`` has ``model_params`` with its four sections."""
    if not isinstance(config, dict):
        raise FommTeachError(
            f"config {source}: expected a mapping of sections (dataset_params, model_params, ...), "
            f"got {type(config).__name__}."
        )
    model_params = config.get("model_params")
    if not isinstance(model_params, dict):
        raise FommTeachError(
            f"config {source}: no 'model_params' section. A config in the authors' format has "
            f"model_params with {', '.join(MODEL_SECTIONS)}."
        )
    missing = [section for section in MODEL_SECTIONS if not isinstance(model_params.get(section), dict)]
    if missing:
        raise FommTeachError(
            f"config {source}: model_params lacks {', '.join(missing)} "
            f"(it needs {', '.join(MODEL_SECTIONS)})."
        )
    validate_config(config, source, for_training)


# --- the schema -------------------------------------------------------------------------------
# Every key of the authors' eight configs (spec, Appendix A) and of ours, with what each may hold.
# A key that is not here is an error that names it and suggests the nearest known one, so a typo
# never silently trains the default instead.

SYNTHETIC_LEVELS = ("rigid", "windmill", "puppet")   # fomm_teach.data.puppets.LEVELS (a test keeps them equal)


class Rule:
    """What one leaf value may be: ``check(value)`` is true when it fits; ``allowed`` says what fits."""

    def __init__(self, allowed: str, check):
        self.allowed, self.check = allowed, check


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value) -> bool:
    return (_is_int(value) or isinstance(value, float)) and math.isfinite(value)


def Int(low=None, high=None) -> Rule:
    """An integer in [low, high] (either bound optional)."""
    allowed = "an integer" + _bounds(low, high)
    return Rule(allowed, lambda v: _is_int(v) and (low is None or v >= low) and (high is None or v <= high))


def Number(low=None, high=None, above=None) -> Rule:
    """A finite number (int or float) in [low, high], or > above."""
    allowed = "a number" + (_bounds(low, high) if above is None else f" > {above}" + _bounds(None, high).replace(" <=", " and <="))
    return Rule(allowed, lambda v: _is_number(v) and (low is None or v >= low) and (high is None or v <= high)
                and (above is None or v > above))


def Bool() -> Rule:
    return Rule("true or false", lambda v: isinstance(v, bool))


def Str(choices=None) -> Rule:
    if choices:
        return Rule("one of " + ", ".join(map(str, choices)), lambda v: v in choices)
    return Rule("a string", lambda v: isinstance(v, str))


def ListOf(rule: Rule, min_len=0, max_len=None, length=None, increasing=False) -> Rule:
    """A list of values that each fit ``rule``."""
    if length is not None:
        min_len = max_len = length
    size = (f"{length} " if length is not None else
            f"{min_len} to {max_len} " if max_len is not None else "one or more " if min_len == 1 else
            f"at least {min_len} " if min_len else "")
    allowed = f"a list of {size}values, each {rule.allowed}" + (", increasing" if increasing else "")

    def check(value):
        return (isinstance(value, list) and len(value) >= min_len and (max_len is None or len(value) <= max_len)
                and all(rule.check(item) for item in value)
                and (not increasing or all(a < b for a, b in zip(value, value[1:]))))
    return Rule(allowed, check)


def Optional(rule: Rule) -> Rule:
    return Rule(rule.allowed + ", or null", lambda v: v is None or rule.check(v))


def Schedule(rule: Rule) -> Rule:
    """``rule``, or a schedule [[from_epoch, value], ...] with increasing epochs from 0."""
    def check(value):
        if not isinstance(value, list):
            return rule.check(value)
        return (len(value) > 0 and all(isinstance(e, list) and len(e) == 2 and _is_int(e[0]) and e[0] >= 0
                                       and rule.check(e[1]) for e in value)
                and value[0][0] == 0 and all(a[0] < b[0] for a, b in zip(value, value[1:])))
    return Rule(f"{rule.allowed}, or a schedule [[0, value], [from_epoch, value], ...] of such values", check)


def _bounds(low, high) -> str:
    if low is not None and high is not None:
        return f" from {low} to {high}"
    if low is not None:
        return f" >= {low}"
    return f" <= {high}" if high is not None else ""


COUNT, SIZE, WEIGHT = Int(low=0), Int(low=1), Number(low=0)
LEARNING_RATE = Number(low=0, high=1)   # Adam moves each weight by about lr per step: above 1 nothing trains
SCALE = Number(above=0, high=1)
WEIGHTS = Rule("a number >= 0 or a list of them", lambda v: WEIGHT.check(v) or ListOf(WEIGHT, 1).check(v))

SCHEMA = {
    "dataset_params": {
        "root_dir": Str(),
        "frame_shape": ListOf(SIZE, length=3),
        "id_sampling": Bool(),
        "pairs_list": Optional(Str()),
        "random_seed": Int(),
        "augmentation_params": {
            "flip_param": {"horizontal_flip": Bool(), "time_flip": Bool()},
            "rotation_param": {"degrees": Number(low=0, high=180)},
            "resize_param": {"ratio": ListOf(Number(above=0), length=2)},
            "crop_param": {"size": ListOf(SIZE, length=2)},
            "jitter_param": {"brightness": Number(low=0), "contrast": Number(low=0),
                             "saturation": Number(low=0), "hue": Number(low=0, high=0.5)},
        },
        "synthetic_params": {   # (ours) passed to SyntheticVideos
            "num_frames": Int(low=2), "seed": Int(), "num_videos": SIZE, "max_gap": Optional(SIZE),
        },
        "curriculum": {   # (ours) each entry a value or a schedule
            "level": Schedule(Str(SYNTHETIC_LEVELS)),
            "max_gap": Schedule(Optional(SIZE)),
            "affine_warmup": {"epochs": COUNT, "sigma": Number(low=0)},
        },
    },
    "model_params": {
        "common_params": {"num_kp": SIZE, "num_channels": SIZE, "estimate_jacobian": Bool(),
                          "align_corners": Bool()},
        "kp_detector_params": {
            "temperature": Number(above=0), "block_expansion": SIZE, "max_features": SIZE,
            "scale_factor": SCALE, "num_blocks": SIZE, "single_jacobian_map": Bool(), "pad": COUNT,
        },
        "generator_params": {
            "block_expansion": SIZE, "max_features": SIZE, "num_down_blocks": COUNT,
            "num_bottleneck_blocks": COUNT, "estimate_occlusion_map": Bool(),
            "dense_motion_params": {"block_expansion": SIZE, "max_features": SIZE, "num_blocks": SIZE,
                                    "scale_factor": SCALE, "kp_variance": Number(above=0)},
        },
        "discriminator_params": {
            "scales": ListOf(SCALE, min_len=1), "block_expansion": SIZE, "max_features": SIZE,
            "num_blocks": SIZE, "sn": Bool(), "use_kp": Bool(), "kp_variance": Number(above=0),
        },
    },
    "train_params": {
        "num_epochs": SIZE, "num_repeats": SIZE, "epoch_milestones": ListOf(SIZE, increasing=True),
        "lr_generator": LEARNING_RATE, "lr_discriminator": LEARNING_RATE, "lr_kp_detector": LEARNING_RATE,
        "batch_size": SIZE, "scales": ListOf(SCALE, min_len=1), "checkpoint_freq": SIZE,
        "num_workers": COUNT,                                                  # (ours) DataLoader workers
        "perceptual_backbone": Str(("imagenet", "random", "none")),            # (ours)
        "vgg19_weights": Optional(Str()),                                      # (ours)
        "loss_weight_schedule": "loss_weights",                                # (ours) {loss name: schedule}
        "transform_params": {"sigma_affine": Number(low=0), "sigma_tps": Number(low=0), "points_tps": SIZE},
        "loss_weights": {
            "generator_gan": WEIGHT, "discriminator_gan": WEIGHT,
            "feature_matching": ListOf(WEIGHT, min_len=1), "perceptual": ListOf(WEIGHT, 1, 5),
            "l1_pyramid": WEIGHT,                                              # (ours)
            "equivariance_value": WEIGHT, "equivariance_jacobian": WEIGHT,
        },
    },
    "reconstruction_params": {"num_videos": Optional(SIZE), "format": Str()},
    "animate_params": {
        "num_pairs": SIZE, "format": Str(),
        "normalization_params": {"adapt_movement_scale": Bool(), "use_relative_movement": Bool(),
                                 "use_relative_jacobian": Bool()},
    },
    "visualizer_params": {"kp_size": COUNT, "draw_border": Bool(), "colormap": Str()},
}

# Needed before training starts (load_config accepts partial configs, e.g. for building models).
TRAINING_KEYS = (
    "dataset_params.root_dir", "dataset_params.frame_shape",
    "train_params.num_epochs", "train_params.lr_generator", "train_params.lr_discriminator",
    "train_params.lr_kp_detector", "train_params.batch_size", "train_params.scales",
    "train_params.loss_weights.generator_gan", "train_params.loss_weights.discriminator_gan",
    "train_params.loss_weights.feature_matching", "train_params.loss_weights.equivariance_value",
    "train_params.loss_weights.equivariance_jacobian",
)


def known_keys(schema=SCHEMA, prefix="") -> list[str]:
    """Every key of the schema as a dotted path (``train_params.loss_weights.perceptual``, ...)."""
    keys = []
    for key, rule in schema.items():
        path = f"{prefix}{key}"
        keys.append(path)
        if isinstance(rule, dict):
            keys.extend(known_keys(rule, path + "."))
    return keys


def validate_config(config: dict, source: str = "given as a dict", for_training: bool = False) -> None:
    """Raise ``FommTeachError`` unless every key of ``config`` is known and every value fits.

    Unknown keys are named with the nearest known key; a bad value is named with what is allowed.
    for_training: also require the keys that ``train`` reads (see ``TRAINING_KEYS``) and the
    cross-checks that only matter then (the synthetic curriculum, the equivariance transform).
    """
    _check_section(config, SCHEMA, "", source, config)
    _check_consistency(config, source)
    if for_training:
        for path in TRAINING_KEYS:
            if _lookup(config, path) is _MISSING:
                raise FommTeachError(f"config {source}: {path} is missing; training needs it "
                                     f"(see fomm_teach/configs/vox-256.yaml for the authors' value).")
        weights = config["train_params"]["loss_weights"]
        schedules = config["train_params"].get("loss_weight_schedule") or {}
        generator_terms = ("perceptual", "l1_pyramid", "generator_gan", "equivariance_value", "equivariance_jacobian")
        if not any(_nonzero(weights.get(name, 0)) or _nonzero(schedules.get(name, 0)) for name in generator_terms):
            raise FommTeachError(f"config {source}: every loss weight of the generator is 0 "
                                 f"(train_params.loss_weights: {', '.join(generator_terms)}), so nothing would train.")
        if (weights["equivariance_value"] or weights["equivariance_jacobian"]) and \
                _lookup(config, "train_params.transform_params.sigma_affine") is _MISSING:
            raise FommTeachError(f"config {source}: the equivariance losses are on, so train_params.transform_params "
                                 "needs sigma_affine (and sigma_tps, points_tps for the thin-plate spline).")


_MISSING = object()


def _nonzero(value) -> bool:
    """True if a weight, a list of weights or a schedule [[epoch, weight], ...] has a weight other than 0."""
    if isinstance(value, list):
        return any(_nonzero(item[1] if isinstance(item, list) and len(item) == 2 and _is_int(item[0]) else item)
                   for item in value)
    return value != 0


def _lookup(config, path):
    node = config
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return _MISSING
        node = node[part]
    return node


def _check_section(section, schema: dict, prefix: str, source: str, config: dict) -> None:
    where = prefix.rstrip(".") or "the top level"
    if not isinstance(section, dict):
        raise FommTeachError(f"config {source}: {where} must be a mapping of keys, got {_show(section)}.")
    for key, value in section.items():
        path = f"{prefix}{key}"
        if key not in schema:
            raise FommTeachError(f"config {source}: unknown key {path}{_suggestion(key, schema, prefix)}")
        rule = schema[key]
        if isinstance(rule, dict):
            if value is None and prefix:   # an empty section written as "jitter_param:" (null)
                continue
            _check_section(value, rule, path + ".", source, config)
        elif rule == "loss_weights":
            _check_loss_weight_schedule(value, path, source, config)
        elif not rule.check(value):
            raise FommTeachError(f"config {source}: {path} is {_show(value)}; it must be {rule.allowed}.")


def _check_loss_weight_schedule(value, path: str, source: str, config: dict) -> None:
    if value is None:
        return
    names = SCHEMA["train_params"]["loss_weights"]
    if not isinstance(value, dict):
        raise FommTeachError(f"config {source}: {path} must map loss names to schedules, got {_show(value)}.")
    rule = Schedule(WEIGHTS)
    for name, schedule in value.items():
        if name not in names:
            raise FommTeachError(f"config {source}: {path} names {name!r}, which is not a loss weight"
                                 f"{_suggestion(name, names, 'train_params.loss_weights.')}")
        if not rule.check(schedule):
            raise FommTeachError(f"config {source}: {path}.{name} is {_show(schedule)}; it must be {rule.allowed}.")


def _check_consistency(config: dict, source: str) -> None:
    """Checks across keys: channels of frame_shape, frame sizes the networks can halve, milestones."""
    model_params = config.get("model_params") or {}
    common = model_params.get("common_params") or {}
    frame_shape = _lookup(config, "dataset_params.frame_shape")
    channels = common.get("num_channels")
    if frame_shape is not _MISSING and channels is not None and frame_shape[2] != channels:
        raise FommTeachError(f"config {source}: dataset_params.frame_shape {frame_shape} has {frame_shape[2]} "
                             f"channels but model_params.common_params.num_channels is {channels}.")
    if frame_shape is not _MISSING:
        for network, multiple in _size_multiples(model_params):
            for side in frame_shape[:2]:
                if side % multiple or side < multiple:
                    raise FommTeachError(
                        f"config {source}: dataset_params.frame_shape {frame_shape} does not fit the {network}: "
                        f"height and width must be multiples of {multiple} (at least {multiple}); change "
                        "frame_shape, or the network's scale_factor / num_blocks.")


def _size_multiples(model_params: dict):
    """(network, the number the frame's sides must be a multiple of) for each network the config sets."""
    kp = model_params.get("kp_detector_params") or {}
    if _is_int(kp.get("num_blocks")) and _is_number(kp.get("scale_factor", 1)):
        yield "kp_detector", round(1 / kp.get("scale_factor", 1)) * 2 ** kp["num_blocks"]
    generator = model_params.get("generator_params") or {}
    if _is_int(generator.get("num_down_blocks")):
        yield "generator", 2 ** generator["num_down_blocks"]
    dense = generator.get("dense_motion_params") or {}
    if _is_int(dense.get("num_blocks")) and _is_number(dense.get("scale_factor", 1)):
        yield "dense motion network", int(1 / dense.get("scale_factor", 1)) * 2 ** dense["num_blocks"]


def _suggestion(key: str, known, prefix: str) -> str:
    """'; did you mean X?' with the nearest key of the same section, or where the key belongs instead."""
    elsewhere = [path for path in known_keys() if path.rsplit(".", 1)[-1] == key]
    if elsewhere:
        return f"; {key} belongs in {' or '.join(p.rsplit('.', 1)[0] for p in elsewhere)}."
    close = difflib.get_close_matches(str(key), [str(k) for k in known], n=1, cutoff=0.6)
    if close:
        return f"; did you mean {prefix}{close[0]}?"
    listed = ", ".join(str(k) for k in known)
    return f"; the keys {('of ' + prefix.rstrip('.')) if prefix else 'at the top level'} are: {listed}."


def _show(value) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
