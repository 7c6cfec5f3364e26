# ---
# jupyter:
#   fomm_teach:
#     module: keypoints
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 01 · Keypoints: from an image to K points and K little matrices
#
# The First Order Motion Model (FOMM) describes the motion of an object with a handful of
# **keypoints**, learned without any labels. For every keypoint it also predicts a 2×2
# **Jacobian**, the local linear (affine) shape of the motion around that point. This chapter
# builds the network that produces them, the *keypoint detector*, piece by piece.
#
# **Learning goals.** After this notebook you can
# 1. build the coordinate grid every FOMM module shares and read its `(x, y)` convention;
# 2. turn a heatmap into a keypoint with a differentiable *soft-argmax*, and explain what the
#    softmax *temperature* does to it;
# 3. build the hourglass network (encoder–decoder with skips) and predict every tensor shape in it,
#    including why the authors' heatmaps are 58×58 and not 64×64;
# 4. explain the Jacobian head and why it starts as the identity matrix.
#
# The code cells marked *export* become the library modules `fomm_teach/keypoints.py` and
# `fomm_teach/blocks.py`: what you read here is exactly what the library runs. The symbols ($p_k$,
# $J_k$, $\mathcal{H}_k$, $K$) and the tensor shapes are collected in the notation table of
# `00_start_here` (§0.4).

# %%
from fomm_teach import checks
from fomm_teach.course import start

course = start()   # seeds, sets threads, picks course.device, reads course.quick (FOMM_TEACH_QUICK=1), prints versions

# %%
import matplotlib.pyplot as plt
import torch

from fomm_teach import viz

# %% [markdown]
# ## 1.1 The coordinate grid
#
# FOMM never talks about pixels. Every position lives in normalised coordinates
# $z = (x, y) \in [-1, 1]^2$, where $x$ runs along the width (left → right) and $y$ along the
# height (top → bottom). For an $H \times W$ map, column $j$ and row $i$ have
#
# $$x_j = \frac{2j}{W-1} - 1, \qquad y_i = \frac{2i}{H-1} - 1 .$$
#
# So $-1$ and $+1$ are the **centres** of the border pixels. PyTorch calls this the
# `align_corners=True` convention; chapter 02 shows why it matters. The grid is an `(H, W, 2)`
# tensor whose last axis holds `(x, y)`, the order `torch.nn.functional.grid_sample` expects.

# %% tags=["export"]
import torch
import torch.nn.functional as F
from torch import nn

# blocks.py (Hourglass, AntiAliasInterpolation2d, check_image) is built in §1.6–1.8 of notebook 01
from fomm_teach.blocks import AntiAliasInterpolation2d, Hourglass, check_image
from fomm_teach.errors import FommTeachError


def make_coordinate_grid(spatial_size, dtype=torch.float32, device=None):
    """The (x, y) coordinates of every pixel centre of an H×W map, in [-1, 1] (align_corners=True).

    spatial_size: (H, W), both at least 2.  Returns (H, W, 2); [..., 0] is x (along the width),
    [..., 1] is y (along the height): x_j = 2j/(W-1) - 1, y_i = 2i/(H-1) - 1.
    """
    h, w = (int(size) for size in spatial_size)
    if h < 2 or w < 2:
        raise FommTeachError(
            f"make_coordinate_grid: spatial_size {tuple(spatial_size)} is too small; a grid needs "
            "at least 2 pixels along each axis so that -1 and +1 are distinct pixel centres."
        )
    x = 2 * (torch.arange(w, dtype=dtype, device=device) / (w - 1)) - 1  # (W,)
    y = 2 * (torch.arange(h, dtype=dtype, device=device) / (h - 1)) - 1  # (H,)
    xx = x.view(1, w).expand(h, w)                                        # (H, W)
    yy = y.view(h, 1).expand(h, w)                                        # (H, W)
    return torch.stack([xx, yy], dim=2)                                   # (H, W, 2)


# %%
grid = make_coordinate_grid((3, 4))
print("x channel:\n", grid[..., 0])
print("y channel:\n", grid[..., 1])

# %% [markdown]
# A 3×4 grid has x = −1, −⅓, ⅓, 1 along each row and y = −1, 0, 1 down each column.
# To draw a keypoint on an image of width $W$ we go back to pixels with $j = (x + 1)(W - 1)/2$;
# `viz.draw_keypoints` does that for us.

# %% [markdown]
# ## 1.2 A moving blob and its heatmap
#
# The detector's last layer outputs, for each keypoint $k$, a map of scores (logits)
# $L_k(z)$ over the grid. To read a keypoint off it we need a *single* position that is
# differentiable with respect to the scores, so that training can move it.
#
# Our test object is a bright Gaussian blob that moves on a circle. We use the blob's log-intensity
# as the score map, as if a trained detector had learned to "fire" on it.

# %%
blob_size = course.pick(quick=32, full=64)
num_frames = course.pick(quick=4, full=8)


