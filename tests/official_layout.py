"""The authors' state_dict layout, two independent ways, for the layout and checkpoint tests.

1. ``official_layout(name)``: read from ``data/official-vox256-keys.txt`` (a copy of
   ``shared/reference/official-vox256-keys.txt``, dumped from the authors' modules), with the
   per-config differences of fomm-spec.md §10 applied by hand.
2. ``spec_layout(model_params)``: derived from the block structure of fomm-spec.md §1–5 for any
   config (used for small-64, which the authors never built); checked against 1 on vox-256.

A layout is ``{'kp_detector': {key: shape}, 'generator': ..., 'discriminator': ...}`` with the
keys in state_dict order and shapes as tuples (``()`` for a scalar).
"""

import json
import re
from pathlib import Path

KEYS_FILE = Path(__file__).parent / "data" / "official-vox256-keys.txt"
MODULES = ("kp_detector", "generator", "discriminator")

# fomm-spec.md §10: which of the authors' configs differ from vox-256, and how.
SPECTRAL_NORM = {"vox-256", "bair-256", "mgif-256", "nemo-256"}
USE_KP = {"vox-adv-256", "taichi-adv-256"}
SINGLE_JACOBIAN_MAP = {"mgif-256"}
AUTHORS_CONFIGS = ["vox-256", "vox-adv-256", "taichi-256", "taichi-adv-256", "bair-256", "fashion-256",
                   "mgif-256", "nemo-256"]


def _parse_shape(text):
    return () if text == "scalar" else tuple(int(size) for size in text.split("x"))


def _read_keys_file():
    """Returns ({section: {module: {key: shape}}}, {(config, module): counts})."""
    sections, counts, section = {}, {}, None
    for line in KEYS_FILE.read_text().splitlines():
        header = re.match(r"## ===== (\S+) =====", line)
        if header:
            section = header.group(1)
            continue
        count = re.match(r"# \[(\S+)\] (\S+): (\{.*\})", line)
        if count:
            counts[(count.group(1), count.group(2))] = json.loads(count.group(3))
            continue
        if not line.strip() or line.startswith("#"):
            continue
        name, shape = line.split()
        module, key = name.split(".", 1)
        sections.setdefault(section, {}).setdefault(module, {})[key] = _parse_shape(shape)
    return sections, counts


SECTIONS, COUNTS = _read_keys_file()


def official_layout(config_name):
    """The authors' layout of a config: vox-256 from the file, the others by the spec's differences."""
    vox = SECTIONS["vox-256"]
    layout = {module: dict(vox[module]) for module in MODULES}
    if config_name not in SPECTRAL_NORM:
        layout["discriminator"] = dict(SECTIONS["taichi-256"]["discriminator"])
    if config_name in USE_KP:
        key = "discs.1.down_blocks.0.conv.weight"
        layout["discriminator"][key] = (64, 13, 4, 4)  # 3 RGB + 10 keypoint heatmaps
    if config_name in SINGLE_JACOBIAN_MAP:
        layout["kp_detector"]["jacobian.weight"] = (4, 35, 7, 7)
        layout["kp_detector"]["jacobian.bias"] = (4,)
    return layout


# --- the layout from the spec's block structure ----------------------------------------------------

def _batchnorm(prefix, channels):
    return {f"{prefix}.weight": (channels,), f"{prefix}.bias": (channels,), f"{prefix}.running_mean": (channels,),
            f"{prefix}.running_var": (channels,), f"{prefix}.num_batches_tracked": ()}


def _conv_block(prefix, out_channels, in_channels, kernel):
    """DownBlock2d / UpBlock2d / SameBlock2d: conv (with bias) then BatchNorm."""
    return {f"{prefix}.conv.weight": (out_channels, in_channels, kernel, kernel),
            f"{prefix}.conv.bias": (out_channels,),
            **_batchnorm(f"{prefix}.norm", out_channels)}


def _hourglass(prefix, block_expansion, in_features, num_blocks, max_features):
    """Encoder c_{i+1} = min(maxf, be·2^(i+1)); decoder level i maps (1 or 2)·c_{i+1} -> min(maxf, be·2^i)."""
    layout, channels = {}, in_features
    for i in range(num_blocks):
        out = min(max_features, block_expansion * 2 ** (i + 1))
        layout.update(_conv_block(f"{prefix}.encoder.down_blocks.{i}", out, channels, 3))
        channels = out
    for j in range(num_blocks):
        level = num_blocks - 1 - j
        factor = 1 if level == num_blocks - 1 else 2
        layout.update(_conv_block(f"{prefix}.decoder.up_blocks.{j}",
                                  min(max_features, block_expansion * 2 ** level),
                                  factor * min(max_features, block_expansion * 2 ** (level + 1)), 3))
    return layout, block_expansion + in_features


