"""fomm_teach: the First Order Motion Model (Siarohin et al., NeurIPS 2019), built chapter by chapter.

The model modules (``blocks``, ``keypoints``, ``motion``, ``dense_motion``, ``generator``,
``discriminator``) are generated from the course notebooks; edit the notebook, then run
``make export``.

Public API (imported on first use, so ``import fomm_teach`` stays light):

- ``load_config(name_or_path)`` / ``available_configs()``: the authors' YAML configs;
- ``build_models(config)``: ``{'kp_detector', 'generator', 'discriminator'}`` as the authors build them;
- ``save_checkpoint(path, models, ...)`` / ``load_checkpoint(path, models, ...)``: the authors'
  ``.pth.tar`` layout.
"""

from typing import TYPE_CHECKING

__version__ = "0.1.0"

if TYPE_CHECKING:  # type checkers see the real signatures; at run time they load lazily (below)
    from fomm_teach.checkpoint import load_checkpoint, save_checkpoint
    from fomm_teach.config import available_configs, load_config
    from fomm_teach.models import build_models

# public name -> module that defines it
_PUBLIC_API = {
    "load_config": "fomm_teach.config",
    "available_configs": "fomm_teach.config",
    "build_models": "fomm_teach.models",
    "save_checkpoint": "fomm_teach.checkpoint",
    "load_checkpoint": "fomm_teach.checkpoint",
}

__all__ = ["__version__", *_PUBLIC_API]


def __getattr__(name: str):
    """Import a public API function the first time it is used (PEP 562)."""
    if name not in _PUBLIC_API:
        raise AttributeError(f"module 'fomm_teach' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(_PUBLIC_API[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_PUBLIC_API))
