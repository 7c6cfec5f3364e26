# ---
# jupyter:
#   fomm_teach:
#     module: generator
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 04 · The occlusion-aware generator
#
# Chapter 03 ended with a dense backward flow $\hat{\mathcal{T}}_{S\leftarrow D}$ and an occlusion
# map $\hat{\mathcal{O}}_{S\leftarrow D}$. This chapter uses them to *draw* the driving frame. The
# generator of Siarohin et al. (2019, Sec. 3.2) does not warp pixels: it encodes the source into
# feature maps, warps **the features**, masks them with the occlusion map, and decodes the result.
#
# **Learning goals.** After this chapter you can
# 1. warp a feature map with a flow computed at another resolution;
# 2. explain why `align_corners` decides whether the "identity" warp is the identity;
# 3. write the generator's middle step: warp the source's features with the flow and switch off,
#    with the occlusion map, what the source cannot show (paper Eq. 8: a product, not a blend);
# 4. trace every tensor of `OcclusionAwareGenerator` from the source image to `prediction`;
# 5. read the discriminator you will train against in chapter 05, and its patch-map size.
#
# Symbols and shapes follow the notation table of `00_start_here` (§0.4).

# %%
from fomm_teach import checks
from fomm_teach.course import start

course = start()   # seeds, sets threads, picks course.device, reads course.quick (FOMM_TEACH_QUICK=1), prints versions

# %%
import math

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F

from fomm_teach import viz
from fomm_teach.blocks import DownBlock2d, SameBlock2d
from fomm_teach.motion import jacobian_from_pose, make_coordinate_grid

image_size = course.pick(quick=64, full=128)
spatial_size = (image_size, image_size)

# %% [markdown]
# The cell below starts `fomm_teach/generator.py`; `make export` copies every `export` cell of
# this notebook there (and the last section's cells into `fomm_teach/discriminator.py`).

# %% tags=["export"]
"""Occlusion-aware generator (Siarohin et al. 2019, Sec. 3.2; the authors' modules/generator.py): encode, warp, mask, decode.

Shapes use B = batch, C = channels, (H, W) = image size, (h, w) = the dense motion's resolution.
"""
import torch
import torch.nn.functional as F
from torch import nn

from fomm_teach.blocks import DownBlock2d, ResBlock2d, SameBlock2d, UpBlock2d, check_image
from fomm_teach.dense_motion import DenseMotionNetwork
from fomm_teach.motion import warp_image

# %% [markdown]
# ## 4.1 The toy scene again, and its ideal flow
#
# We reuse chapter 03's three squares. `viz.toy_dense_motion` repeats that chapter's steps with the
# ideal (ground-truth) masks and returns the dense flow and the ideal occlusion map, so this chapter
# can focus on what the generator does with them.

# %%
part_size = 0.22
kp_source = {
    "value": torch.tensor([[[-0.5, -0.45], [0.45, -0.4], [0.0, 0.45]]]),                          # (1, 3, 2)
    "jacobian": torch.stack([jacobian_from_pose(0.0, part_size)] * 3)[None],                      # (1, 3, 2, 2)
}
kp_driving = {
    "value": torch.tensor([[[-0.35, -0.2], [0.55, -0.55], [0.05, 0.45]]]),                        # (1, 3, 2)
    "jacobian": torch.stack([jacobian_from_pose(math.radians(30), part_size),
                             jacobian_from_pose(0.0, 0.8 * part_size),
                             jacobian_from_pose(math.radians(-60), part_size)])[None],            # (1, 3, 2, 2)
}
toy = viz.toy_dense_motion(kp_source, kp_driving, spatial_size)
source_image, driving_image = toy["source"], toy["driving"]
identity_grid = make_coordinate_grid(spatial_size)                                                # (H, W, 2)


# %% tags=["helper"]
def show_toy_scene(toy):
    """Source, driving frame, ideal dense flow and ideal occlusion map of chapter 03's toy scene."""
    fig, axes = plt.subplots(2, 2, figsize=(7.8, 7.4), layout="constrained")
    axes = axes.ravel()
    viz.show_image(axes[0], toy["source"][0], "source S")
    viz.show_image(axes[1], toy["driving"][0], "driving D")
    viz.show_flow(axes[2], toy["deformation"][0] - make_coordinate_grid(toy["deformation"].shape[1:3]),
                  "ideal dense flow T̂(z) − z", max_norm=0.5)
    viz.show_occlusion(axes[3], toy["occlusion_map"][0, 0], "ideal occlusion map Ô (1 = visible in S)")
    plt.show()


# %%
show_toy_scene(toy)