def blob_logits(center, size=blob_size, width=0.5):
    """Score map (1, 1, H, W) of a Gaussian blob at `center` = (x, y) in [-1, 1]: -|z - c|^2 / (2 w^2)."""
    grid = make_coordinate_grid((size, size))                       # (H, W, 2)
    squared_distance = (grid - torch.tensor(center)).pow(2).sum(-1)  # (H, W)
    return (-squared_distance / (2 * width**2))[None, None]         # (1, 1, H, W)


angles = torch.linspace(0, 2 * torch.pi, num_frames + 1)[:-1]
centers = torch.stack([0.5 * torch.cos(angles), 0.5 * torch.sin(angles)], dim=1)  # (frames, 2)
logits = torch.cat([blob_logits(c.tolist()) for c in centers])                     # (frames, 1, H, W)
print("score maps:", tuple(logits.shape), "(frames, K=1, H, W)")

# %% [markdown]
# ## 1.3 From scores to a probability map: the spatial softmax
#
# The scores become a probability distribution over the $H \cdot W$ positions with a softmax
# over *all* positions at once (not per row or per channel), divided by a temperature $\tau$:
#
# $$\mathcal{H}_k(z) = \frac{\exp\big(L_k(z)/\tau\big)}{\sum_{z'} \exp\big(L_k(z')/\tau\big)} .$$
#
# Every map $\mathcal{H}_k$ is non-negative and sums to 1. The authors use $\tau = 0.1$ in every
# config. (Calligraphic $\mathcal{H}_k$ is this probability map; chapter 03's plain $H_k$, paper
# Eq. 6, is another thing: a difference of two Gaussians.)
#
# **Exercise 1.1.** Implement `spatial_softmax(logits, temperature)`: flatten the two spatial axes,
# apply a softmax along them, and give the result the input's shape back.

# %% tags=["exercise"]
def spatial_softmax(logits, temperature):
    """logits: (B, K, H, W).  Returns (B, K, H, W); each map is softmax(logits / temperature) over H·W."""
    raise NotImplementedError("Exercise 1.1: flatten H and W, softmax(logits / temperature), reshape back")


# %% tags=["solution", "export"]
def spatial_softmax(logits, temperature):
    """The detector's probability map H_k = softmax over all H·W positions of L_k / temperature.

    logits: (B, K, H, W).  Returns (B, K, H, W); every map is non-negative and sums to 1.
    """
    b, k, h, w = logits.shape
    flat = logits.reshape(b, k, h * w)                # (B, K, H*W)
    heatmap = F.softmax(flat / temperature, dim=2)    # (B, K, H*W)
    return heatmap.reshape(b, k, h, w)                # (B, K, H, W)


# %%
spatial_softmax = checks.check_spatial_softmax(spatial_softmax)

# %% [markdown]
# ## 1.4 From a probability map to a keypoint: soft-argmax
#
# The keypoint is the **expected coordinate** under the probability map:
#
# $$p_k = \sum_{z} \mathcal{H}_k(z)\, z .$$
#
# Unlike an `argmax`, this is a smooth function of the scores, so gradients flow back into the
# network. (The authors' function is called `gaussian2kp`, but it only computes this mean: no
# covariance, unlike their earlier Monkey-Net.)
#
# **Exercise 1.2.** Implement `heatmap_to_keypoints(heatmap)` with `make_coordinate_grid`.
# Mind the shapes: the grid is `(H, W, 2)`, the heatmap `(B, K, H, W)`.

# %% tags=["exercise"]
def heatmap_to_keypoints(heatmap):
    """heatmap: (B, K, H, W), each map sums to 1. Returns (B, K, 2) in [-1, 1], (x, y) order."""
    raise NotImplementedError("Exercise 1.2: take the expectation of the coordinate grid")


# %% tags=["solution", "export"]
def heatmap_to_keypoints(heatmap):
    """Soft-argmax: the keypoint is the expected grid coordinate, p_k = sum_z H_k(z) z.

    heatmap: (B, K, H, W), each map sums to 1.  Returns (B, K, 2) in [-1, 1], (x, y) order.
    """
    grid = make_coordinate_grid(heatmap.shape[2:], dtype=heatmap.dtype, device=heatmap.device)  # (H, W, 2)
    weighted = heatmap.unsqueeze(-1) * grid[None, None]                                          # (B, K, H, W, 2)
    return weighted.sum(dim=(2, 3))                                                              # (B, K, 2)


# %%
heatmap_to_keypoints = checks.check_heatmap_to_keypoints(heatmap_to_keypoints)

# %%
heatmaps = spatial_softmax(logits, temperature=0.1)  # (frames, 1, H, W)
keypoints = heatmap_to_keypoints(heatmaps)           # (frames, 1, 2)
error = (keypoints[:, 0] - centers).abs().max()
print(f"largest distance between the blob centre and its soft-argmax: {error:.2e} (normalised units)")