def _antialias(prefix, channels, scale):
    if scale == 1:
        return {}
    sigma = (1 / scale - 1) / 2
    size = 2 * round(sigma * 4) + 1
    return {f"{prefix}.weight": (channels, 1, size, size)}


def _conv(prefix, out_channels, in_channels, kernel):
    return {f"{prefix}.weight": (out_channels, in_channels, kernel, kernel), f"{prefix}.bias": (out_channels,)}


def _spec_kp_detector(p, c):
    layout, out = _hourglass("predictor", p["block_expansion"], c["num_channels"], p["num_blocks"],
                             p["max_features"])
    layout.update(_conv("kp", c["num_kp"], out, 7))
    if c.get("estimate_jacobian", False):
        maps = 1 if p.get("single_jacobian_map", False) else c["num_kp"]
        layout.update(_conv("jacobian", 4 * maps, out, 7))
    layout.update(_antialias("down", c["num_channels"], p.get("scale_factor", 1)))
    return layout


def _spec_generator(p, c):
    layout = {}
    d = p.get("dense_motion_params")
    if d is not None:
        prefix = "dense_motion_network"
        hourglass, out = _hourglass(f"{prefix}.hourglass", d["block_expansion"],
                                    (c["num_kp"] + 1) * (c["num_channels"] + 1), d["num_blocks"], d["max_features"])
        layout.update(hourglass)
        layout.update(_conv(f"{prefix}.mask", c["num_kp"] + 1, out, 7))
        if p.get("estimate_occlusion_map", False):
            layout.update(_conv(f"{prefix}.occlusion", 1, out, 7))
        layout.update(_antialias(f"{prefix}.down", c["num_channels"], d.get("scale_factor", 1)))
    be, maxf, down = p["block_expansion"], p["max_features"], p["num_down_blocks"]
    width = [min(maxf, be * 2 ** i) for i in range(down + 1)]
    layout.update(_conv_block("first", be, c["num_channels"], 7))
    for i in range(down):
        layout.update(_conv_block(f"down_blocks.{i}", width[i + 1], width[i], 3))
    for i in range(down):
        layout.update(_conv_block(f"up_blocks.{i}", width[down - i - 1], width[down - i], 3))
    for r in range(p["num_bottleneck_blocks"]):
        channels = width[down]
        layout.update(_conv(f"bottleneck.r{r}.conv1", channels, channels, 3))
        layout.update(_conv(f"bottleneck.r{r}.conv2", channels, channels, 3))
        layout.update(_batchnorm(f"bottleneck.r{r}.norm1", channels))
        layout.update(_batchnorm(f"bottleneck.r{r}.norm2", channels))
    layout.update(_conv("final", c["num_channels"], be, 7))
    return layout


def _disc_conv(prefix, out_channels, in_channels, kernel, sn):
    """A conv, or with old-API spectral norm: bias, weight_orig, weight_u (out), weight_v (in·k·k)."""
    if not sn:
        return _conv(prefix, out_channels, in_channels, kernel)
    return {f"{prefix}.bias": (out_channels,), f"{prefix}.weight_orig": (out_channels, in_channels, kernel, kernel),
            f"{prefix}.weight_u": (out_channels,), f"{prefix}.weight_v": (in_channels * kernel * kernel,)}


def _spec_discriminator(p, c):
    layout = {}
    sn, be, maxf = p.get("sn", False), p["block_expansion"], p["max_features"]
    for scale in p["scales"]:
        prefix = "discs." + str(scale).replace(".", "-")
        channels = c["num_channels"] + (c["num_kp"] if p.get("use_kp", False) else 0)
        for i in range(p["num_blocks"]):
            out = min(maxf, be * 2 ** (i + 1))
            layout.update(_disc_conv(f"{prefix}.down_blocks.{i}.conv", out, channels, 4, sn))
            if i > 0:  # InstanceNorm(affine=True) on every block but the first; no running stats
                layout.update({f"{prefix}.down_blocks.{i}.norm.weight": (out,),
                               f"{prefix}.down_blocks.{i}.norm.bias": (out,)})
            channels = out
        layout.update(_disc_conv(f"{prefix}.conv", 1, channels, 1, sn))
    return layout


def spec_layout(model_params):
    """The layout a config's model_params gives, from the spec's description of every block."""
    common = model_params["common_params"]
    return {"kp_detector": _spec_kp_detector(model_params["kp_detector_params"], common),
            "generator": _spec_generator(model_params["generator_params"], common),
            "discriminator": _spec_discriminator(model_params["discriminator_params"], common)}


def layout_of(models):
    """The layout of built models (``build_models`` output)."""
    return {name: {key: tuple(value.shape) for key, value in models[name].state_dict().items()} for name in MODULES}