# %% [markdown]
# ## 4.2 Warping feature maps
#
# Let $\xi = E(S)$ be the encoder's features of the source, of size $H' \times W'$ (vox-256: 256
# channels at 64×64). Warping them is the same backward sampling as for an image,
# $\xi_w(z) = \xi\big(\hat{\mathcal{T}}(z)\big)$, written $f_w(\xi, \hat{\mathcal{T}})$ in the paper.
# Because the flow is in normalised $[-1, 1]$ coordinates, it does not care about the feature map's
# size, only its *sampling grid* does: if the dense motion ran at $h \times w \neq H' \times W'$, the
# flow is first resized to $H' \times W'$.
#
# - The resize is `F.interpolate(mode="bilinear", align_corners=False)`: the authors' code relies
#   on the default, which was `False` in torch 1.0 and still is, so there is nothing to choose.
#   `F.interpolate` resizes the last two axes of a `(B, channels, h, w)` tensor, so the flow's
#   `(x, y)` axis has to be the channel axis while it is resized.
# - The sampling is `grid_sample` with **our** `align_corners` (default `True`), as everywhere.
#
# With the vox-256 settings both sizes are 64×64 and the resize never runs; our small notebook model
# below runs the dense motion at half resolution, so it does.

# %% tags=["exercise"]
def deform_input(inp, deformation, align_corners=True):
    """Warp a feature map with a backward flow. inp: (B, C, H, W); deformation: (B, h, w, 2). Returns (B, C, H, W)."""
    raise NotImplementedError("Exercise 4.1: resize the flow to (H, W) if needed, then grid_sample")


# %% tags=["solution", "export"]
def deform_input(inp, deformation, align_corners=True):
    """f_w(ξ, T̂): warp a feature map with a backward flow, out(z) = inp(T̂(z)) (bilinear, zero padding).

    inp: (B, C, H, W); deformation: (B, h, w, 2) in (x, y) order. If (h, w) ≠ (H, W) the flow is
    first resized bilinearly with align_corners=False (as in the authors' code). Returns (B, C, H, W).
    """
    _, h_old, w_old, _ = deformation.shape
    _, _, h, w = inp.shape
    if (h_old, w_old) != (h, w):
        deformation = deformation.permute(0, 3, 1, 2)                                               # (B, 2, h, w)
        deformation = F.interpolate(deformation, size=(h, w), mode="bilinear", align_corners=False)  # (B, 2, H, W)
        deformation = deformation.permute(0, 2, 3, 1)                                               # (B, H, W, 2)
    return warp_image(inp, deformation, align_corners=align_corners)                                # (B, C, H, W)


# %%
deform_input = checks.check_deform_input(deform_input)

# %% [markdown]
# To *see* warped features, we stand in for the encoder with two hand-made "feature" channels at a
# quarter of the resolution: a blurred luminance and a vertical-edge detector. The flow is at full
# resolution, so `deform_input` resizes it first.

# %% tags=["helper"]
def toy_features(image):
    """Two hand-made feature channels at a quarter resolution: luminance and |vertical edges|. (B, 2, H/4, W/4)."""
    gray = image.mean(1, keepdim=True)                                                       # (B, 1, H, W)
    edges = F.conv2d(gray, torch.tensor([[[[-1.0, 0.0, 1.0]] * 3]]) / 3, padding=1).abs()   # (B, 1, H, W)
    return F.avg_pool2d(torch.cat([gray, 4 * edges], dim=1), 4)                              # (B, 2, H/4, W/4)


def show_feature_maps(columns, title):
    """One column per (features (1, 2, h, w), label): row 0 the luminance channel, row 1 the edge channel."""
    fig, axes = plt.subplots(2, len(columns), figsize=(3.2 * len(columns), 6.2), layout="constrained", squeeze=False)
    for row, name in enumerate(["blurred luminance", "vertical edges"]):
        for col, (tensor, what) in enumerate(columns):
            viz.show_heatmap(axes[row, col], tensor[0, row], f"{what}:\n{name}", label="activation")
    fig.suptitle(title)
    plt.show()


# %%
features = toy_features(source_image)                                                        # (1, 2, H/4, W/4)
warped_features = deform_input(features, toy["deformation"])                                 # (1, 2, H/4, W/4)
print("features", tuple(features.shape), "flow", tuple(toy["deformation"].shape), "→ warped", tuple(warped_features.shape))
show_feature_maps([(features, "features of S"), (warped_features, "warped features of S"),
                   (toy_features(driving_image), "features of D (target)")],
                  f"Warping features ({features.shape[2]}×{features.shape[3]}) with a flow computed at the "
                  f"image's resolution ({spatial_size[0]}×{spatial_size[1]})")

# %% [markdown]
# ## 4.3 `align_corners`: is the identity warp the identity?
#
# The coordinate grid puts $-1$ and $+1$ at the **centres** of the border pixels (chapter 01).
# `grid_sample(..., align_corners=True)` reads coordinates the same way, so warping with the
# identity grid returns the input exactly. With `align_corners=False`, $\pm1$ mean the *outer
# edges* of the border pixels: output pixel $i$ then reads input position $i\,W/(W-1) - \tfrac12$, a
# shrink by $(W-1)/W$ about the centre with half a pixel of zero padding mixed in at the border.
#
# The authors' code (`modules/generator.py` and `modules/dense_motion.py`) never passes the
# argument. It was trained under torch 1.0, which behaved like `True`; since torch 1.3 the default
# is `False`. So the same code computes something else today. We pass it explicitly everywhere;
# `align_corners: false` in a config reproduces today's behaviour of the authors' code.