rows = (num_frames + 3) // 4   # four frames a row keep the labels legible in a notebook column
fig, axes = plt.subplots(rows, 4, figsize=(9.4, 2.5 * rows), layout="constrained", squeeze=False)
for frame, ax in enumerate(axes.ravel()):
    if frame >= num_frames:
        ax.axis("off")
        continue
    viz.show_heatmap(ax, heatmaps[frame, 0], title=f"frame {frame}")
    viz.draw_keypoints(ax, keypoints[frame], image_size=blob_size)
fig.suptitle("Probability map $\\mathcal{H}$ (brighter = more probable) and its soft-argmax keypoint 0")
plt.show()

# %% [markdown]
# ## 1.5 What the temperature does
#
# Dividing the scores by a small $\tau$ sharpens the map: the softmax approaches a hard argmax.
# A large $\tau$ flattens it towards the uniform distribution, and the expectation of a uniform
# distribution over the grid is the centre $(0, 0)$: the keypoint is **pulled towards the
# centre**. The static figure below shows four temperatures; the slider after it lets you
# try your own (the slider needs a running kernel; the static figure does not).

# %%
blob = blob_logits([0.6, -0.4])
temperatures = [0.01, 0.1, 1.0, 10.0]
fig, axes = plt.subplots(2, 2, figsize=(8, 6.8), layout="constrained")
for ax, temperature in zip(axes.ravel(), temperatures):
    heatmap = spatial_softmax(blob, temperature)
    keypoint = heatmap_to_keypoints(heatmap)[0]
    viz.show_heatmap(ax, heatmap[0, 0], title=f"τ = {temperature}: p = ({keypoint[0, 0]:.2f}, {keypoint[0, 1]:.2f})")
    viz.draw_keypoints(ax, keypoint, image_size=blob_size)
fig.suptitle("Blob at (0.60, -0.40): a high temperature drags the keypoint to the centre")
plt.show()

# %%
from fomm_teach import widgets

widgets.temperature_explorer(blob, spatial_softmax, heatmap_to_keypoints)

# %% [markdown]
# ## 1.6 Building blocks of the hourglass
#
# The scores $L_k$ come from a fully convolutional **hourglass** (a U-Net): an encoder that halves
# the resolution at each step and a decoder that doubles it back, concatenating the encoder
# feature of the same resolution at each step. All FOMM networks are made of five small blocks:
#
# | block | layers |
# |---|---|
# | `DownBlock2d` | conv → BatchNorm → ReLU → 2×2 average pool |
# | `UpBlock2d` | ×2 nearest upsampling → conv → BatchNorm → ReLU |
# | `SameBlock2d` | conv → BatchNorm → ReLU (same resolution) |
# | `ResBlock2d` | BatchNorm → ReLU → conv → BatchNorm → ReLU → conv, plus the input |
# | `AntiAliasInterpolation2d` | Gaussian blur, then keep every n-th pixel |
#
# The submodule names (`conv`, `norm`, `norm1`, …) are chosen so that the authors' checkpoints
# load into these classes unchanged.

# %% tags=["export"] module="blocks"
import torch
import torch.nn.functional as F
from torch import nn

from fomm_teach.errors import FommTeachError


class DownBlock2d(nn.Module):
    """Encoder step: conv k×k → BatchNorm → ReLU → AvgPool 2×2 (the pool comes after the ReLU).

    (B, in_features, H, W) → (B, out_features, H/2, W/2).
    """

    def __init__(self, in_features, out_features, kernel_size=3, padding=1, groups=1):
        super().__init__()
        self.conv = nn.Conv2d(in_features, out_features, kernel_size=kernel_size, padding=padding, groups=groups)
        self.norm = nn.BatchNorm2d(out_features, affine=True)
        self.pool = nn.AvgPool2d(kernel_size=(2, 2))

    def forward(self, x):
        return self.pool(F.relu(self.norm(self.conv(x))))


class UpBlock2d(nn.Module):
    """Decoder step: ×2 nearest-neighbour upsampling → conv k×k → BatchNorm → ReLU.

    (B, in_features, H, W) → (B, out_features, 2H, 2W).
    """

    def __init__(self, in_features, out_features, kernel_size=3, padding=1, groups=1):
        super().__init__()
        self.conv = nn.Conv2d(in_features, out_features, kernel_size=kernel_size, padding=padding, groups=groups)
        self.norm = nn.BatchNorm2d(out_features, affine=True)

    def forward(self, x):
        x = F.interpolate(x, scale_factor=2, mode="nearest")  # (B, C, 2H, 2W)
        return F.relu(self.norm(self.conv(x)))


class SameBlock2d(nn.Module):
    """conv → BatchNorm → ReLU at the same resolution: (B, in, H, W) → (B, out, H, W) for padding (k-1)/2."""

    def __init__(self, in_features, out_features, groups=1, kernel_size=3, padding=1):
        super().__init__()
        self.conv = nn.Conv2d(in_features, out_features, kernel_size=kernel_size, padding=padding, groups=groups)
        self.norm = nn.BatchNorm2d(out_features, affine=True)

    def forward(self, x):
        return F.relu(self.norm(self.conv(x)))


