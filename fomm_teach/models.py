"""Build the three networks of a config, the way the authors' run.py builds them.

``common_params`` (num_kp, num_channels, estimate_jacobian) is merged into the parameters of each
network. Our one extra key, ``common_params.align_corners`` (default true; see
:mod:`fomm_teach.config`), goes to the generator only: it is the only network that warps.
"""

from __future__ import annotations

import inspect
import os

import torch

from fomm_teach.config import load_config
from fomm_teach.errors import FommTeachError


def build_models(config: dict | str | os.PathLike, device: torch.device | str | None = None) -> dict:
    """Return ``{'kp_detector': KPDetector, 'generator': OcclusionAwareGenerator,
    'discriminator': MultiScaleDiscriminator}`` built from ``config``.

    config: a config dict, a shipped config name or a YAML path (see ``load_config``).
    device: where to put the models (default: wherever torch creates tensors, usually the CPU).
    The models are freshly initialised and in training mode.
    """
    from fomm_teach.discriminator import Discriminator, MultiScaleDiscriminator
    from fomm_teach.generator import OcclusionAwareGenerator
    model_params = load_config(config)["model_params"]
    common_params = dict(model_params["common_params"])
    align_corners = common_params.pop("align_corners", True)

    kp_detector = build_kp_detector(config)
    generator = _construct(OcclusionAwareGenerator, "generator_params", model_params["generator_params"],
                           {**common_params, "align_corners": align_corners})
    # The authors' Discriminator swallows the common keys it has no use for (estimate_jacobian)
    # through **kwargs; give it only those it takes, whichever signature it has.
    disc_common = _accepted(Discriminator, common_params)
    disc_params = model_params["discriminator_params"]
    # MultiScaleDiscriminator(scales, **kwargs) hands everything but scales to each Discriminator.
    _check_fits(Discriminator, "discriminator_params",
                {key: value for key, value in disc_params.items() if key != "scales"}, disc_common)
    discriminator = _construct(MultiScaleDiscriminator, "discriminator_params", disc_params, disc_common)
    models = {"kp_detector": kp_detector, "generator": generator, "discriminator": discriminator}
    if device is not None:
        models = {name: model.to(device) for name, model in models.items()}
    return models


def build_kp_detector(config: dict | str | os.PathLike) -> torch.nn.Module:
    """Only the ``KPDetector`` of ``config``, built as in :func:`build_models` (freshly initialised)."""
    from fomm_teach.keypoints import KPDetector

    model_params = load_config(config)["model_params"]
    common_params = {key: value for key, value in model_params["common_params"].items() if key != "align_corners"}
    return _construct(KPDetector, "kp_detector_params", model_params["kp_detector_params"], common_params)


def _accepted(cls, params: dict) -> dict:
    """The entries of ``params`` that ``cls.__init__`` accepts by name (all of them if it takes **kwargs)."""
    signature = inspect.signature(cls.__init__)
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in signature.parameters.values()):
        return dict(params)
    return {key: value for key, value in params.items() if key in signature.parameters}


def _construct(cls, section: str, section_params: dict, common_params: dict):
    """``cls(**section_params, **common_params)``, with a config-level message when a key is wrong."""
    _check_fits(cls, section, section_params, common_params)
    return cls(**section_params, **common_params)


def _check_fits(cls, section: str, section_params: dict, common_params: dict) -> None:
    """Raise ``FommTeachError`` unless ``cls`` accepts the section merged with common_params."""
    clash = set(section_params) & set(common_params)
    if clash:
        raise FommTeachError(
            f"config: model_params.{section} repeats {', '.join(sorted(clash))}, which common_params "
            "already sets; keep it in common_params only."
        )
    try:
        inspect.signature(cls).bind(**section_params, **common_params)
    except TypeError as err:
        raise FommTeachError(
            f"config: model_params.{section} (merged with common_params) does not fit "
            f"{cls.__name__}: {err}. Check the key names against the authors' config/vox-256.yaml."
        ) from None