# %% tags=["helper"]
def show_identity_warps(source_image, warps):
    """The source and, per align_corners value, |identity warp − S| (warps: {align_corners: (1, 3, H, W)})."""
    fig, axes = plt.subplots(1, 1 + len(warps), figsize=(9.6, 3.8), layout="constrained")
    viz.show_image(axes[0], source_image[0], "source S")
    for ax, (align, same) in zip(axes[1:], warps.items()):
        difference = (same - source_image).abs().mean(1)[0]                                  # (H, W)
        image = ax.imshow(difference, cmap="magma", vmin=0, vmax=0.2)
        ax.set_title(f"|identity warp − S|\nalign_corners={align}\nmean {float(difference.mean()):.4f}, "
                     f"corner pixel × {float(same[0, 0, 0, 0] / source_image[0, 0, 0, 0]):.2f}", fontsize=9)
        ax.axis("off")
    fig.colorbar(image, ax=axes[1:], shrink=0.8, label="mean |difference| over RGB")
    plt.show()


# %%
identity_flow = identity_grid[None]                                                          # (1, H, W, 2)
warps = {align: deform_input(source_image, identity_flow, align_corners=align) for align in (True, False)}
errors = {align: float((same - source_image).abs().mean()) for align, same in warps.items()}
show_identity_warps(source_image, warps)
print(f"mean error of the identity warp: align_corners=True {errors[True]:.2e}, False {errors[False]:.4f}")

# %% [markdown]
# For comparison: the paper's reconstruction error on VoxCeleb is an L1 of 0.043. An "identity"
# that is off by a few hundredths is not a rounding detail.

# %% [markdown]
# ## 4.4 Warp, then switch off what the source cannot show (paper Eq. 8)
#
# The generator's middle step takes the source's features $\xi$ and the dense motion network's
# output (chapter 03: the flow `deformation` and, when it is estimated, the `occlusion_map`):
#
# $$\xi' = \hat{\mathcal{O}}_{S\leftarrow D} \odot f_w\big(\xi, \hat{\mathcal{T}}_{S\leftarrow D}\big) \qquad (8)$$
#
# The map only *masks*: where it is near 0 the warped features are switched off, and the decoder has
# to inpaint from context. There is no blend with un-warped features. The map is indexed like the
# flow, by the pixels $z$ of the frame being drawn, and it comes at the flow's resolution: resize it
# like the flow (bilinear, `align_corners=False`, the authors' default) when the features are at
# another size. Models built without an occlusion head give no map: then the warp is all there is.
#
# **Exercise 4.2.** Implement `warp_features(features, dense_motion, align_corners)`. Your
# `deform_input` of exercise 4.1 does half of it.

# %% tags=["exercise"]
def warp_features(features, dense_motion, align_corners=True):
    """Paper Eq. 8. features: (B, c, H', W'); dense_motion: {'deformation': (B, h, w, 2),
    optionally 'occlusion_map': (B, 1, h, w)}. Returns (B, c, H', W')."""
    raise NotImplementedError("Exercise 4.2: the warp of exercise 4.1, then the occlusion map where there is one")


# %% tags=["solution", "export"]
def warp_features(features, dense_motion, align_corners=True):
    """Paper Eq. 8: ξ' = Ô ⊙ f_w(ξ, T̂), the features warped by the flow, then multiplied by the occlusion map.

    features: (B, c, H', W'), the encoder's features ξ of the source.  dense_motion: the dense motion
    network's dict, 'deformation' (B, h, w, 2) and, if estimated, 'occlusion_map' (B, 1, h, w) in [0, 1];
    both are resized bilinearly (align_corners=False, as in the authors' code) when (h, w) ≠ (H', W').
    The map is a product, not a blend with un-warped features.  Returns (B, c, H', W').
    """
    out = deform_input(features, dense_motion["deformation"], align_corners)                    # (B, c, H', W')
    if "occlusion_map" in dense_motion:
        occlusion_map = dense_motion["occlusion_map"]                                           # (B, 1, h, w)
        if occlusion_map.shape[2:] != out.shape[2:]:
            occlusion_map = F.interpolate(occlusion_map, size=out.shape[2:], mode="bilinear",
                                          align_corners=False)                                  # (B, 1, H', W')
        out = out * occlusion_map                                                               # (B, c, H', W')
    return out


# %%
warp_features = checks.check_warp_features(warp_features)

# %% [markdown]
# On the toy features: the flow and the ideal occlusion map come at the image's resolution, the
# features at a quarter of it, so both are resized. The ghosts (where a square moved away) are
# switched off.

# %%
masked_features = warp_features(features, {"deformation": toy["deformation"],
                                           "occlusion_map": toy["occlusion_map"]})           # (1, 2, H/4, W/4)
show_feature_maps([(warped_features, "warped features"), (masked_features, "Ô ⊙ warped features")],
                  "Eq. 8 on the toy features: the occlusion map switches the ghosts off")