class ResBlock2d(nn.Module):
    """Pre-activation residual block: x + conv2(relu(norm2(conv1(relu(norm1(x)))))). Shape unchanged."""

    def __init__(self, in_features, kernel_size, padding):
        super().__init__()
        self.conv1 = nn.Conv2d(in_features, in_features, kernel_size=kernel_size, padding=padding)
        self.conv2 = nn.Conv2d(in_features, in_features, kernel_size=kernel_size, padding=padding)
        self.norm1 = nn.BatchNorm2d(in_features, affine=True)
        self.norm2 = nn.BatchNorm2d(in_features, affine=True)

    def forward(self, x):
        out = self.conv1(F.relu(self.norm1(x)))
        out = self.conv2(F.relu(self.norm2(out)))
        return out + x


# %% [markdown]
# ## 1.7 Encoder, decoder, hourglass
#
# With block expansion $b$ and at most $m$ channels, encoder step $i$ outputs
# $c_{i+1} = \min(m, b \cdot 2^{i+1})$ channels at half the resolution. The encoder returns *all*
# levels, the raw input first: $[x, e_1, \dots, e_n]$. The decoder starts from the deepest
# $e_n$; at each level it upsamples and then concatenates the skip of the same size (upsampled part
# first). The last skip is the raw input itself, so the hourglass outputs
# `out_filters` $= b + C_\text{in}$ channels at the input resolution.

# %% tags=["export"] module="blocks"
class Encoder(nn.Module):
    """num_blocks DownBlock2d; returns [x, e_1, ..., e_n], e_i: (B, min(max_features, be·2^i), H/2^i, W/2^i)."""

    def __init__(self, block_expansion, in_features, num_blocks=3, max_features=256):
        super().__init__()
        down_blocks = []
        for i in range(num_blocks):
            in_channels = in_features if i == 0 else min(max_features, block_expansion * (2**i))
            out_channels = min(max_features, block_expansion * (2 ** (i + 1)))
            down_blocks.append(DownBlock2d(in_channels, out_channels, kernel_size=3, padding=1))
        self.down_blocks = nn.ModuleList(down_blocks)

    def forward(self, x):
        outs = [x]
        for down_block in self.down_blocks:
            outs.append(down_block(outs[-1]))
        return outs


class Decoder(nn.Module):
    """num_blocks UpBlock2d from the deepest level up, each followed by a concat with the same-size skip.

    Input: the encoder's list [x, e_1, ..., e_n].  Output: (B, out_filters, H, W) with
    out_filters = block_expansion + in_features (the last skip is the raw input x).
    """

    def __init__(self, block_expansion, in_features, num_blocks=3, max_features=256):
        super().__init__()
        up_blocks = []
        for i in reversed(range(num_blocks)):
            in_channels = (1 if i == num_blocks - 1 else 2) * min(max_features, block_expansion * (2 ** (i + 1)))
            out_channels = min(max_features, block_expansion * (2**i))
            up_blocks.append(UpBlock2d(in_channels, out_channels, kernel_size=3, padding=1))
        self.up_blocks = nn.ModuleList(up_blocks)
        self.out_filters = block_expansion + in_features

    def forward(self, x):
        skips = list(x)
        out = skips.pop()
        for up_block in self.up_blocks:
            out = up_block(out)
            out = torch.cat([out, skips.pop()], dim=1)  # (B, C_up + C_skip, H', W')
        return out


class Hourglass(nn.Module):
    """Encoder + Decoder with skips (a U-Net).  (B, in_features, H, W) → (B, out_filters, H, W).

    H and W must be multiples of 2**num_blocks.  out_filters = block_expansion + in_features.
    """

    def __init__(self, block_expansion, in_features, num_blocks=3, max_features=256):
        super().__init__()
        self.encoder = Encoder(block_expansion, in_features, num_blocks, max_features)
        self.decoder = Decoder(block_expansion, in_features, num_blocks, max_features)
        self.out_filters = self.decoder.out_filters

    def forward(self, x):
        return self.decoder(self.encoder(x))


# %% [markdown]
# The vox-256 detector uses an hourglass with $b = 32$, 5 blocks and at most 1024 channels on a
# 64×64 image. Forward hooks record every block's output shape:

# %% tags=["helper"]
def shape_table(model, x):
    """Print the output shape of every DownBlock2d / UpBlock2d of `model` for the input x."""
    rows, hooks = [], []
    for name, module in model.named_modules():
        if isinstance(module, (DownBlock2d, UpBlock2d)):
            hooks.append(module.register_forward_hook(
                lambda mod, inp, out, name=name: rows.append((name, tuple(inp[0].shape), tuple(out.shape)))))
    with torch.no_grad():
        out = model(x)
    for hook in hooks:
        hook.remove()
    print(f"{'block':32s} {'input':20s} output")
    for name, shape_in, shape_out in rows:
        print(f"{name:32s} {str(shape_in):20s} {shape_out}")
    print(f"{'(final, after the last concat)':32s} {'':20s} {tuple(out.shape)}")


