# ---
# jupyter:
#   fomm_teach:
#     module: dense_motion
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 03 · Dense motion: from K keypoints to one flow field
#
# Chapter 02 gave us, for every keypoint $k$, a local affine motion $\mathcal{T}_k$ that is right
# *near* that keypoint. An image is more than ten neighbourhoods, though: every pixel of the driving
# frame needs to know **which** of those motions to follow. This chapter builds the network that
# decides, the *dense motion network* of Siarohin et al. (2019), Sec. 3.1 (its occlusion map: Sec. 3.2).
#
# **Learning goals.** After this chapter you can
# 1. build the $K{+}1$ sparse motions (the $K$ keypoint motions plus an identity "background" motion);
# 2. warp the source image with each of them into $K{+}1$ *deformed sources*;
# 3. write the *heatmap representation* (paper Eq. 6) that tells the network where keypoints moved;
# 4. combine the motions into one dense flow with soft masks (paper Eq. 7) and read such a flow as a
#    colour wheel;
# 5. compute the ideal occlusion map of a scene whose parts you know, say what the network's occlusion
#    map is for, and where the network's 44 input channels come from.
#
# The symbols ($p_k$, $J_k$, $\mathcal{T}_{S\leftarrow D}$, $K$, the heatmaps $\mathcal{H}_k$ and
# $H_k$, the tensor shapes) are those of the notation table in `00_start_here` (§0.4).
#
# We work on a toy scene with three rigid, textured squares, because there we know the **right
# answer** for every mask and every pixel. The network itself starts untrained; chapter 06 trains it.

# %%
from fomm_teach import checks
from fomm_teach.course import start

course = start()   # seeds, sets threads, picks course.device, reads course.quick (FOMM_TEACH_QUICK=1), prints versions

# %%
import math

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F

from fomm_teach import viz, widgets
from fomm_teach.motion import jacobian_from_pose, make_coordinate_grid, sparse_motion

image_size = course.pick(quick=64, full=128)
spatial_size = (image_size, image_size)

# %% [markdown]
# The cell below is the start of `fomm_teach/dense_motion.py`: every cell tagged `export` in this
# notebook is copied into that module by `make export`.

# %% tags=["export"]
"""Dense motion network (Siarohin et al. 2019, Sec. 3.1-3.2; the authors' modules/dense_motion.py): K keypoint motions -> one flow.

Shapes use B = batch, K = num_kp, C = channels, (H, W) = the (downsampled) working resolution.
"""
import torch
import torch.nn.functional as F
from torch import nn

from fomm_teach.blocks import AntiAliasInterpolation2d, Hourglass, check_image
from fomm_teach.errors import FommTeachError
from fomm_teach.motion import kp2gaussian, make_coordinate_grid, sparse_motion, warp_image

# %% [markdown]
# ## 3.1 A toy scene whose motion we know exactly
#
# `viz.render_toy_parts` draws $K = 3$ textured squares on a patterned background. Part $k$ is
# placed by its centre $c_k$ and a $2\times2$ matrix $A_k$: a pixel $z$ (in the $[-1, 1]$ coordinates
# of chapter 01) belongs to part $k$ when $u = A_k^{-1}(z - c_k)$ lies in the square $[-1, 1]^2$. So
# $c_k$ *is* keypoint $p_k$ and $A_k$ *is* its Jacobian $J_k$, and the first-order motion of
# chapter 02, $\mathcal{T}_k(z) = p^S_k + J^S_k (J^D_k)^{-1}(z - p^D_k)$, is **exact** inside each
# square. A trained keypoint detector only estimates these; here we hand them over.

# %%
def rotation_scale(angle_degrees, scale):
    """Chapter 02's pose matrix J = scale · R(angle), for an angle in degrees. Returns (2, 2)."""
    return jacobian_from_pose(math.radians(angle_degrees), scale)


part_size = 0.22   # half the side of each square, in [-1, 1] units
kp_source = {
    "value": torch.tensor([[[-0.5, -0.45], [0.45, -0.4], [0.0, 0.45]]]),                 # (1, 3, 2)
    "jacobian": torch.stack([rotation_scale(0, part_size)] * 3)[None],                   # (1, 3, 2, 2)
}
kp_driving = {
    "value": torch.tensor([[[-0.35, -0.2], [0.55, -0.55], [0.05, 0.45]]]),               # (1, 3, 2)
    "jacobian": torch.stack(
        [rotation_scale(30, part_size), rotation_scale(0, 0.8 * part_size), rotation_scale(-60, part_size)]
    )[None],                                                                              # (1, 3, 2, 2)
}
source_image, source_parts = viz.render_toy_parts(kp_source["value"], kp_source["jacobian"], spatial_size)
driving_image, driving_parts = viz.render_toy_parts(kp_driving["value"], kp_driving["jacobian"], spatial_size)
num_kp = kp_source["value"].shape[1]
print("source", tuple(source_image.shape), "parts", tuple(source_parts.shape))

fig, axes = plt.subplots(1, 2, figsize=(8, 4))
viz.show_image(axes[0], source_image[0], "source S with keypoints p^S")
viz.draw_keypoints(axes[0], kp_source["value"][0], spatial_size)
viz.show_image(axes[1], driving_image[0], "driving D with keypoints p^D")
viz.draw_keypoints(axes[1], kp_driving["value"][0], spatial_size)
plt.tight_layout()
plt.show()