# %% [markdown]
# ## 4.5 `OcclusionAwareGenerator`
#
# The whole generator, as in the authors' `modules/generator.py`:
#
# | step | module | vox-256 shape |
# |---|---|---|
# | `first` | SameBlock2d 3 → 64, 7×7 | 64 × 256² |
# | `down_blocks` | DownBlock2d 64 → 128 → 256 | 256 × 64² |
# | dense motion | on the **full-resolution** source (it downsamples itself) | flow 64² |
# | warp + occlusion | `warp_features` (Eq. 8) | 256 × 64² |
# | `bottleneck` | 6 × ResBlock2d(256), named `r0`…`r5` | 256 × 64² |
# | `up_blocks` | UpBlock2d 256 → 128 → 64 | 64 × 256² |
# | `final` | Conv2d 64 → 3, 7×7, then sigmoid | 3 × 256² = `prediction` |
#
# There are **no skip connections** from encoder to decoder (a Johnson-style network, not a
# U-Net): everything the decoder knows about the source went through the warp. Besides
# `prediction` the output holds the dense motion's `mask`, `sparse_deformed` and `occlusion_map`,
# `deformed` (the source image warped by the flow, for pictures only; no loss uses it) and, our
# addition, the flow itself as `deformation`. `estimate_jacobian` is accepted and ignored, as in
# the authors' code; `align_corners` is ours and is passed on to the dense motion network.

# %% tags=["export"]
class OcclusionAwareGenerator(nn.Module):
    """Generator of paper Sec. 3.2: encode the source, warp the features by T̂, mask by Ô (Eq. 8), decode.

    Arguments are the authors' (``generator_params`` plus ``common_params`` of a config) and
    ``align_corners``, the ``grid_sample`` convention used here and in the dense motion network.
    """

    def __init__(self, num_channels, num_kp, block_expansion, max_features, num_down_blocks,
                 num_bottleneck_blocks, estimate_occlusion_map=False, dense_motion_params=None,
                 estimate_jacobian=False, align_corners=True):
        super().__init__()
        if dense_motion_params is not None:
            self.dense_motion_network = DenseMotionNetwork(num_kp=num_kp, num_channels=num_channels,
                                                           estimate_occlusion_map=estimate_occlusion_map,
                                                           align_corners=align_corners, **dense_motion_params)
        else:
            self.dense_motion_network = None

        self.first = SameBlock2d(num_channels, block_expansion, kernel_size=(7, 7), padding=(3, 3))
        down_blocks = []
        for i in range(num_down_blocks):
            in_features = min(max_features, block_expansion * (2 ** i))
            out_features = min(max_features, block_expansion * (2 ** (i + 1)))
            down_blocks.append(DownBlock2d(in_features, out_features, kernel_size=(3, 3), padding=(1, 1)))
        self.down_blocks = nn.ModuleList(down_blocks)

        up_blocks = []
        for i in range(num_down_blocks):
            in_features = min(max_features, block_expansion * (2 ** (num_down_blocks - i)))
            out_features = min(max_features, block_expansion * (2 ** (num_down_blocks - i - 1)))
            up_blocks.append(UpBlock2d(in_features, out_features, kernel_size=(3, 3), padding=(1, 1)))
        self.up_blocks = nn.ModuleList(up_blocks)

        self.bottleneck = nn.Sequential()
        in_features = min(max_features, block_expansion * (2 ** num_down_blocks))
        for i in range(num_bottleneck_blocks):
            self.bottleneck.add_module("r" + str(i), ResBlock2d(in_features, kernel_size=(3, 3), padding=(1, 1)))

        self.final = nn.Conv2d(block_expansion, num_channels, kernel_size=(7, 7), padding=(3, 3))
        self.estimate_occlusion_map = estimate_occlusion_map
        self.num_channels = num_channels
        self.align_corners = align_corners

    def forward(self, source_image, kp_driving, kp_source):
        """source_image (B, C, H, W) in [0, 1]; keypoint dicts 'value' (B, K, 2) [, 'jacobian' (B, K, 2, 2)].

        Returns a dict: 'prediction' (B, C, H, W) and, with a dense motion network, 'mask'
        (B, K+1, h, w), 'sparse_deformed' (B, K+1, C, h, w), 'occlusion_map' (B, 1, h, w) if
        estimated, 'deformation' (B, h, w, 2) and 'deformed' (B, C, H, W).
        """
        multiple = 2 ** len(self.down_blocks)   # the decoder must undo the encoder's halvings exactly
        check_image(source_image, self.num_channels, multiple=multiple, min_size=multiple, name="source_image",
                    like=self.final.weight)
        out = self.encode_source(source_image)                 # (B, c, H', W')

        output_dict = {}
        if self.dense_motion_network is not None:
            dense_motion = self.dense_motion_network(source_image=source_image, kp_driving=kp_driving,
                                                     kp_source=kp_source)
            output_dict["mask"] = dense_motion["mask"]
            output_dict["sparse_deformed"] = dense_motion["sparse_deformed"]
            if "occlusion_map" in dense_motion:
                output_dict["occlusion_map"] = dense_motion["occlusion_map"]
            out = self.warp_features(out, dense_motion)                        # (B, c, H', W')
            output_dict["deformation"] = dense_motion["deformation"]           # (B, h, w, 2)
            output_dict["deformed"] = deform_input(source_image, dense_motion["deformation"],
                                                   self.align_corners)         # (B, C, H, W)
        output_dict["prediction"] = self.decode(out)           # (B, C, H, W)
        return output_dict

    def encode_source(self, source_image):
        """`first` and `down_blocks`: (B, C, H, W) -> features ξ (B, c, H/2^n, W/2^n).

        It depends on the source only, so an animation computes it once per source (chapter 07).
        """
        out = self.first(source_image)                         # (B, be, H, W)
        for down_block in self.down_blocks:
            out = down_block(out)                              # halves H and W, (B, c_i, H/2^i, W/2^i)
        return out

    def warp_features(self, features, dense_motion):
        """Paper Eq. 8 with this generator's align_corners (the module's warp_features). (B, c, H', W') -> same."""
        return warp_features(features, dense_motion, self.align_corners)

    def decode(self, features):
        """`bottleneck`, `up_blocks`, `final` and a sigmoid: (B, c, H', W') -> prediction (B, C, H, W)."""
        out = self.bottleneck(features)                        # (B, c, H', W')
        for up_block in self.up_blocks:
            out = up_block(out)                                # doubles H and W
        return torch.sigmoid(self.final(out))                  # (B, C, H, W)