# %%
hourglass = Hourglass(block_expansion=32, in_features=3, num_blocks=5, max_features=1024).eval()
shape_table(hourglass, torch.rand(1, 3, 64, 64))
print("out_filters =", hourglass.out_filters)

# %% [markdown]
# Read the table top to bottom: 3→64→128→256→512→1024 channels while 64² shrinks to 2²; then
# every up step halves the channels and the concat adds the skip back (1024 = 512 + 512, …),
# ending at 32 + 3 = **35 channels at 64×64**. Because each level is concatenated with the
# encoder level of the same size, the input side must be divisible by $2^5 = 32$.

# %% [markdown]
# ## 1.8 Anti-aliased downsampling
#
# The detector does not look at the 256×256 frame but at a 64×64 version. Keeping every 4th pixel
# alone would alias (fine textures turn into false patterns), so the image is first blurred with
# a Gaussian of standard deviation $\sigma = (1/s - 1)/2$ for scale $s$, on a
# $(2\,\mathrm{round}(4\sigma) + 1)$-pixel kernel, with zero padding; then every $1/s$-th pixel
# is kept, starting at index 0. The Gaussian is a *buffer* named `weight`, so it appears in the
# checkpoint (`kp_detector.down.weight`, 3×1×13×13 at $s = 0.25$).

# %% tags=["export"] module="blocks"
class AntiAliasInterpolation2d(nn.Module):
    """Gaussian blur (σ = (1/scale - 1)/2, zero padding) then keep every int(1/scale)-th pixel from 0.

    channels: C.  (B, C, H, W) → (B, C, ceil(H·scale), ceil(W·scale)); scale 1 returns the input.
    The kernel is the buffer `weight`, (C, 1, k, k) with k = 2·round(4σ) + 1.
    """

    def __init__(self, channels, scale):
        super().__init__()
        sigma = (1 / scale - 1) / 2
        kernel_size = 2 * round(sigma * 4) + 1
        if sigma > 0:
            position = torch.arange(kernel_size, dtype=torch.float32) - (kernel_size - 1) / 2  # (k,)
            gauss = torch.exp(-(position**2) / (2 * sigma**2))                                # (k,)
            kernel = gauss[:, None] * gauss[None, :]                                           # (k, k)
            kernel = kernel / kernel.sum()
        else:  # scale 1: a 1×1 identity kernel (forward returns the input unchanged)
            kernel = torch.ones(1, 1)
        self.register_buffer("weight", kernel.expand(channels, 1, kernel_size, kernel_size).clone())  # (C, 1, k, k)
        self.groups = channels
        self.scale = scale
        self.pad = kernel_size // 2
        self.step = int(1 / scale)

    def forward(self, x):
        if self.scale == 1.0:
            return x
        out = F.pad(x, (self.pad, self.pad, self.pad, self.pad))  # (B, C, H + 2p, W + 2p)
        out = F.conv2d(out, weight=self.weight, groups=self.groups)  # (B, C, H, W)
        return out[:, :, :: self.step, :: self.step]               # (B, C, ceil(H/step), ceil(W/step))


# %% [markdown]
# Networks receive images from users, so the blocks come with one input check, `check_image`, that
# explains what is wrong and how to fix it rather than failing with a shape error deep inside a
# convolution. It is plumbing, not part of the model: the cell is folded (open it if you are curious).

# %% tags=["export", "helper"] module="blocks"
def check_image(image, num_channels, multiple=1, min_size=1, name="image", like=None):
    """Raise FommTeachError unless `image` is a finite float (B, num_channels, H, W) tensor with
    H and W multiples of `multiple` and at least `min_size`, and, if `like` (a weight of the model)
    is given, of its dtype and on its device.  Returns nothing.
    """
    if not isinstance(image, torch.Tensor) or image.dim() != 4:
        shape = tuple(image.shape) if isinstance(image, torch.Tensor) else type(image).__name__
        raise FommTeachError(
            f"{name}: expected a (B, C, H, W) tensor, got {shape}; add a batch axis with image[None] "
            "or convert a (H, W, C) array with torch.as_tensor(array).permute(2, 0, 1)[None]."
        )
    if not image.is_floating_point():
        raise FommTeachError(
            f"{name}: expected floats in [0, 1], got dtype {image.dtype}; use image.float() / 255."
        )
    if like is not None and image.dtype != like.dtype:
        hint = " (torch.from_numpy gives float64 for a NumPy float array)" if image.dtype == torch.float64 else ""
        raise FommTeachError(
            f"{name}: dtype {image.dtype}, but the model's weights are {like.dtype}{hint}; "
            f"convert it with image.to({like.dtype})."
        )
    if like is not None and image.device != like.device:
        raise FommTeachError(
            f"{name}: on device {image.device}, but the model is on {like.device}; "
            f"move it with image.to('{like.device}')."
        )
    if image.shape[1] != num_channels:
        raise FommTeachError(
            f"{name}: expected {num_channels} channels, got shape {tuple(image.shape)}; "
            f"pass RGB images as (B, {num_channels}, H, W) or build the model with num_channels={image.shape[1]}."
        )
    h, w = image.shape[2:]
    if h < min_size or w < min_size or h % multiple or w % multiple:
        raise FommTeachError(
            f"{name}: size {h}×{w} (shape {tuple(image.shape)}) does not fit this network; H and W must be "
            f"at least {min_size} and multiples of {multiple}. Resize the image, e.g. to "
            f"{max(min_size, multiple * round(max(h, w) / multiple))}×{max(min_size, multiple * round(max(h, w) / multiple))}."
        )
    if not torch.isfinite(image).all():
        raise FommTeachError(f"{name}: contains NaN or infinite values; check how it was loaded or computed.")


