"""The model that ships with the package: trained by ``fomm-teach train`` on synthetic windmills.

``fomm_teach/assets/`` holds the checkpoint (``synthetic-windmill.pth.tar``, the authors' layout,
``weights_only``-loadable), the config it was trained with, its ``log.txt`` and ``COMMAND.txt``,
the exact command that reproduces it. Everything loads offline.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import torch

from fomm_teach.errors import FommTeachError

CHECKPOINT_NAME = "synthetic-windmill.pth.tar"
CONFIG_NAME = "synthetic-windmill.yaml"


def asset_path(name: str) -> Path:
    """The path of a file in the installed package's ``assets/`` folder."""
    return Path(str(resources.files("fomm_teach") / "assets" / name))


def shipped_model_path() -> Path:
    return asset_path(CHECKPOINT_NAME)


def load_shipped_model(device: torch.device | str = "cpu") -> tuple[dict, dict]:
    """(models, config): the shipped keypoint detector and generator, in eval mode, and their config.

    models = {'kp_detector': KPDetector, 'generator': OcclusionAwareGenerator}.
    """
    from fomm_teach.config import load_config
    from fomm_teach.checkpoint import load_trained_models

    path = shipped_model_path()
    if not path.is_file():
        raise FommTeachError(f"the shipped model is missing from this installation ({path}); reinstall fomm_teach.")
    config = load_config(asset_path(CONFIG_NAME))
    return load_trained_models(path, config, device=device), config