# %% [markdown]
# A small generator for this notebook, wired like vox-256: 2 down blocks, so the features are at a
# quarter of the image size, and a dense motion network with `scale_factor=0.25`, so the flow is
# computed at that same size. Block expansion 16 and a 3-level hourglass keep it fast. We print
# every submodule's output shape with forward hooks.

# %% tags=["helper"]
def run_printing_shapes(generator, *args, **kwargs):
    """generator(*args, **kwargs) without gradients, printing the output shape of first, every down
    block, the bottleneck, every up block and final as they run. Returns the generator's output."""
    named = [("first", generator.first)] + [(f"down_blocks[{i}]", block) for i, block in enumerate(generator.down_blocks)]
    named += [("bottleneck", generator.bottleneck)] + [(f"up_blocks[{i}]", block) for i, block in enumerate(generator.up_blocks)]
    named += [("final", generator.final)]
    hooks = [module.register_forward_hook(lambda module, inputs, out, name=name: print(f"{name:16s} → {tuple(out.shape)}"))
             for name, module in named]
    try:
        with torch.no_grad():
            return generator(*args, **kwargs)
    finally:
        for hook in hooks:
            hook.remove()


def show_generator_outputs(source_image, driving_image, generated, title):
    """Source, driving frame, and the generator's 'deformed', 'occlusion_map' and 'prediction'."""
    fig, axes = plt.subplots(2, 3, figsize=(9.4, 6.6), layout="constrained")
    axes = axes.ravel()
    viz.show_image(axes[0], source_image[0], "source S")
    viz.show_image(axes[1], driving_image[0], "driving D (target)")
    viz.show_image(axes[2], generated["deformed"][0], "'deformed':\nS warped by the flow")
    viz.show_occlusion(axes[3], generated["occlusion_map"][0, 0], "'occlusion_map'")
    viz.show_image(axes[4], generated["prediction"][0], "'prediction'")
    axes[5].axis("off")
    fig.suptitle(title)
    plt.show()


# %%
generator = OcclusionAwareGenerator(
    num_channels=3, num_kp=3, block_expansion=16, max_features=128, num_down_blocks=2, num_bottleneck_blocks=2,
    estimate_occlusion_map=True,
    dense_motion_params={"block_expansion": 16, "max_features": 128, "num_blocks": 3, "scale_factor": 0.25},
)
generator.eval()
generated = run_printing_shapes(generator, source_image, kp_driving=kp_driving, kp_source=kp_source)
print()
for key, value in generated.items():
    print(f"{key:16s} {tuple(value.shape)}")
print("submodules in state_dict order:", [name for name, _ in generator.named_children()])

# %%
show_generator_outputs(source_image, driving_image, generated,
                       "An untrained generator: the plumbing works,\nthe picture is not yet the driving frame")

# %% [markdown]
# ### Self-reconstruction: the identity warp, at two resolutions
#
# With `kp_source = kp_driving` the flow is the identity (chapter 03). The generator warps its
# features at the flow's own resolution, and with `align_corners=True` that warp returns the
# features unchanged. The picture `deformed`, though, is the full-resolution source warped by the
# flow after an upsampling with `F.interpolate(..., align_corners=False)`, as in the authors' code,
# and that resize does **not** map the coarse identity grid to the fine one: it stretches it
# slightly about the centre, by up to about half a coarse pixel at the borders. It only affects
# this picture, which no loss uses.

# %%
with torch.no_grad():
    same = generator(source_image, kp_driving=kp_source, kp_source=kp_source)
    encoded = generator.encode_source(source_image)                                         # (1, 64, H/4, W/4)
    rewarped = deform_input(encoded, same["deformation"], align_corners=True)              # (1, 64, H/4, W/4)
print("flow", tuple(same["deformation"].shape[1:3]), "features", tuple(encoded.shape[2:]))
print(f"features: max |warped − unwarped| = {float((rewarped - encoded).abs().max()):.2e}")
deformed_error = (same["deformed"] - source_image).abs().mean(1)[0]                         # (H, W)
print(f"'deformed' at {tuple(source_image.shape[2:])}: mean |deformed − S| = {float(deformed_error.mean()):.4f}, "
      f"away from a 4-pixel border {float(deformed_error[4:-4, 4:-4].mean()):.4f}")