# %% [markdown]
# ## 1.9 The keypoint detector
#
# Now the pieces fit together (paper §3.1, Fig. 2):
#
# 1. downsample the image by `scale_factor` (0.25: 256² → 64²);
# 2. hourglass → 35 feature channels at 64²;
# 3. keypoint head: a 7×7 conv to $K$ score maps, **without padding**, so the maps are
#    $64 - 6 = 58$ pixels wide;
# 4. spatial softmax with $\tau$, then soft-argmax on the **58×58** grid.
#
# That 58 is a quirk of the authors' code (`pad=0`) that we keep, because the released weights
# were trained with it: the soft-argmax grid spans the 58 heat-map cells, so keypoint coordinates
# are stretched by about 63/57 ≈ 1.1 relative to image coordinates. Training absorbs this; loading
# the weights with `pad=3` would silently move every keypoint.
#
# ### The Jacobian head
#
# FOMM's first-order model also needs, for each keypoint, the $2\times2$ Jacobian $J_k$: the
# derivative of the motion at that keypoint, how its neighbourhood is turned and stretched
# (chapter 02 defines it exactly and derives the motion formula from it). A
# second 7×7 conv predicts 4 numbers per pixel and keypoint,
# $(j_0, j_1, j_2, j_3) \mapsto \begin{pmatrix} j_0 & j_1 \\ j_2 & j_3\end{pmatrix}$, and the
# Jacobian is their average weighted by the keypoint's own heatmap:
#
# $$J_k = \sum_z \mathcal{H}_k(z)\, \begin{pmatrix} j_0(z) & j_1(z) \\ j_2(z) & j_3(z)\end{pmatrix}.$$
#
# The head starts with **zero weights and bias (1, 0, 0, 1)**: every pixel predicts the identity,
# and because each heatmap sums to 1, every $J_k$ is exactly $I$ at initialisation. Motion then
# starts as the zero-order (pure translation) model, a sensible and stable starting point, and
# training only has to learn the deviations from it. A random initialisation would instead start
# with random, possibly nearly singular matrices, and $(J^D_k)^{-1}$ in the motion formula would blow up
# (we measure this below).
#
# The mgif config predicts a single set of 4 maps shared by all keypoints
# (`single_jacobian_map=True`); each keypoint still pools it with its own heatmap.
#
# **Exercise 1.3.** Implement `pool_jacobians(heatmap, jacobian_map)`. The maps come as
# `(B, M, 4, H, W)` with `M = K`, or `M = 1` for the shared map: let broadcasting handle both.

# %% tags=["exercise"]
def pool_jacobians(heatmap, jacobian_map):
    """heatmap: (B, K, H, W); jacobian_map: (B, M, 4, H, W) with M = K or 1.
    Returns (B, K, 2, 2): J_k = sum_z heatmap_k(z) * jacobian_map_k(z), the 4 numbers read row-major."""
    raise NotImplementedError("Exercise 1.3: weight the 4 maps by each heatmap, sum over H and W, reshape to 2×2")


# %% tags=["solution", "export"]
def pool_jacobians(heatmap, jacobian_map):
    """Heatmap-weighted average of the predicted Jacobian maps: J_k = sum_z H_k(z) J(z).

    heatmap: (B, K, H, W), each map sums to 1.  jacobian_map: (B, M, 4, H, W) with M = K, or M = 1
    (one map shared by all keypoints, broadcast).  Returns (B, K, 2, 2), [[j0, j1], [j2, j3]].
    """
    b, k = heatmap.shape[:2]
    weighted = heatmap.unsqueeze(2) * jacobian_map  # (B, K, 4, H, W)
    jacobian = weighted.sum(dim=(3, 4))             # (B, K, 4)
    return jacobian.reshape(b, k, 2, 2)             # (B, K, 2, 2)


# %%
pool_jacobians = checks.check_pool_jacobians(pool_jacobians)