# %% [markdown]
# Square 0 moved and turned by 30°, square 1 shrank and moved, square 2 turned by −60° on the
# spot. (The squares are numbered like their keypoints, from 0, and coloured like them.)
# The generator will have to produce the driving frame **from the source frame** plus the two sets
# of keypoints. The tool for that is a *backward* flow $\hat{\mathcal{T}}_{S\leftarrow D}$: for every
# pixel $z$ of the output, where in the source should we look?

# %% [markdown]
# ## 3.2 K + 1 sparse motions: one per keypoint, plus the background
#
# Chapter 02's `sparse_motion` gives the $K$ grids $\mathcal{T}_k(z)$ of paper Eq. 4. The paper adds one
# more motion for everything that does not move: the **background**, part 0, whose motion is the
# identity, $\mathcal{T}_0(z) = z$. The authors put it **first**, so part $k$ of the dense motion
# network is keypoint $k-1$ of the detector; a checkpoint's mask channels follow that order.
# Below, "part 1" is therefore square 0.

# %% tags=["export"]
def sparse_motions_with_background(kp_driving, kp_source, spatial_size):
    """The K+1 backward motions of the dense motion network: part 0 = identity, parts 1..K = Eq. 4.

    kp_driving, kp_source: keypoint dicts, 'value' (B, K, 2) and optionally 'jacobian' (B, K, 2, 2).
    spatial_size: (H, W). Returns (B, K+1, H, W, 2) sampling grids in (x, y) order.
    """
    motions = sparse_motion(kp_source, kp_driving, spatial_size)                              # (B, K, H, W, 2)
    identity = make_coordinate_grid(spatial_size, dtype=motions.dtype, device=motions.device)  # (H, W, 2)
    identity = identity.expand(motions.shape[0], 1, *identity.shape)                          # (B, 1, H, W, 2)
    return torch.cat([identity, motions], dim=1)                                              # (B, K+1, H, W, 2)


# %%
sparse_motions = sparse_motions_with_background(kp_driving, kp_source, spatial_size)
print("sparse motions", tuple(sparse_motions.shape), "(B, K+1, H, W, 2)")

