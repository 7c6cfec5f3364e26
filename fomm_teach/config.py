"""YAML configs in the authors' structure: the eight configs of first-order-model, plus course ones.

A config is a plain nested dict with the sections of the authors' ``config/*.yaml``:

- ``dataset_params``: the frames dataset (root_dir, frame_shape, id_sampling, augmentation_params);
- ``model_params``: ``common_params`` (num_kp, num_channels, estimate_jacobian) merged into each of
  ``kp_detector_params``, ``generator_params`` (with ``dense_motion_params``) and
  ``discriminator_params`` by :func:`fomm_teach.models.build_models`, as the authors' run.py does;
- ``train_params``: epochs, repeats, learning rates, milestones, batch size, pyramid scales,
  checkpoint frequency, ``transform_params`` (equivariance warp) and ``loss_weights``;
- ``reconstruction_params``, ``animate_params`` (with ``normalization_params``), ``visualizer_params``.

One key is ours: ``model_params.common_params.align_corners`` (optional, default ``true``).
The coordinate grid puts -1 and +1 on the *centres* of the border pixels, which is the
``align_corners=True`` convention of ``F.grid_sample``. The authors' code never passes the flag:
under torch 1.0, where their released models were trained, grid_sample behaved like ``True``;
since torch 1.3 the default is ``False``, and the identity warp then shrinks the image by
(W-1)/W about its centre (mean error 0.026 on a smooth 64x64 image; spec, Subtlety 1).
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


def load_config(name_or_path: str | os.PathLike | dict) -> dict:
    """Read a config: a shipped name (``"vox-256"``), a path to a YAML file, or a dict (copied).

    Returns the nested dict of the authors' YAML structure, unchanged (no defaults are filled in).
    Raises ``FommTeachError`` for an unknown name, a missing file, bad YAML, or a file without the
    ``model_params`` sections that the models are built from.
    """
    if isinstance(name_or_path, dict):
        config = copy.deepcopy(name_or_path)
        _check_structure(config, "the config dict")
        return config
    text_name = os.fspath(name_or_path)
    path = Path(text_name).expanduser()
    if path.is_file():
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as err:
            raise FommTeachError(f"config file {path} cannot be read as UTF-8 text: {err}.") from None
        return _read_yaml(text, str(path))
    names = available_configs()
    if text_name in names:
        resource = resources.files("fomm_teach") / "configs" / f"{text_name}.yaml"
        return _read_yaml(resource.read_text(encoding="utf-8"), f"{text_name} (shipped config)")
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


def _read_yaml(text: str, source: str) -> dict:
    """Parse ``text`` (read from ``source``) and check that it has the model sections."""
    try:
        config = yaml.load(text, Loader=_ConfigLoader)
    except yaml.YAMLError as err:
        where = ""
        mark = getattr(err, "problem_mark", None)
        if mark is not None:
            where = f" at line {mark.line + 1}, column {mark.column + 1}"
        problem = getattr(err, "problem", None) or str(err)
        raise FommTeachError(f"config {source}: not valid YAML{where}: {problem}. Fix the file.") from None
    _check_structure(config, source)
    return config


def _check_structure(config, source: str) -> None:
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
    align_corners = model_params["common_params"].get("align_corners", True)
    if not isinstance(align_corners, bool):
        raise FommTeachError(
            f"config {source}: model_params.common_params.align_corners must be true or false, "
            f"got {align_corners!r}."
        )