# %% tags=["export"]
class KPDetector(nn.Module):
    """Keypoint detector (paper §3.1): image → {'value': (B, K, 2), 'jacobian': (B, K, 2, 2)}.

    Hourglass on the image downsampled by scale_factor, an unpadded (pad=0) 7×7 conv to K score
    maps, spatial softmax with `temperature`, soft-argmax.  With estimate_jacobian, a second 7×7
    conv predicts 4 numbers per pixel (per keypoint, or one shared map if single_jacobian_map),
    pooled with each heatmap; it starts at weight 0 and bias (1, 0, 0, 1), so every J_k = I at init.
    """

    def __init__(self, block_expansion, num_kp, num_channels, max_features, num_blocks, temperature,
                 estimate_jacobian=False, scale_factor=1, single_jacobian_map=False, pad=0):
        super().__init__()
        self.predictor = Hourglass(block_expansion, in_features=num_channels,
                                   max_features=max_features, num_blocks=num_blocks)
        self.kp = nn.Conv2d(self.predictor.out_filters, num_kp, kernel_size=(7, 7), padding=pad)
        if estimate_jacobian:
            self.num_jacobian_maps = 1 if single_jacobian_map else num_kp
            self.jacobian = nn.Conv2d(self.predictor.out_filters, 4 * self.num_jacobian_maps,
                                      kernel_size=(7, 7), padding=pad)
            with torch.no_grad():
                self.jacobian.weight.zero_()
                self.jacobian.bias.copy_(torch.tensor([1.0, 0.0, 0.0, 1.0] * self.num_jacobian_maps))
        else:
            self.jacobian = None
        self.num_channels = num_channels
        self.num_blocks = num_blocks
        self.temperature = temperature
        self.scale_factor = scale_factor
        self.pad = pad
        if scale_factor != 1:
            self.down = AntiAliasInterpolation2d(num_channels, scale_factor)

    def check_input(self, image):
        """Raise FommTeachError for an image this detector cannot process (see blocks.check_image)."""
        step = int(round(1 / self.scale_factor))
        multiple = step * 2**self.num_blocks
        min_size = max(multiple, step * (7 - 2 * self.pad))
        check_image(image, self.num_channels, multiple=multiple, min_size=min_size, name="KPDetector input image",
                    like=self.kp.weight)

    def forward(self, image, return_heatmap=False):
        """image: (B, num_channels, H, W) in [0, 1].  Returns {'value': (B, K, 2)}, plus 'jacobian'
        (B, K, 2, 2) if estimated, plus 'heatmap' (B, K, h, w) if return_heatmap (h = H·scale - 6 + 2·pad).
        """
        self.check_input(image)
        if self.scale_factor != 1:
            image = self.down(image)                                   # (B, C, H·s, W·s)
        feature_map = self.predictor(image)                            # (B, out_filters, H·s, W·s)
        logits = self.kp(feature_map)                                  # (B, K, h, w)
        heatmap = spatial_softmax(logits, self.temperature)            # (B, K, h, w)
        out = {"value": heatmap_to_keypoints(heatmap)}                 # (B, K, 2)
        if self.jacobian is not None:
            b, _, h, w = logits.shape
            jacobian_map = self.jacobian(feature_map)                  # (B, 4·M, h, w)
            jacobian_map = jacobian_map.reshape(b, self.num_jacobian_maps, 4, h, w)  # (B, M, 4, h, w)
            out["jacobian"] = pool_jacobians(heatmap, jacobian_map)   # (B, K, 2, 2)
        if return_heatmap:
            out["heatmap"] = heatmap
        return out


# %% [markdown]
# Let us build the vox-256 detector (14.2 M parameters) and run it, untrained, on a synthetic
# 256×256 frame. In quick mode we use a smaller network on a 64×64 frame; the code is the same.

# %%
if course.quick:
    detector_params = dict(block_expansion=8, num_kp=10, num_channels=3, max_features=64, num_blocks=3,
                           temperature=0.1, estimate_jacobian=True, scale_factor=0.5)
    frame_size = 64
else:
    detector_params = dict(block_expansion=32, num_kp=10, num_channels=3, max_features=1024, num_blocks=5,
                           temperature=0.1, estimate_jacobian=True, scale_factor=0.25)
    frame_size = 256
kp_detector = KPDetector(**detector_params).eval()
print(f"parameters: {sum(p.numel() for p in kp_detector.parameters()):,}")

frame = viz.synthetic_frame(frame_size)[None]  # (1, 3, H, W)
with torch.no_grad():
    kp = kp_detector(frame, return_heatmap=True)
for key, value in kp.items():
    print(f"{key:9s} {tuple(value.shape)}")
print("largest |J - I| at initialisation:", float((kp["jacobian"] - torch.eye(2)).abs().max()))

# %%
fig, axes = plt.subplots(1, 2, figsize=(9, 4.2), layout="constrained")
viz.show_image(axes[0], frame[0], title="synthetic frame + keypoints of an untrained detector")
viz.draw_keypoints(axes[0], kp["value"][0], image_size=frame_size)
viz.show_heatmap(axes[1], kp["heatmap"][0].sum(0),
                 title=f"sum of the {kp['heatmap'].shape[1]} heatmaps ({kp['heatmap'].shape[2]}×{kp['heatmap'].shape[3]})")
viz.draw_keypoints(axes[1], kp["value"][0], image_size=kp["heatmap"].shape[-1])
plt.show()