# %% [markdown]
# ### The full-size model
#
# The vox-256 configuration (the authors' `config/vox-256.yaml`) has 45,575,391 parameters, 37,730,268 of them in the dense
# motion network. Building it takes a moment; its state_dict has the authors' 196 entries, so an
# official checkpoint loads with `strict=True` (the tests compare every name and shape).

# %%
vox_generator = OcclusionAwareGenerator(
    num_channels=3, num_kp=10, block_expansion=64, max_features=512, num_down_blocks=2, num_bottleneck_blocks=6,
    estimate_occlusion_map=True, estimate_jacobian=True,
    dense_motion_params={"block_expansion": 64, "max_features": 1024, "num_blocks": 5, "scale_factor": 0.25},
)
print("parameters:", sum(p.numel() for p in vox_generator.parameters()),
      "| dense motion:", sum(p.numel() for p in vox_generator.dense_motion_network.parameters()),
      "| state_dict entries:", len(vox_generator.state_dict()))
del vox_generator

# %% [markdown]
# ## 4.6 The discriminator you will train against in chapter 05
#
# Chapter 05 adds an adversarial (LSGAN) loss and a feature-matching loss. They are switched on by
# `generator_gan: 1` in six of the authors' eight configs; vox-256 and taichi-256 train without
# them (their discriminator is built and saved, but never run). The discriminator is a *patch*
# discriminator in the style of pix2pix: four blocks of
#
# conv 4×4 **without padding** → InstanceNorm (affine; not in the first block) → LeakyReLU(0.2) →
# average pool 2×2 (not after the last block),
#
# then a 1×1 convolution to one channel: a map of real/fake scores, one per overlapping patch.
# Channels with block expansion 32: $3 \to 64 \to 128 \to 256 \to 512 \to 1$. Options:
#
# - `sn=True` wraps every conv in spectral normalisation. The authors use the **old hook API**
#   `torch.nn.utils.spectral_norm`, whose state_dict keys are `weight_orig`, `weight_u`, `weight_v`;
#   the newer parametrisation would name them differently and a checkpoint would not load.
# - `use_kp=True` (the `-adv` configs) renders the driving keypoints as Gaussians
#   (`kp2gaussian`, variance 0.01) **at the input resolution** and appends them after RGB, so the
#   first conv sees $3 + K$ channels.
#
# The multi-scale wrapper holds one such discriminator per scale in a `ModuleDict` keyed
# `str(scale).replace('.', '-')` (every config uses only scale 1: key `'1'`), reads the inputs
# `prediction_<scale>` of an image pyramid (chapter 05), and returns `feature_maps_<scale>` (the
# four block outputs, for feature matching) and `prediction_map_<scale>`.

# %% tags=["export"] module="discriminator"
"""Patch discriminator and its multi-scale wrapper (the authors' modules/discriminator.py; used by the losses of chapter 05).

Shapes use B = batch, C = channels, K = num_kp, (H, W) = input image size.
"""
import torch
import torch.nn.functional as F
from torch import nn

from fomm_teach.blocks import check_image
from fomm_teach.dense_motion import check_keypoints
from fomm_teach.errors import FommTeachError
from fomm_teach.motion import kp2gaussian


class DiscriminatorBlock(nn.Module):
    """conv 4×4 (no padding, optionally spectral-normed) → [InstanceNorm affine] → LeakyReLU(0.2) → [AvgPool 2×2].

    The authors call it ``DownBlock2d`` too; it is not the encoder's block of ``fomm_teach.blocks``.
    (B, in_features, H, W) → (B, out_features, (H − 3) // 2, ...) with pooling, (H − 3) without.
    """

    def __init__(self, in_features, out_features, norm=False, kernel_size=4, pool=False, sn=False):
        super().__init__()
        self.conv = nn.Conv2d(in_features, out_features, kernel_size=kernel_size)
        if sn:
            self.conv = nn.utils.spectral_norm(self.conv)   # old hook API: weight_orig / weight_u / weight_v
        if norm:
            self.norm = nn.InstanceNorm2d(out_features, affine=True)
        else:
            self.norm = None
        self.pool = pool

    def forward(self, x):
        out = self.conv(x)
        if self.norm is not None:
            out = self.norm(out)
        out = F.leaky_relu(out, 0.2)
        if self.pool:
            out = F.avg_pool2d(out, (2, 2))
        return out


# %% [markdown]
# **How big is the patch map?** Each block shrinks a side of $s$ pixels to $s - 3$ (4×4 conv, no
# padding), then halves it with floor (average pool), except the last block, which does not pool.
# The 1×1 conv keeps the size.

# %% tags=["export"] module="discriminator"
def discriminator_feature_sizes(image_size, num_blocks=4):
    """Side length of each discriminator block's output for a square input of side ``image_size``.

    Block i: 4×4 conv without padding (s → s − 3), then 2×2 average pooling (s → s // 2) for every
    block but the last. The last entry is also the patch map's size (the final conv is 1×1).
    Returns a list of ``num_blocks`` ints (zero or negative: the input is too small).
    """
    sizes = []
    for i in range(num_blocks):
        image_size = image_size - 3
        if i != num_blocks - 1:
            image_size = image_size // 2
        sizes.append(image_size)
    return sizes