identity_grid = make_coordinate_grid(spatial_size, dtype=torch.float32, device="cpu")   # (H, W, 2)
fig, axes = plt.subplots((num_kp + 2) // 2, 2, figsize=(7.6, 3.6 * ((num_kp + 2) // 2)), layout="constrained")
axes = axes.ravel()
for part in range(num_kp + 1):
    displacement = sparse_motions[0, part] - identity_grid                               # (H, W, 2)
    name = "background (identity)" if part == 0 else f"part {part}: T_{part}(z) − z"
    viz.show_flow(axes[part], displacement, name, max_norm=1.0)
for ax in axes[num_kp + 1:]:
    ax.axis("off")
fig.suptitle("Each sparse motion as a colour: hue = direction, saturation = length,\n"
             "white = no motion (colour wheel in the corner)")
plt.show()

# %% [markdown]
# Each $\mathcal{T}_k$ is an affine map of the whole plane, so its displacement field is smooth
# everywhere, and wrong almost everywhere: it is right only on part $k$.

# %% [markdown]
# ## 3.3 The deformed sources $S^k$
#
# The network will have to decide, pixel by pixel, which motion is right. To make that a
# *visual* question, the authors warp the source with every motion,
#
# $$S^k(z) = S\big(\mathcal{T}_k(z)\big), \qquad k = 0, \dots, K,$$
#
# with bilinear sampling (`F.grid_sample`, zero padding outside the image). Where $S^k$ looks like
# the driving frame, motion $k$ is the right one.
#
# `grid_sample` takes one image and one grid per batch element, so we fold the $K{+}1$ parts into
# the batch: repeat the source $K{+}1$ times, reshape to $(B(K{+}1), C, H, W)$, sample, unfold.
# **`align_corners`** must match the coordinate grid's convention ($\pm1$ = centres of the border
# pixels, chapter 01), so we pass `align_corners=True` (see chapter 04 for what `False` does).

# %% tags=["exercise"]
def deform_source(source_image, sparse_motions, align_corners=True):
    """Warp the source with each of the K+1 sparse motions (bilinear, zero padding).

    source_image: (B, C, H, W); sparse_motions: (B, K+1, h, w, 2). Returns (B, K+1, C, h, w).
    """
    raise NotImplementedError("Exercise 3.1: repeat the source K+1 times, fold the parts into the batch, grid_sample")


# %% tags=["solution", "export"]
def deform_source(source_image, sparse_motions, align_corners=True):
    """Warp the source with each of the K+1 sparse motions (bilinear, zero padding): S^k = S ∘ T_k.

    source_image: (B, C, H, W); sparse_motions: (B, K+1, h, w, 2). Returns (B, K+1, C, h, w).
    """
    bs, num_parts, h, w, _ = sparse_motions.shape
    channels = source_image.shape[1]
    source_repeat = source_image.unsqueeze(1).expand(bs, num_parts, *source_image.shape[1:])  # (B, K+1, C, H, W)
    source_repeat = source_repeat.reshape(bs * num_parts, *source_image.shape[1:])          # (B·(K+1), C, H, W)
    grids = sparse_motions.reshape(bs * num_parts, h, w, 2)                                 # (B·(K+1), h, w, 2)
    deformed = warp_image(source_repeat, grids, align_corners=align_corners)               # (B·(K+1), C, h, w)
    return deformed.view(bs, num_parts, channels, h, w)                                     # (B, K+1, C, h, w)


# %%
deform_source = checks.check_deform_source(deform_source)

# %%
sparse_deformed = deform_source(source_image, sparse_motions)
print("deformed sources", tuple(sparse_deformed.shape), "(B, K+1, C, H, W)")
fig, axes = plt.subplots(2, (num_kp + 3) // 2, figsize=(9.2, 6.6), layout="constrained")
axes = axes.ravel()
for part in range(num_kp + 1):
    viz.show_image(axes[part], sparse_deformed[0, part], f"S^{part}" + (" (background)" if part == 0 else ""))
viz.show_image(axes[num_kp + 1], driving_image[0], "driving D (target)")
for ax in axes[num_kp + 2:]:
    ax.axis("off")
fig.suptitle("Deformed sources: S^k matches the driving frame on part k, and only there")
plt.show()

# %% [markdown]
# ## 3.4 The heatmap representation (paper Eq. 6)
#
# The deformed sources show *what* each motion does; the network also needs to know *where*
# the keypoints are. The authors encode this as a difference of Gaussians per keypoint,
#
# $$H_k(z) = \exp\!\Big(-\frac{\lVert p^D_k - z\rVert^2}{2\sigma}\Big) - \exp\!\Big(-\frac{\lVert p^S_k - z\rVert^2}{2\sigma}\Big),
# \qquad \sigma = 0.01,$$
#
# **driving minus source**: positive where the keypoint is now, negative where it came from.
# (The paper prints the exponent as $-(\cdot)^2/\sigma$, without the ½; the authors' code, which we
# follow, uses `kp2gaussian` of chapter 02 with its factor ½, i.e. a standard deviation of 0.1.)
# This $H_k$ is not the detector's softmax heatmap $\mathcal{H}_k$ of chapter 01. The background gets an
# all-zero map, prepended as part 0, so that heatmap $k$ and deformed source $k$ line up.

# %% tags=["exercise"]
def heatmap_representation(kp_driving, kp_source, spatial_size, kp_variance=0.01):
    """Paper Eq. 6 (driving minus source, kp2gaussian) with a zero background map first. Returns (B, K+1, 1, H, W)."""
    raise NotImplementedError("Exercise 3.2: kp2gaussian of driving minus source, then prepend zeros")


# %% tags=["solution", "export"]
def heatmap_representation(kp_driving, kp_source, spatial_size, kp_variance=0.01):
    """Paper Eq. 6: H_k(z) = G(z; p^D_k) − G(z; p^S_k), with an all-zero map for the background part 0.

    G is kp2gaussian, exp(-0.5 |z - p|² / kp_variance) as in the authors' code (the paper omits the ½).

    kp_driving, kp_source: keypoint dicts with 'value' (B, K, 2). spatial_size: (H, W).
    Returns (B, K+1, 1, H, W): the middle axis lets it sit beside the deformed sources' channels.
    """
    gaussian_driving = kp2gaussian(kp_driving["value"], spatial_size, kp_variance)  # (B, K, H, W)
    gaussian_source = kp2gaussian(kp_source["value"], spatial_size, kp_variance)    # (B, K, H, W)
    heatmap = gaussian_driving - gaussian_source                                    # (B, K, H, W)
    background = torch.zeros_like(heatmap[:, :1])                                   # (B, 1, H, W)
    heatmap = torch.cat([background, heatmap], dim=1)                               # (B, K+1, H, W)
    return heatmap.unsqueeze(2)                                                     # (B, K+1, 1, H, W)


# %%
heatmap_representation = checks.check_heatmap_representation(heatmap_representation)

# %%
heatmap = heatmap_representation(kp_driving, kp_source, spatial_size)
print("heatmap", tuple(heatmap.shape), "(B, K+1, 1, H, W)")
fig, axes = plt.subplots((num_kp + 2) // 2, 2, figsize=(7.2, 3.3 * ((num_kp + 2) // 2)), layout="constrained")
for part, ax in enumerate(axes.ravel()):
    ax.axis("off")
    if part <= num_kp:
        image = ax.imshow(heatmap[0, part, 0], cmap="RdBu_r", vmin=-1, vmax=1)
        ax.set_title(f"H_{part}" + (" (background: zeros)" if part == 0 else ""))
fig.colorbar(image, ax=axes, shrink=0.8, label="G(driving) − G(source)")
fig.suptitle("Heatmap representation: red = keypoint now (driving),\nblue = where it was (source)")
plt.show()

# %% [markdown]
# ## 3.5 The network's input: 44 channels, interleaved per part
#
# For each part the heatmap (1 channel) and the deformed source ($C = 3$ channels) are concatenated,
# then the part axis is flattened into channels. The order is therefore **part-major**:
# $[H_0, R_0, G_0, B_0,\; H_1, R_1, G_1, B_1,\; \dots]$. With $K = 10$ and RGB that is
# $(K+1)(C+1) = 44$ channels. The order matters: a checkpoint's first convolution has learned
# which of its 44 input channels is which.

# %% tags=["export"]
def hourglass_input(heatmap, sparse_deformed):
    """Concatenate [heatmap, deformed source] per part, then flatten parts into channels.

    heatmap: (B, K+1, 1, H, W); sparse_deformed: (B, K+1, C, H, W).
    Returns (B, (K+1)·(C+1), H, W), interleaved per part as [H_0, R_0, G_0, B_0, H_1, ...].
    """
    bs, _, _, h, w = heatmap.shape
    stacked = torch.cat([heatmap, sparse_deformed], dim=2)   # (B, K+1, C+1, H, W)
    return stacked.view(bs, -1, h, w)                         # (B, (K+1)·(C+1), H, W)


# %%
# Label every channel with (part, kind) to see the interleaving: heat = 0, R = 1, G = 2, B = 3.
labels_heat = torch.arange(num_kp + 1).float().view(1, -1, 1, 1, 1) * 10             # (1, K+1, 1, 1, 1)
labels_rgb = labels_heat + torch.tensor([1.0, 2.0, 3.0]).view(1, 1, 3, 1, 1)           # (1, K+1, 3, 1, 1)
order = hourglass_input(labels_heat, labels_rgb)[0, :, 0, 0].int().tolist()
print("channel codes (10·part + kind):", order)
print("channels for K = 10, RGB:", hourglass_input(torch.zeros(1, 11, 1, 4, 4), torch.zeros(1, 11, 3, 4, 4)).shape[1])

# %% [markdown]
# ## 3.6 Masks and the dense motion (paper Eq. 7)
#
# An hourglass (chapter 01) reads the 44 channels and a 7×7 convolution turns its features into
# $K{+}1$ logits per pixel; a **softmax over the parts** makes them masks $M_k(z) \ge 0$ with
# $\sum_k M_k(z) = 1$. The dense motion is the per-pixel convex combination
#
# $$\hat{\mathcal{T}}_{S\leftarrow D}(z) = M_0(z)\, z + \sum_{k=1}^{K} M_k(z)\,\Big(p^S_k + J^S_k (J^D_k)^{-1}(z - p^D_k)\Big)
#   = \sum_{k=0}^{K} M_k(z)\,\mathcal{T}_k(z). \qquad (7)$$

# %% tags=["export"]
def dense_deformation(mask, sparse_motions):
    """Paper Eq. 7: T̂(z) = Σ_{k=0..K} M_k(z) · T_k(z), a per-pixel convex combination of the part motions.

    mask: (B, K+1, H, W), softmax over parts; sparse_motions: (B, K+1, H, W, 2). Returns (B, H, W, 2).
    """
    return (mask.unsqueeze(-1) * sparse_motions).sum(dim=1)   # (B, K+1, H, W, 2) -> (B, H, W, 2)


# %% [markdown]
# What masks *should* a trained network predict? In the toy scene we know: pixel $z$ of the driving
# frame belongs to part $k$ if the driving renderer drew square $k$ there, else to the background.
# These **ideal masks** are one-hot. With them, the dense motion warps the source into the driving
# frame (`deform_source` with a single "part" does the warp).

# %%
ideal_mask = torch.cat([1 - driving_parts.sum(1, keepdim=True), driving_parts], dim=1)   # (1, K+1, H, W)
deformation = dense_deformation(ideal_mask, sparse_motions)                             # (1, H, W, 2)
warped = deform_source(source_image, deformation[:, None])[:, 0]                          # (1, C, H, W)

fig, axes = plt.subplots(2, 3, figsize=(9.6, 6.4), layout="constrained")
axes = axes.ravel()
axes[5].axis("off")
viz.show_masks(axes[0], ideal_mask[0], "ideal masks (colour = part)")
viz.show_flow(axes[1], deformation[0] - identity_grid, "dense flow T̂(z) − z", max_norm=0.5)
viz.show_image(axes[2], warped[0], "source warped by T̂")
viz.show_image(axes[3], driving_image[0], "driving D")
error = (warped - driving_image).abs().mean(1)[0]                                       # (H, W)
image = axes[4].imshow(error, cmap="magma", vmin=0, vmax=1)
axes[4].set_title(f"|warped − D| (mean over RGB), image mean {error.mean():.3f}", fontsize=9)
axes[4].axis("off")
fig.colorbar(image, ax=axes[4], shrink=0.8)
plt.show()

# %% [markdown]
# The squares land exactly where the driving frame has them. The error that is left sits where
# a square **moved away**: the background motion is the identity, so there it fetches the
# square's *old* position from the source, a "ghost". No flow can fix that: those pixels are
# **not visible in the source at all**. That is what the occlusion map is for.

# %% [markdown]
# ## 3.7 The occlusion map
#
# With `estimate_occlusion_map=True` a second 7×7 convolution on the hourglass features predicts
# one more map, squashed by a sigmoid: $\hat{\mathcal{O}}_{S\leftarrow D}(z) \in [0, 1]$, close to 0
# where the driving frame shows something the source cannot supply. Chapter 04 multiplies the
# generator's warped features by it (paper Eq. 8) so the decoder knows where to *inpaint*.
#
# What should a trained network predict there? In the toy scene we can compute the **ideal** map,
# because we know which part every pixel shows, in both frames: the *part labels*, one map per part
# ($K{+}1$ maps, part 0 = background, summing to 1 at every pixel). The driving frame's labels are
# the ideal masks above. A driving pixel $z$ is visible in the source when the part the driving frame
# shows at $z$ is the part the source shows **where the flow reads**, at $\hat{\mathcal{T}}(z)$:
#
# $$\mathcal{O}^{\text{ideal}}(z) = \sum_{k=0}^{K} L^S_k\big(\hat{\mathcal{T}}(z)\big)\, L^D_k(z)
# \in [0, 1],$$
#
# with $L^S$, $L^D$ the labels of the source and the driving frame (soft at anti-aliased edges).
# Where $\hat{\mathcal{T}}(z)$ falls outside the source, nothing can be read: the map is 0 there.
#
# **Exercise 3.3.** Implement `ideal_occlusion_map(source_labels, driving_labels, deformation)`.
# Think about which of the two label sets has to be moved, and in which frame the result lives;
# you have already written the function that reads an image at the positions of a flow.

# %% tags=["exercise"]
def ideal_occlusion_map(source_labels, driving_labels, deformation, align_corners=True):
    """1 where the driving frame's part at z is the part the source shows at T̂(z), else 0 (soft at edges;
    0 where T̂(z) falls outside the source).

    source_labels: (B, K+1, H, W); driving_labels: (B, K+1, h, w); deformation: (B, h, w, 2).
    Returns (B, 1, h, w) in [0, 1].
    """
    raise NotImplementedError("Exercise 3.3: compare the driving labels with the source labels, read where the flow points")


# %% tags=["solution", "export"]
def ideal_occlusion_map(source_labels, driving_labels, deformation, align_corners=True):
    """The occlusion map a perfect network would predict, from known part labels (not part of the model).

    O(z) = Σ_k L^S_k(T̂(z)) · L^D_k(z): the source's labels read where the backward flow points
    (zero outside the source), compared with the driving frame's labels at z.
    source_labels: (B, K+1, H, W); driving_labels: (B, K+1, h, w); deformation: (B, h, w, 2).
    Returns (B, 1, h, w) in [0, 1].
    """
    warped_labels = warp_image(source_labels, deformation, align_corners=align_corners)  # (B, K+1, h, w)
    return (warped_labels * driving_labels).sum(1, keepdim=True).clamp(0, 1)              # (B, 1, h, w)


# %%
ideal_occlusion_map = checks.check_ideal_occlusion_map(ideal_occlusion_map)

# %%
source_labels = torch.cat([1 - source_parts.sum(1, keepdim=True), source_parts], dim=1)  # (1, K+1, H, W)
ideal_occlusion = ideal_occlusion_map(source_labels, ideal_mask, deformation)             # (1, 1, H, W)

fig, axes = plt.subplots(1, 3, figsize=(9.6, 3.4), layout="constrained")
viz.show_image(axes[0], warped[0], "source warped by T̂")
viz.show_occlusion(axes[1], ideal_occlusion[0, 0], "ideal occlusion map\n(1 = visible in S)")
viz.show_image(axes[2], warped[0] * ideal_occlusion[0], "warped × occlusion")
plt.show()

# %% [markdown]
# Black regions: where a square moved away (the source shows the square there, the driving frame
# background) and the corners a turn uncovered. The thin outlines are pixels that the renderer
# covered only partly: their ideal mask mixes two parts, so their flow is a mix of two motions that
# points to neither. A trained network meets the same seams at every object boundary.

# %% [markdown]
# ## 3.8 The `DenseMotionNetwork`
#
# Now the pieces go into one module, as in the authors' `modules/dense_motion.py`:
#
# 1. anti-aliased downsampling of the source by `scale_factor` (vox-256: 256 → 64);
# 2. heatmap representation (3.4) and sparse motions (3.2) at that resolution;
# 3. deformed sources (3.3), stored as `sparse_deformed`;
# 4. the 44-channel input (3.5) → `Hourglass` → 7×7 conv → softmax over parts: `mask`;
# 5. paper Eq. 7: `deformation`, shape (B, H, W, 2);
# 6. optionally a 7×7 conv → sigmoid: `occlusion_map`.
#
# Submodule names (`hourglass`, `mask`, `occlusion`, `down`) and their registration order are the
# authors', so an official checkpoint loads with `strict=True`. One argument is ours:
# `align_corners` (default `True`) fixes the `grid_sample` convention, which the authors' code
# leaves to the torch version: torch 1.0, which they trained with, behaved like `True`; since
# torch 1.3 the default is `False` (chapter 04, §4.3, shows the difference).
#
# Like the detector of chapter 01, the network checks its inputs first, so that a wrong keypoint
# dict fails with one line that says what to fix; that check, `check_keypoints`, is plumbing and
# sits in the folded cell below.

# %% tags=["export", "helper"]
def check_keypoints(kp, batch_size, num_kp, name, like=None):
    """Raise FommTeachError unless ``kp`` is a dict with finite 'value' (B, K, 2) and optional 'jacobian' (B, K, 2, 2),
    of the dtype and on the device of ``like`` (the source image) when it is given."""
    if not isinstance(kp, dict) or "value" not in kp:
        raise FommTeachError(f"{name} must be a keypoint dict {{'value': (B, K, 2), 'jacobian': (B, K, 2, 2)}}.")
    expected = {"value": (batch_size, num_kp, 2), "jacobian": (batch_size, num_kp, 2, 2)}
    for key, shape in expected.items():
        if key in kp and not isinstance(kp[key], torch.Tensor):
            raise FommTeachError(f"{name}['{key}'] is a {type(kp[key]).__name__}, expected a tensor of shape {shape}.")
        if key in kp and tuple(kp[key].shape) != shape:
            raise FommTeachError(
                f"{name}['{key}'] has shape {tuple(kp[key].shape)}, expected {shape} "
                f"(batch {batch_size}, num_kp {num_kp})."
            )
        if key in kp and like is not None and (kp[key].dtype != like.dtype or kp[key].device != like.device):
            raise FommTeachError(
                f"{name}['{key}'] is {kp[key].dtype} on {kp[key].device}, the source image {like.dtype} on "
                f"{like.device}; convert it with .to(source_image)."
            )
        if key in kp and not torch.isfinite(kp[key]).all():
            raise FommTeachError(f"{name}['{key}'] contains NaN or infinite values.")


# %% tags=["export"]
class DenseMotionNetwork(nn.Module):
    """Predicts the dense backward flow T̂_{S←D} (paper Eq. 7) and the occlusion map from keypoints.

    Arguments are the authors' (``dense_motion_params`` of a config, plus ``num_kp``,
    ``num_channels`` and ``estimate_occlusion_map`` from the generator), and ``align_corners``:
    the ``grid_sample`` convention for the deformed sources (True = the coordinate grid's).
    """

    def __init__(self, block_expansion, num_blocks, max_features, num_kp, num_channels,
                 estimate_occlusion_map=False, scale_factor=1, kp_variance=0.01, align_corners=True):
        super().__init__()
        self.hourglass = Hourglass(block_expansion=block_expansion, in_features=(num_kp + 1) * (num_channels + 1),
                                   max_features=max_features, num_blocks=num_blocks)
        self.mask = nn.Conv2d(self.hourglass.out_filters, num_kp + 1, kernel_size=(7, 7), padding=(3, 3))
        if estimate_occlusion_map:
            self.occlusion = nn.Conv2d(self.hourglass.out_filters, 1, kernel_size=(7, 7), padding=(3, 3))
        else:
            self.occlusion = None
        self.num_kp = num_kp
        self.num_channels = num_channels
        self.num_blocks = num_blocks
        self.scale_factor = scale_factor
        self.kp_variance = kp_variance
        self.align_corners = align_corners
        if self.scale_factor != 1:
            self.down = AntiAliasInterpolation2d(num_channels, self.scale_factor)

    def check_inputs(self, source_image, kp_driving, kp_source):
        """Raise FommTeachError for a wrong image, keypoints, or an image the hourglass cannot halve."""
        # The hourglass halves the downsampled image num_blocks times and must be able to undo it.
        multiple = int(1 / self.scale_factor) * 2 ** self.num_blocks
        check_image(source_image, self.num_channels, multiple=multiple, min_size=multiple, name="source_image",
                    like=self.mask.weight)
        for kp, name in ((kp_driving, "kp_driving"), (kp_source, "kp_source")):
            check_keypoints(kp, source_image.shape[0], self.num_kp, name, like=source_image)

    def forward(self, source_image, kp_driving, kp_source):
        """source_image (B, C, H, W); keypoint dicts with 'value' (B, K, 2) [, 'jacobian' (B, K, 2, 2)].

        Returns a dict: 'sparse_deformed' (B, K+1, C, h, w), 'mask' (B, K+1, h, w),
        'deformation' (B, h, w, 2) and, with an occlusion head, 'occlusion_map' (B, 1, h, w),
        where (h, w) is the downsampled size.
        """
        self.check_inputs(source_image, kp_driving, kp_source)
        return self.predict_motion(self.downsample(source_image), kp_driving, kp_source)

    def downsample(self, source_image):
        """Step 1 of §3.8: the source at the working resolution, (B, C, H, W) -> (B, C, h, w).

        It depends on the source only, so an animation computes it once (chapter 07).
        """
        if self.scale_factor != 1:
            return self.down(source_image)                                          # (B, C, h, w)
        return source_image

    def predict_motion(self, source_downsampled, kp_driving, kp_source):
        """Steps 2-6 of §3.8 on an already downsampled source (B, C, h, w); returns forward's dict.

        The source may have batch 1 while the keypoints have batch B: it is broadcast to every frame.
        """
        _, _, h, w = source_downsampled.shape
        source_image = source_downsampled
        out_dict = {}
        heatmap = heatmap_representation(kp_driving, kp_source, (h, w), self.kp_variance)  # (B, K+1, 1, h, w)
        sparse_motions = sparse_motions_with_background(kp_driving, kp_source, (h, w))    # (B, K+1, h, w, 2)
        sparse_deformed = deform_source(source_image, sparse_motions, self.align_corners)  # (B, K+1, C, h, w)
        out_dict["sparse_deformed"] = sparse_deformed

        prediction = self.hourglass(hourglass_input(heatmap, sparse_deformed))  # (B, out_filters, h, w)
        mask = F.softmax(self.mask(prediction), dim=1)                           # (B, K+1, h, w)
        out_dict["mask"] = mask
        out_dict["deformation"] = dense_deformation(mask, sparse_motions)        # (B, h, w, 2)
        if self.occlusion is not None:
            out_dict["occlusion_map"] = torch.sigmoid(self.occlusion(prediction))  # (B, 1, h, w)
        return out_dict


# %% [markdown]
# A small network for this notebook: block expansion 16, three hourglass levels, working at half
# resolution. The vox-256 configuration is block expansion 64, five levels, max 1024 features and
# `scale_factor=0.25`, which is 37.7 million parameters.

# %%
dense_motion_network = DenseMotionNetwork(block_expansion=16, num_blocks=3, max_features=128, num_kp=num_kp,
                                          num_channels=3, estimate_occlusion_map=True, scale_factor=0.5)
dense_motion_network.eval()
with torch.no_grad():
    dense_motion = dense_motion_network(source_image, kp_driving=kp_driving, kp_source=kp_source)
for key, value in dense_motion.items():
    print(f"{key:16s} {tuple(value.shape)}")
print("hourglass input channels:", dense_motion_network.hourglass.encoder.down_blocks[0].conv.in_channels,
      "= (K+1)·(C+1) with K =", num_kp)
print("parameters:", sum(p.numel() for p in dense_motion_network.parameters()))

# %%
half = dense_motion["mask"].shape[2:]
fig, axes = plt.subplots(1, 3, figsize=(9.6, 3.6), layout="constrained")
viz.show_masks(axes[0], dense_motion["mask"][0], "untrained masks", legend=False)
viz.show_flow(axes[1], dense_motion["deformation"][0] - make_coordinate_grid(half, dtype=torch.float32,
              device="cpu"), "untrained dense flow", max_norm=0.5)
viz.show_occlusion(axes[2], dense_motion["occlusion_map"][0, 0], "untrained occlusion map")
fig.suptitle("Before training: masks near uniform (one muddy colour),\nso the flow is a blurry average of all motions")
plt.show()

# %% [markdown]
# ### Self-reconstruction gives the identity flow
#
# Training shows the network two frames *of the same video*; at the start of a video, or for a
# still subject, source and driving keypoints coincide. Then every $\mathcal{T}_k$ is the identity
# (for the Jacobian part, $J^S_k (J^D_k)^{-1} = I$), so any convex combination is too, whatever the
# masks. Untrained or not, the network returns the identity grid:

# %%
with torch.no_grad():
    same = dense_motion_network(source_image, kp_driving=kp_source, kp_source=kp_source)
identity_half = make_coordinate_grid(half, dtype=torch.float32, device="cpu")
print("max |deformation − identity| =", float((same["deformation"][0] - identity_half).abs().max()))

# %% [markdown]
# ### Can the network find the masks by itself?
#
# Nobody gives the network ideal masks. What it gets in training (chapter 06) is a reconstruction
# loss through the whole generator. As a shortcut, fit only the dense motion network, on this one
# pair, so that the source warped by its flow looks like the driving frame:
#
# $$\mathcal{L} = \operatorname{mean}_z \big|\, S\big(\hat{\mathcal{T}}(z)\big) - D(z) \big|
# \quad\text{(at the network's working resolution)}.$$
#
# A few dozen Adam steps already pull the masks toward the squares. Where several motions give the
# same picture (flat background) or none can (occluded pixels), the loss does not care which mask
# wins, so the learned masks stay vaguer than the ideal ones.
#
# The 150 steps take one to a few minutes on 2 CPU cores (4 minutes measured on a busy shared
# machine; 40 steps in quick mode take seconds): the bar shows the progress, and the cell prints
# its time.

# %%
import time

from tqdm.auto import tqdm

steps = course.pick(quick=40, full=150)
dense_motion_network.train()
optimizer = torch.optim.Adam(dense_motion_network.parameters(), lr=2e-3)
with torch.no_grad():
    source_small = dense_motion_network.down(source_image)                                # (1, 3, h, w)
    driving_small = dense_motion_network.down(driving_image)                              # (1, 3, h, w)
losses = []
fit_start = time.perf_counter()
for step in tqdm(range(steps), desc="Adam steps on one pair"):
    fitted = dense_motion_network(source_image, kp_driving=kp_driving, kp_source=kp_source)
    warped_small = deform_source(source_small, fitted["deformation"][:, None])[:, 0]      # (1, 3, h, w)
    loss = (warped_small - driving_small).abs().mean()
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    losses.append(loss.item())
dense_motion_network.eval()
print(f"L1 after 1 step {losses[0]:.4f}, after {steps} steps {losses[-1]:.4f} ({time.perf_counter() - fit_start:.0f} s)")

fig, axes = plt.subplots(2, 2, figsize=(8.4, 7.4), layout="constrained")
axes = axes.ravel()
axes[0].plot(losses)
axes[0].set_xlabel("Adam step", fontsize=8)
axes[0].set_ylabel("L1(warped S, D)", fontsize=8)
axes[0].set_title("fitting one pair", fontsize=9)
viz.show_masks(axes[1], fitted["mask"][0].detach(), f"learned masks after {steps} steps", legend=False)
viz.show_masks(axes[2], F.avg_pool2d(ideal_mask, 2)[0], "ideal masks (same resolution)")
viz.show_image(axes[3], warped_small[0].detach(), "S warped by the learned flow")
plt.show()

# How much of each part do the learned masks claim? The mean learned weight of part k on the pixels
# that are part k's in the ideal masks (1 would be a perfect mask).
ideal_small = F.avg_pool2d(ideal_mask, 2)[0]                                        # (K+1, h, w)
learned = fitted["mask"][0].detach()                                                # (K+1, h, w)
claimed = [float(learned[part][ideal_small[part] > 0.5].mean()) for part in range(num_kp + 1)]
for part, weight in enumerate(claimed):
    name = "background" if part == 0 else f"square {part - 1}"
    print(f"part {part} ({name:10s}): learned mask on its own pixels {weight:.2f}")
print(f"least clear: part {min(range(1, num_kp + 1), key=lambda part: claimed[part])}")

# %% [markdown]
# The printout puts a number on "vaguer". The learned masks claim squares 0 and 1 almost entirely,
# but **square 2 (part 3, yellow) hardly at all**: there is no yellow in the learned masks above, and
# its pixels went to the background (this happens in quick and in full mode). Square 2 turned by
# −60° *on the spot*, so the background's identity motion reads the source square at almost the
# same place: its colours are already nearly right there, and on this one pair the loss gains
# little from a mask of its own. Pairs in which the square also moves would leave its own motion as
# the only one that fits; chapter 06 trains on many such pairs.

# %% [markdown]
# ## 3.9 Explore: move one part, watch the masks and the flow
#
# The explorer re-renders the driving frame with the squares moved, turned and scaled by the
# sliders and shows, for the selected part, its heatmap $H_k$ and deformed source $S^k$, then the
# ideal masks, the dense flow, the source warped by it (ghosts included) and the ideal occlusion
# map. The *part* selector picks the square the sliders move; every square keeps its own pose when
# you switch (the sliders then show the chosen square's values), and *reset all parts* puts them
# all back. The picture under the controls is an ordinary image: a saved notebook, or one opened
# without a running kernel, still shows the last one drawn.

# %%
explorer = widgets.dense_motion_explorer(kp_source, kp_driving, spatial_size)
explorer

# %% [markdown]
# ## Summary
#
# - The dense motion network works with $K{+}1$ motions: part 0 is the background (identity), parts
#   $1..K$ are the first-order motions of Eq. 4.
# - It sees the source warped by each motion ($S^k$, `sparse_deformed`) and where the keypoints moved
#   ($H_k$ = Gaussian at driving − Gaussian at source, Eq. 6), interleaved per part: 44 channels for
#   $K = 10$.
# - A softmax over parts gives masks; the dense flow is the masked sum of the motions (Eq. 7). When
#   source and driving keypoints coincide, it is the identity whatever the masks.
# - No flow can show what the source does not contain; the occlusion map marks those pixels. With
#   known part labels the ideal map is the source's labels read at $\hat{\mathcal{T}}(z)$ compared
#   with the driving frame's labels at $z$.
# - A photometric loss alone already pulls the masks toward the moving parts (the one-pair fit).
# - `grid_sample` is always called with an explicit `align_corners` that matches the coordinate grid.
#
# ## Think about it
#
# 1. Why is the background motion the identity and not, say, the average of all keypoint motions?
#    What would go wrong in a video with a moving camera?
# 2. The masks are a softmax, so the flow at each pixel is a *convex* combination. Draw a case
#    where the right flow lies outside the convex hull of the $K{+}1$ candidates.
# 3. In the explorer, rotate a part by 180°. Is the deformed source $S^k$ still right on that part?
#    Why might a detector trained without Jacobians (zero-order motion) struggle here?
# 4. The heatmap is *driving minus source*. What information would the network lose if it only got
#    the driving Gaussians?
# 5. Why is the occlusion map a sigmoid (independent per pixel) while the masks are a softmax?
# 6. In the one-pair fit, square 2's mask stayed empty. Turn square 2 by 180° instead of −60° (in
#    `kp_driving`) and fit again: does it get a mask now? Why?
#
# <details><summary>Short answers</summary>
#
# 1. In most training videos the background does not move, and the identity is then exactly right
#    for every background pixel without spending a keypoint on it. An average of the keypoint
#    motions would drag the background along with the object. With a moving camera the background
#    moves too: the identity is wrong there, and the model has to spend keypoints (and masks) on the
#    background or leave it to the generator's inpainting.
# 2. At each pixel the flow can only lie between the $K{+}1$ candidate positions $\mathcal{T}_k(z)$.
#    Take one keypoint whose motion says "read from 0.2 to the left" and the background's "read
#    from here": every mask gives a flow between those two. A pixel of a second object that moved
#    the other way, and has no keypoint of its own, needs a flow to the right, which no mask reaches.
# 3. Yes: $\mathcal{T}_k$ is affine, and a turn by 180° is just another affine map, exact for a rigid
#    square; $S^k$ shows the square turned, notch in the opposite corner. A zero-order motion only
#    translates, so $S^k$ would show the square unturned, and no convex combination of translations
#    turns it; the detector would have to place several keypoints on the part and approximate the
#    turn piece by piece.
# 4. Where each keypoint came from. With both Gaussians the sign says "now" (positive) and "before"
#    (negative), a keypoint that did not move cancels to zero, and the distance between the two
#    blobs says how far it moved. The driving Gaussians alone only say where the parts are now.
# 5. The masks share one pixel among the $K{+}1$ motions: the weights must sum to 1, which a softmax
#    over the parts guarantees. Visibility is one separate yes/no question per pixel, independent of
#    which motion wins, so it gets its own sigmoid; a pixel can be occluded whatever the masks say.
# 6. Probably not: in our runs (quick and full mode) it still got none. The identity's error on the
#    square's pixels rises from 0.11 to 0.16 (mean L1 over RGB), but stays below the 0.25–0.27 that
#    squares 0 and 1 cost with the identity, and the square covers only 4 % of the image. The gradient
#    through bilinear sampling only knows the source's colours right next to where each pixel reads
#    now, not that a position many pixels away would fit, so a small gain that far away is easily
#    missed in 150 steps (40 in quick mode) on one pair. Pairs in which the square also moves raise
#    the gain; chapter 06 trains on many. (The fit depends on its steps and its start: run it and look.)
#
# </details>