# %% [markdown]
# Untrained, the heatmaps are diffuse and every keypoint sits near the centre: exactly the
# high-temperature picture of §1.5, because nothing has taught the scores to peak yet. Chapter 06
# trains the detector, and the keypoints spread out over the moving parts.

# %% [markdown]
# Why not let the Jacobian head start like every other layer? Give it PyTorch's default
# initialisation (small random weights and bias) and look at the predicted matrices, and at their
# inverses, which chapter 02's motion formula needs:

# %%
random_head = KPDetector(**detector_params).eval()
random_head.jacobian.reset_parameters()  # PyTorch's default init instead of weight 0, bias (1, 0, 0, 1)
with torch.no_grad():
    jacobian_random = random_head(frame)["jacobian"][0]  # (K, 2, 2)
for name, jacobian in [("identity init", kp["jacobian"][0]), ("default init", jacobian_random)]:
    det = torch.linalg.det(jacobian).abs()
    print(f"{name:14s} |det J| in [{det.min():.1e}, {det.max():.1e}],  "
          f"largest entry of J⁻¹: {torch.inverse(jacobian).abs().max():.1e}")

# %% [markdown]
# With random weights the matrices are tiny and nearly singular: $J^{-1}$ has entries in the tens
# or hundreds, so the motion $J^S_k (J^D_k)^{-1}(z - p^D_k)$ of chapter 02 would fling pixels far outside
# the image and the first gradients would be huge. The identity start means "no rotation, no
# scaling yet": the model begins as the zero-order (translation-only) model and learns the
# first-order part gradually.

# %% [markdown]
# A clear error is part of the interface: the folded cell below feeds the detector an image of the
# wrong channel count and one of the wrong size, and prints the one-line messages.

# %% tags=["helper"]
for bad_image in [torch.rand(1, 1, frame_size, frame_size), torch.rand(1, 3, frame_size - 4, frame_size)]:
    try:
        kp_detector(bad_image)
    except FommTeachError as err:
        print("FommTeachError →", err, end="\n\n")

# %% [markdown]
# ## Summary
#
# - All coordinates live on a $[-1, 1]^2$ grid in `(x, y)` order with the align-corners convention.
# - A keypoint is the soft-argmax of a spatial softmax: $p_k = \sum_z \mathcal{H}_k(z) z$,
#   differentiable, with a temperature that trades sharpness against a pull to the centre.
# - The detector is an hourglass (U-Net) built from down/up blocks; at vox-256 it sees a 64×64
#   anti-aliased image and outputs 35 channels; its unpadded 7×7 heads give 58×58 heatmaps.
# - The Jacobian head pools 4 numbers per pixel with each keypoint's heatmap; zero weights and an
#   identity bias make every Jacobian exactly $I$ at the start.
#
# ## Think about it
#
# 1. The soft-argmax of two equally strong peaks lies halfway between them, where the heatmap is
#    nearly zero. When could this happen during training, and what might the temperature do about it?
# 2. Why must the softmax run over all $H \cdot W$ positions together, rather than over rows and
#    columns separately?
# 3. With `pad=0`, heat-map cell $i$ summarises a 7×7 window centred on feature pixel $i + 3$,
#    yet the soft-argmax reports it as $-1 + 2i/57$. Where on the 64×64 image is a keypoint
#    reported at $x = -1$? Why does training not mind, and why would loading the released weights
#    into a detector with `pad=3` silently change every keypoint?
# 4. What would go wrong in chapter 02's formula $J^S_k (J^D_k)^{-1}$ if the Jacobian head started from
#    random weights?
#
# <details><summary>Short answers</summary>
#
# 1. Early in training, or when two parts look alike (two hands, two blades), the scores of one
#    keypoint can fire at two places; the soft-argmax then reports a point between them, on nothing.
#    A lower temperature sharpens the softmax towards the stronger peak (with exactly equal peaks no
#    temperature helps); training also learns to prefer one of the two, since a keypoint in empty
#    space explains the motion badly.
# 2. Separate softmaxes would give one distribution over the columns and another over the rows; their
#    expectations could come from different peaks (the x of one blob, the y of another), and the
#    product of the two marginals is not the heatmap. One softmax over all $H \cdot W$ positions is a
#    distribution over positions, whose mean is a point the heatmap supports.
# 3. Cell $i = 0$ summarises feature pixels 0 to 6, centred on pixel 3 of 64, which sits at
#    $x = -1 + 2\cdot3/63 \approx -0.905$, yet it is reported at $x = -1$. Training does not mind:
#    the keypoints are learned without labels, only their motion between frames matters, and a fixed
#    stretch of about 63/57 applies to both frames alike. But a detector with `pad=3` has 64×64 maps
#    whose cell $i$ is centred on pixel $i$: the same weights give other scores at other places, and
#    every keypoint the released model learned moves.
# 4. Random weights give small, nearly singular $J_k$ (we measured it above); $(J^D_k)^{-1}$ then has huge
#    entries, $\mathcal{T}_k$ flings pixels far outside the image, and the first gradients blow up.
#    Starting from $J = I$ makes the first motions pure translations.
#
# </details>