# %%
print("256×256 input →", discriminator_feature_sizes(256), "(a 26×26 patch map)")
print(" 64×64 input →", discriminator_feature_sizes(64))

# %% tags=["export"] module="discriminator"
def minimum_discriminator_size(num_blocks=4):
    """The smallest square input side the discriminator accepts.

    Every block's output must be at least 1×1, and the last one at least 2×2 when it is
    normalised (every block but the first is): InstanceNorm needs more than one value per channel.
    """
    smallest_last = 2 if num_blocks > 1 else 1
    size = 1
    while True:
        sizes = discriminator_feature_sizes(size, num_blocks)
        if min(sizes) >= 1 and sizes[-1] >= smallest_last:
            return size
        size += 1


class Discriminator(nn.Module):
    """Patch discriminator: num_blocks DiscriminatorBlocks, then a 1×1 conv to one score map.

    With use_kp the driving keypoints, rendered as Gaussians at the input resolution, are appended
    after the image channels. forward returns (feature_maps, prediction_map): the list of the
    blocks' outputs and the (B, 1, h, w) patch scores.
    """

    def __init__(self, num_channels=3, block_expansion=64, num_blocks=4, max_features=512, sn=False,
                 use_kp=False, num_kp=10, kp_variance=0.01):
        super().__init__()
        down_blocks = []
        for i in range(num_blocks):
            in_features = num_channels + num_kp * use_kp if i == 0 else min(max_features, block_expansion * (2 ** i))
            down_blocks.append(DiscriminatorBlock(in_features, min(max_features, block_expansion * (2 ** (i + 1))),
                                                  norm=(i != 0), kernel_size=4, pool=(i != num_blocks - 1), sn=sn))
        self.down_blocks = nn.ModuleList(down_blocks)
        self.conv = nn.Conv2d(self.down_blocks[-1].conv.out_channels, out_channels=1, kernel_size=1)
        if sn:
            self.conv = nn.utils.spectral_norm(self.conv)
        self.num_channels = num_channels
        self.num_kp = num_kp
        self.use_kp = use_kp
        self.kp_variance = kp_variance
        self.min_size = minimum_discriminator_size(num_blocks)

    def forward(self, x, kp=None):
        """x: (B, C, H, W); kp: keypoint dict with 'value' (B, K, 2), needed only with use_kp."""
        check_image(x, self.num_channels, min_size=self.min_size, name="discriminator input", like=self.conv.bias)
        out = x
        if self.use_kp:
            if kp is None:
                raise FommTeachError("this discriminator was built with use_kp=True: pass the driving "
                                     "keypoints, discriminator(x, kp=kp_driving).")
            check_keypoints(kp, x.shape[0], self.num_kp, "kp")
            heatmap = kp2gaussian(kp["value"], x.shape[2:], self.kp_variance)   # (B, K, H, W)
            out = torch.cat([out, heatmap], dim=1)                              # (B, C + K, H, W)
        feature_maps = []
        for down_block in self.down_blocks:
            out = down_block(out)
            feature_maps.append(out)
        prediction_map = self.conv(out)                                         # (B, 1, h, w)
        return feature_maps, prediction_map


class MultiScaleDiscriminator(nn.Module):
    """One Discriminator per scale; ModuleDict keys are str(scale) with '.' → '-'.

    forward(x, kp) reads x['prediction_<scale>'] (an image pyramid, chapter 05) and returns
    {'feature_maps_<scale>': list of block outputs, 'prediction_map_<scale>': (B, 1, h, w)}.
    """

    def __init__(self, scales=(), **kwargs):
        super().__init__()
        self.scales = scales
        discs = {}
        for scale in scales:
            discs[str(scale).replace(".", "-")] = Discriminator(**kwargs)
        self.discs = nn.ModuleDict(discs)

    def forward(self, x, kp=None):
        out_dict = {}
        for scale, disc in self.discs.items():
            scale = str(scale).replace("-", ".")
            key = "prediction_" + scale
            if not isinstance(x, dict) or key not in x:
                got = sorted(x) if isinstance(x, dict) else type(x).__name__
                raise FommTeachError(f"MultiScaleDiscriminator needs a dict with key '{key}' (an image pyramid, "
                                     f"e.g. {{'prediction_1': image}}), got {got}.")
            feature_maps, prediction_map = disc(x[key], kp)
            out_dict["feature_maps_" + scale] = feature_maps
            out_dict["prediction_map_" + scale] = prediction_map
        return out_dict


# %% [markdown]
# The vox-256 discriminator (`sn: True`, block expansion 32) on a 64×64 image and on a 256×256 one,
# and its spectral-norm state_dict keys:

# %%
discriminator = MultiScaleDiscriminator(scales=[1], num_channels=3, block_expansion=32, num_blocks=4,
                                        max_features=512, sn=True, num_kp=10)
discriminator.eval()
sizes = course.pick(quick=[64], full=[64, 256])
for size in sizes:
    with torch.no_grad():
        scores = discriminator({"prediction_1": torch.rand(1, 3, size, size)})
    print(f"{size}×{size}: feature maps", [tuple(f.shape[1:]) for f in scores["feature_maps_1"]],
          "→ prediction_map_1", tuple(scores["prediction_map_1"].shape))
print([key for key in discriminator.state_dict() if "down_blocks.0" in key or key.startswith("discs.1.conv")])

# %%
adv = MultiScaleDiscriminator(scales=[1], num_channels=3, block_expansion=32, num_blocks=4, max_features=512,
                              use_kp=True, num_kp=3)
adv.eval()
disc_input = F.interpolate(driving_image, size=(128, 128), mode="bilinear", align_corners=False)  # (1, 3, 128, 128)
with torch.no_grad():
    scores = adv({"prediction_1": disc_input}, kp=kp_driving)


# %% tags=["helper"]
def show_discriminator_input_and_scores(disc_input, kp_value, prediction_map):
    """The discriminator's image, the keypoint Gaussians use_kp appends to it, and its patch scores."""
    fig, axes = plt.subplots(1, 3, figsize=(9.6, 3.5), layout="constrained")
    viz.show_image(axes[0], disc_input[0], f"input {tuple(disc_input.shape[2:])}")
    viz.show_heatmap(axes[1], kp2gaussian(kp_value, tuple(disc_input.shape[2:]), 0.01)[0].sum(0),
                     "use_kp: keypoint Gaussians,\nappended as channels", label="sum over K")
    viz.show_heatmap(axes[2], prediction_map[0, 0], f"untrained patch scores\n{tuple(prediction_map.shape[2:])}",
                     label="score")
    plt.show()


# %%
show_discriminator_input_and_scores(disc_input, kp_driving["value"], scores["prediction_map_1"])

# %% [markdown]
# ## Summary
#
# - The generator warps **features**, not pixels: $\xi' = \hat{\mathcal{O}} \odot f_w(\xi, \hat{\mathcal{T}})$
#   (Eq. 8), then decodes them without encoder skips. `deformed` is a picture for us, not an input
#   to any loss.
# - Flows and occlusion maps computed at another resolution are resized bilinearly
#   (`align_corners=False`, no ambiguity); `grid_sample` always gets an explicit `align_corners`,
#   `True` by default, so that the identity flow is the identity.
# - The dense motion network sees the full-resolution source and downsamples it itself.
# - The discriminator is a patch discriminator of four 4×4 unpadded conv blocks: a 256×256 input
#   gives a 26×26 score map. Its spectral norm uses the old hook API so that checkpoints load.
#
# ## Think about it
#
# 1. Why warp features at 64×64 instead of the 256×256 image? What can a decoder do with warped
#    features that it cannot do with warped pixels?
# 2. With `align_corners=False`, is the error of the identity warp larger for a 64×64 map or a
#    256×256 one? Which of the three `grid_sample` calls of FOMM runs at which size?
# 3. The occlusion map multiplies the features. What would change if it blended warped and
#    un-warped features instead, $\hat{\mathcal{O}}\,\xi_w + (1-\hat{\mathcal{O}})\,\xi$?
# 4. Without skip connections, how does the decoder know about source details that the warp
#    destroyed? And why might skips from the *un-warped* encoder be harmful here?
# 5. Each score of a 26×26 patch map looks at a window of the input. Work out its size (the
#    receptive field) from the layer list.
#
# <details><summary>Short answers</summary>
#
# 1. Cost and content. The dense motion network and the warp are cheap at 64×64, and the features
#    there describe a neighbourhood (texture, edges) rather than one pixel, so a small error in the
#    flow moves a description instead of tearing the picture. A decoder can also repaint from warped
#    features: sharpen what bilinear sampling blurred, and fill what the occlusion map switched off
#    from the context around it; warped pixels can only be copied.
# 2. Larger for 64×64: pixel $j$ reads position $j\,W/(W-1) - \tfrac12$, so every pixel moves by
#    up to half a pixel whatever $W$ is, and half a pixel of a 64-pixel map is four times as much of
#    the picture as of a 256-pixel one (the border rows that mix in zero padding are also a four times
#    larger share). In vox-256
#    the dense motion network's `grid_sample` (the deformed sources) and the generator's feature warp
#    run at 64×64; only the picture `deformed` is sampled at 256×256.
# 3. Where $\hat{\mathcal{O}}$ is 0 the decoder would get the **un-warped** source features, the
#    source's content at the same place, which is exactly the ghost the occlusion map is meant to
#    remove; the decoder could no longer tell "inpaint here" from "copy this".
# 4. It does not: what the warp lost or the map switched off has to be inferred from the
#    surroundings (the bottleneck's residual blocks see a wide neighbourhood) and learned from
#    training data. Skips from the un-warped encoder would hand the decoder the source in the
#    **source's** pose, so it could copy pixels from the wrong places and the prediction would
#    drift towards the source frame instead of the driving one.
# 5. Walk back from one score: the 1×1 conv adds nothing; the last 4×4 conv needs 4 positions of
#    block 3's input; going back through each earlier block, its pool doubles the window and its
#    conv adds 3: $4 \to 2\cdot4+3 = 11 \to 2\cdot11+3 = 25 \to 2\cdot25+3 = 53$ pixels. Each score judges a 53×53 window of the input, about a fifth of a
#    256×256 frame.
#
# </details>
