# ---
# jupyter:
#   fomm_teach:
#     module: motion
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 02 · Local affine motion: what one keypoint and one 2×2 matrix can say
#
# Chapter 01 gave us, for every frame, $K$ keypoints $p_k$ and $K$ Jacobians $J_k$. This chapter
# turns them into **motion**: for each keypoint, a map that tells every pixel of the driving frame
# where to look in the source frame. That is the heart of the paper's name: a *first-order*
# (Taylor) approximation of the motion around each keypoint.
#
# **Learning goals.** After this notebook you can
# 1. explain why FOMM predicts a *backward* flow (driving → source) and how to warp an image with it;
# 2. derive $\mathcal{T}_k(z) = p^S_k + J^S_k (J^D_k)^{-1} (z - p^D_k)$ from a Taylor expansion;
# 3. see, on a part that rotates and scales, what the first-order term adds to a pure translation;
# 4. render keypoints as Gaussians, the building block of chapter 03's heatmaps.
#
# Cells marked *export* become `fomm_teach/motion.py`. The symbols ($p_k$, $J_k$,
# $\mathcal{T}_{S\leftarrow D}$, $K$) and the tensor shapes are those of the notation table in
# `00_start_here` (§0.4).

# %%
from fomm_teach import checks
from fomm_teach.course import start

course = start()   # seeds, sets threads, picks course.device, reads course.quick (FOMM_TEACH_QUICK=1), prints versions

# %%
import math

import matplotlib.pyplot as plt
import torch

from fomm_teach import viz, widgets
from fomm_teach.keypoints import make_coordinate_grid

# %% [markdown]
# ## 2.1 Backward flow and warping
#
# To animate a **source** image $S$ so that it moves like a **driving** frame $D$, FOMM does not
# push source pixels forward (that leaves holes and collisions). It asks, for every pixel $z$ of the
# output, *where in the source* it should come from: a backward map
# $\mathcal{T}_{S \leftarrow D}: z \mapsto z'$, stored as a `(B, H, W, 2)` grid of source
# coordinates. Warping is then bilinear sampling, `F.grid_sample(S, grid)`.
#
# `grid_sample` reads the grid's $(x, y) \in [-1, 1]^2$ as pixel positions, and its
# `align_corners` flag says where $\pm 1$ is. Our coordinate grid puts $\pm 1$ on the **centres**
# of the border pixels, so we must pass `align_corners=True`; then the identity grid reproduces
# the image exactly. (The authors' code never passes the flag; it was written for torch 1.0, whose
# only behaviour was `True`. Under torch ≥ 1.3 the default became `False`, and their identity warp
# shrinks the image by $(W-1)/W$.)

# %% tags=["export"]
import torch
import torch.nn.functional as F

from fomm_teach.keypoints import make_coordinate_grid


def warp_image(image, grid, align_corners):
    """Backward warp: out[b, :, i, j] = image[b] sampled (bilinear, zero padding) at grid[b, i, j] = (x, y).

    image: (B, C, H_in, W_in).  grid: (B, H, W, 2) in [-1, 1], (x, y) order.  Returns (B, C, H, W).
    align_corners must be given: True matches make_coordinate_grid (the identity grid is the identity).
    """
    return F.grid_sample(image, grid, mode="bilinear", padding_mode="zeros", align_corners=align_corners)  # (B, C, H, W)


# %%
size = course.pick(quick=64, full=128)
source = viz.synthetic_part(size)[None]                          # (1, 3, H, W)
identity = make_coordinate_grid((size, size))[None]              # (1, H, W, 2)
for align_corners in (True, False):
    error = (warp_image(source, identity, align_corners=align_corners) - source).abs().mean()
    print(f"identity warp, align_corners={align_corners!s:5}: mean |warped - source| = {error:.2e}")

# %% [markdown]
# ## 2.2 The Taylor expansion (paper §3.1, Eq. 1–5)
#
# The paper imagines an abstract **reference frame** $R$ and, for each frame $X$, the map
# $\mathcal{T}_{X \leftarrow R}$. The motion we want is
# $\mathcal{T}_{S \leftarrow D} = \mathcal{T}_{S \leftarrow R} \circ \mathcal{T}_{R \leftarrow D}$.
# Keypoint $k$ sits at $p_k$ in $R$; its images in the frames are
# $p^S_k = \mathcal{T}_{S \leftarrow R}(p_k)$ and $p^D_k = \mathcal{T}_{D \leftarrow R}(p_k)$.
# Near each keypoint, expand each map to first order:
#
# $$\mathcal{T}_{X \leftarrow R}(p) \approx p^X_k + J^X_k\,(p - p_k), \qquad
#   J^X_k = \frac{d\mathcal{T}_{X \leftarrow R}(p)}{dp}\Big|_{p = p_k} .$$
#
# Inverting the driving map near $p^D_k$ gives $\mathcal{T}_{R \leftarrow D}(z) \approx
# p_k + (J^D_k)^{-1}(z - p^D_k)$; substituting into the source map, $p_k$ cancels:
#
# $$\boxed{\;\mathcal{T}_{S \leftarrow D}(z) \approx \mathcal{T}_k(z) = p^S_k + J^S_k\,(J^D_k)^{-1}\,(z - p^D_k)\;} \qquad \text{(Eq. 4–5)}$$
#
# The reference frame has disappeared: the detector only has to output $p^X_k$ and $J^X_k$ for
# each frame on its own. Dropping the first-order term ($J = I$) leaves the **zero-order** model of
# Monkey-Net, a pure translation: $\mathcal{T}_k(z) = z - p^D_k + p^S_k$.
#
# The code computes Eq. 4 in the authors' order: subtract $p^D_k$, form the matrix
# $J^S_k (J^D_k)^{-1}$ with `torch.inverse`, multiply it onto the column vector $(z - p^D_k)$,
# add $p^S_k$. It returns one map per keypoint, `(B, K, H, W, 2)`. (Chapter 03 prepends the
# identity map for the background.)
#
# **Exercise 2.1.** Implement `sparse_motion(kp_source, kp_driving, spatial_size)`. Use the
# Jacobians only when *both* dicts have a `'jacobian'` entry. Hint: `A @ v` with `A` of shape
# `(B, K, 1, 1, 2, 2)` and `v` of shape `(B, K, H, W, 2, 1)` broadcasts over the grid.

# %% tags=["exercise"]
def sparse_motion(kp_source, kp_driving, spatial_size):
    """kp_*: {'value': (B, K, 2), optionally 'jacobian': (B, K, 2, 2)}; spatial_size: (H, W).
    Returns (B, K, H, W, 2): T_k(z) = p_s + J_s J_d^-1 (z - p_d) (or z - p_d + p_s without jacobians)."""
    raise NotImplementedError("Exercise 2.1: z - p_d, then J_s @ inverse(J_d) @ (z - p_d), then + p_s")


# %% tags=["solution", "export"]
def sparse_motion(kp_source, kp_driving, spatial_size):
    """One backward map per keypoint (paper Eq. 4): T_k(z) = p_s,k + J_s,k J_d,k^-1 (z - p_d,k).

    kp_source, kp_driving: {'value': (B, K, 2), optionally 'jacobian': (B, K, 2, 2)}; the first-order
    term is used only if both have 'jacobian', otherwise T_k(z) = z - p_d,k + p_s,k (zero order).
    spatial_size: (H, W).  Returns (B, K, H, W, 2), (x, y) source coordinates for grid_sample.
    """
    value_source, value_driving = kp_source["value"], kp_driving["value"]
    grid = make_coordinate_grid(spatial_size, dtype=value_driving.dtype, device=value_driving.device)  # (H, W, 2)
    coordinate = grid[None, None] - value_driving[:, :, None, None, :]                                # (B, K, H, W, 2)
    if "jacobian" in kp_source and "jacobian" in kp_driving:
        jacobian = kp_source["jacobian"] @ torch.inverse(kp_driving["jacobian"])                      # (B, K, 2, 2)
        coordinate = jacobian[:, :, None, None] @ coordinate.unsqueeze(-1)                             # (B, K, H, W, 2, 1)
        coordinate = coordinate.squeeze(-1)                                                            # (B, K, H, W, 2)
    return coordinate + value_source[:, :, None, None, :]                                              # (B, K, H, W, 2)


# %%
sparse_motion = checks.check_sparse_motion(sparse_motion)

# %% [markdown]
# ## 2.3 How far does a first-order approximation reach?
#
# Eq. 4 is exact only if the motion is affine. To see how quickly a linearisation degrades, take a
# smooth non-linear backward map, a *swirl* that turns points near the centre more than points
# far away, and approximate it around one keypoint $p$ in two ways:
#
# - translation only (what the zero-order model can express): $\mathcal{T}(p) + (z - p)$;
# - first order: $\mathcal{T}(p) + J\,(z - p)$ with $J = \frac{d\mathcal{T}}{dz}(p)$, here from autograd.
#
# Taylor's theorem says the translation-only error grows like $\lVert z - p\rVert$ and the
# first-order error like $\lVert z - p\rVert^2$: a keypoint's affine model is good in a
# neighbourhood, and FOMM covers the image with $K$ such neighbourhoods (chapter 03).

# %%
def swirl(z):
    """A smooth non-linear map (..., 2) → (..., 2): rotate by 1.5·exp(-|z|²/2) rad, shrink by 0.9, shift."""
    angle = 1.5 * torch.exp(-z.pow(2).sum(-1, keepdim=True) / 2.0)  # (..., 1)
    x, y = z[..., :1], z[..., 1:]
    turned = torch.cat([torch.cos(angle) * x - torch.sin(angle) * y,
                        torch.sin(angle) * x + torch.cos(angle) * y], dim=-1)  # (..., 2)
    return 0.9 * turned + torch.tensor([0.05, 0.0])


p = torch.tensor([0.2, 0.1])
jacobian = torch.autograd.functional.jacobian(swirl, p)  # (2, 2), J[i, j] = dT_i / dz_j
grid = make_coordinate_grid((size, size))                # (H, W, 2)
exact = swirl(grid)                                       # (H, W, 2)
approximations = {"translation only": swirl(p) + (grid - p),
                  "first order": swirl(p) + (grid - p) @ jacobian.T}
pixels = (size - 1) / 2                                   # normalised units → pixels
distance = (grid - p).norm(dim=-1).flatten()              # (H·W,)
errors = {name: (approximation - exact).norm(dim=-1) * pixels for name, approximation in approximations.items()}  # (H, W)

panels = plt.subplot_mosaic("AB;CC", figsize=(8.6, 7.6), layout="constrained")[1]  # two maps above, the log-log plot below
fig, axes = plt.gcf(), [panels["A"], panels["B"], panels["C"]]
largest = max(float(error.max()) for error in errors.values())
for ax, (name, error) in zip(axes, errors.items()):
    viz.show_heatmap(ax, error, title=f"{name}: error |approx − T| (pixels)", label="error (pixels)")
    ax.images[0].set_clim(0, largest)  # one colour scale for both panels
    viz.draw_keypoints(ax, p[None], image_size=size)
    axes[2].loglog(distance * pixels, error.flatten(), ".", markersize=2, alpha=0.4, label=name,
                   color=viz.keypoint_color(1 if name == "first order" else 0))
axes[2].set_xlabel("distance |z − p| (pixels)")
axes[2].set_ylabel("error (pixels)")
axes[2].set_title("error against distance (log-log): slope 1 vs slope 2", fontsize=9)
axes[2].legend(markerscale=6)
fig.suptitle("Linearising a swirl around keypoint 0:\nthe first-order model is accurate over a much larger neighbourhood")
plt.show()

# %% [markdown]
# Near the keypoint the first-order error is a tiny fraction of the translation-only error (note
# the two slopes in the right panel). Far from it both fail: a linearisation is only local.

# %% [markdown]
# ## 2.4 Zero order versus first order on a rotating, scaling part
#
# Our test object is a single rigid "part" with a distinctive L-shaped, two-coloured pattern. In
# the source it sits at $p^S$ upright; in the driving frame it has moved to $p^D$, **turned by 40°
# and grown by 30 %**. If the detector did its job, it would report
#
# $$J^S = I, \qquad J^D = 1.3 \cdot R(40°) = 1.3\begin{pmatrix}\cos 40° & -\sin 40° \\ \sin 40° & \cos 40°\end{pmatrix},$$
#
# the derivative of the part's pose map. `jacobian_from_pose` builds such a matrix from an angle,
# a scale and a shear, $J = R(\theta)\,\mathrm{diag}(s, s)\begin{pmatrix}1 & h\\ 0 & 1\end{pmatrix}$.
#
# **Which way is a positive angle?** $R(\theta)$ sends the x axis $(1, 0)$ to $(\cos\theta, \sin\theta)$,
# counter-clockwise in a maths textbook, where $y$ points up. In an image $y$ points **down** (row 0
# is the top), so on screen a positive angle turns **clockwise**: the 40° part below has turned
# clockwise. Every angle in this course follows this convention.

# %% tags=["export"]
def jacobian_from_pose(angle, scale=1.0, shear=0.0, dtype=torch.float32, device=None):
    """The 2×2 matrix J = R(angle) · scale · [[1, shear], [0, 1]] (angle in radians, column vectors).

    R(angle) = [[cos, -sin], [sin, cos]]; with y pointing down in an image, a positive angle turns
    clockwise on screen.  A part drawn with this pose map maps its own frame u to image coordinates z = p + J u.
    Returns (2, 2).
    """
    angle = torch.as_tensor(angle, dtype=dtype, device=device)
    cos, sin = torch.cos(angle), torch.sin(angle)
    rotation = torch.stack([torch.stack([cos, -sin]), torch.stack([sin, cos])])  # (2, 2)
    shear_matrix = torch.tensor([[1.0, float(shear)], [0.0, 1.0]], dtype=dtype, device=device)
    return scale * rotation @ shear_matrix  # (2, 2)


# %%
p_source, p_driving = torch.tensor([-0.3, 0.1]), torch.tensor([0.25, -0.05])
jacobian_driving = jacobian_from_pose(math.radians(40), scale=1.3)
source = viz.synthetic_part(size, center=p_source)[None]                                           # (1, 3, H, W)
driving = viz.synthetic_part(size, center=p_driving, jacobian=jacobian_driving)[None]              # (1, 3, H, W)

kp_source = {"value": p_source[None, None], "jacobian": torch.eye(2)[None, None]}                  # K = 1
kp_driving = {"value": p_driving[None, None], "jacobian": jacobian_driving[None, None]}
zero_order = sparse_motion({"value": kp_source["value"]}, {"value": kp_driving["value"]}, (size, size))  # (1, 1, H, W, 2)
first_order = sparse_motion(kp_source, kp_driving, (size, size))                                   # (1, 1, H, W, 2)
warped_zero = warp_image(source, zero_order[:, 0], align_corners=True)                             # (1, 3, H, W)
warped_first = warp_image(source, first_order[:, 0], align_corners=True)                           # (1, 3, H, W)

inside = ((first_order[:, 0].abs() <= 1).all(-1))[:, None]                                     # (1, 1, H, W)
fig, axes = plt.subplots(2, 2, figsize=(8.4, 8.4), layout="constrained")
axes = axes.ravel()
viz.show_image(axes[0], source[0], title="source S (part upright at $p^S$)")
viz.draw_keypoints(axes[0], kp_source["value"][0], image_size=size)
viz.show_image(axes[1], driving[0], title="driving D (moved, turned 40° clockwise, ×1.3)")
viz.draw_keypoints(axes[1], kp_driving["value"][0], image_size=size)
for ax, warped, name in [(axes[2], warped_zero, "zero order: z − $p^D$ + $p^S$"),
                         (axes[3], warped_first, "first order: Eq. 4")]:
    error = ((warped - driving).abs() * inside).sum() / (3 * inside.sum())
    viz.show_image(ax, warped[0], title=f"{name}\nmean |warped − D| (where T(z) is in S): {error:.3f}")
    viz.draw_keypoints(ax, kp_driving["value"][0], image_size=size)
fig.suptitle("Warping S with one keypoint's motion: only the first-order term turns and scales the part")
plt.show()

# %% [markdown]
# The zero-order map only *translates*: the part lands at the right place but stays upright and
# small. The first-order map reproduces the driving pose up to bilinear interpolation blur,
# because for a rigid part the affine approximation is exact. The black regions are driving pixels
# whose $\mathcal{T}(z)$ falls outside the source image: `grid_sample` pads with zeros there
# (the errors above are measured only where $\mathcal{T}(z)$ lands inside $S$). Chapter 03's
# occlusion map is FOMM's answer to such "nothing to copy from here" pixels. For non-rigid objects it is exact
# only at the keypoint and degrades with the distance from it, which is why FOMM mixes $K$ such
# maps with learned masks (chapter 03).
#
# The arrows show the same maps: at each driving-frame pixel $z$, an arrow points from $z$ to the
# source position $\mathcal{T}(z)$ it reads. They are drawn over the driving frame $D$, whose pixels
# $z$ are; the explorer of §2.5 draws its arrows the same way.

# %%
fig, axes = plt.subplots(1, 2, figsize=(9, 4.6), layout="constrained")
for ax, motion, name in [(axes[0], zero_order, "zero order"), (axes[1], first_order, "first order")]:
    viz.show_image(ax, driving[0], title=f"{name}: arrows z → T(z), drawn over D", alpha=0.5)
    viz.draw_flow_arrows(ax, motion[0, 0], step=max(1, size // 8))
    viz.draw_keypoints(ax, kp_driving["value"][0], image_size=size)
plt.show()

# %% [markdown]
# ## 2.5 Explore it yourself
#
# The widget below keeps the source part at $p^S$ with $J^S = I$. Move the **driving keypoint** and
# set its **Jacobian** with the rotation, scale and shear sliders (a positive rotation turns
# clockwise). The left panel is the first-order panel of the figure above, for the pose you set:
# the driving frame $D$ with the arrows $z \to \mathcal{T}(z)$. At large rotations the arrows cross
# each other, so the middle panel draws a regular grid of the driving frame where $\mathcal{T}$ sends
# it in the source, i.e. where each driving pixel reads (the image of a grid under an affine map is
# a grid, so it stays readable; the thick pink and teal lines are the driving frame's top row and
# left column: follow them to see the turn). The right panel is the source warped by $\mathcal{T}$,
# with the driving frame's grid: it should look like the left panel's $D$. Try a rotation of 180°, a
# scale below 1, a shear, and a scale close to 0 (what happens to $(J^D)^{-1}$?). The picture under
# the sliders is an ordinary image: a saved notebook keeps the last one you drew.

# %%
widgets.sparse_motion_explorer(source[0], p_source=p_source, sparse_motion_fn=sparse_motion, warp_fn=warp_image)

# %% [markdown]
# ## 2.6 Keypoints as Gaussians (the building block of paper Eq. 6)
#
# Chapter 03's dense motion network needs to *see* where the keypoints are, so each keypoint is
# rendered as an unnormalised Gaussian on the grid,
#
# $$G_k(z) = \exp\!\Big(-\frac{\lVert z - p_k \rVert^2}{2\sigma^2}\Big), \qquad \sigma^2 = 0.01 ,$$
#
# i.e. a standard deviation of 0.1 normalised units (≈ 3.2 pixels on a 64-pixel map). The peak is
# 1 whatever $\sigma$ is: it is not a probability density, and it is not the detector's softmax
# heatmap $\mathcal{H}_k$ of chapter 01 either. Paper Eq. 6 is the *difference* of two such
# Gaussians, at the driving and at the source keypoint: chapter 03 builds it as $H_k$. The paper
# writes its exponent as $-\lVert z - p_k\rVert^2/\sigma$ with $\sigma = 0.01$, without the ½; the
# authors' code (`kp2gaussian` in `modules/util.py`), which the released models were trained with,
# has the ½, and so do we.
#
# **Exercise 2.2.** Implement `kp2gaussian(kp_value, spatial_size, kp_variance)`.

# %% tags=["exercise"]
def kp2gaussian(kp_value, spatial_size, kp_variance):
    """kp_value: (B, K, 2) in [-1, 1], (x, y). Returns (B, K, H, W): exp(-0.5 |z - p_k|^2 / kp_variance)."""
    raise NotImplementedError("Exercise 2.2: grid minus keypoint, squared norm, Gaussian")


# %% tags=["solution", "export"]
def kp2gaussian(kp_value, spatial_size, kp_variance):
    """Render each keypoint as an unnormalised Gaussian G_k(z) = exp(-0.5 |z - p_k|^2 / kp_variance).

    The building block of paper Eq. 6 (H_k = G at driving - G at source, chapter 03); the ½ is the
    authors' code's (modules/util.py), the paper's formula has none.

    kp_value: (B, K, 2) in [-1, 1], (x, y) order.  spatial_size: (H, W).  Returns (B, K, H, W).
    """
    grid = make_coordinate_grid(spatial_size, dtype=kp_value.dtype, device=kp_value.device)  # (H, W, 2)
    diff = grid[None, None] - kp_value[:, :, None, None, :]                                  # (B, K, H, W, 2)
    return torch.exp(-0.5 * diff.pow(2).sum(-1) / kp_variance)                               # (B, K, H, W)


# %%
kp2gaussian = checks.check_kp2gaussian(kp2gaussian)

# %%
kp_value = torch.tensor([[[-0.5, -0.5], [0.0, 0.2], [0.6, -0.3]]])  # (1, 3, 2)
gaussians = kp2gaussian(kp_value, (64, 64), kp_variance=0.01)      # (1, 3, 64, 64)
fig, ax = plt.subplots(figsize=(4.4, 4), layout="constrained")
viz.show_heatmap(ax, gaussians[0].sum(0), title="kp2gaussian, σ² = 0.01, 3 keypoints on 64×64",
                 label="sum of the $G_k$ (each peaks at 1)")
viz.draw_keypoints(ax, kp_value[0], image_size=64)
plt.show()

# %% [markdown]
# ## Summary
#
# - FOMM predicts a **backward** map $\mathcal{T}_{S\leftarrow D}$ and warps with `grid_sample`;
#   with our grid convention `align_corners=True` makes the identity map the identity.
# - A first-order Taylor expansion around each keypoint, through an abstract reference frame,
#   gives $\mathcal{T}_k(z) = p^S_k + J^S_k (J^D_k)^{-1}(z - p^D_k)$ (Eq. 4).
# - The zero-order model $z - p^D_k + p^S_k$ only translates; the Jacobians add local rotation,
#   scaling and shear, exact for a rigid part.
# - Keypoints are rendered as Gaussians $G_k$ with variance 0.01; chapter 03's heatmap $H_k$
#   (paper Eq. 6) is the difference of two of them.
#
# ## Think about it
#
# 1. Why is a *backward* map easier to use for image generation than a forward one?
# 2. `torch.inverse` is applied to $J^D_k$ with no safeguard. What does a nearly singular $J^D_k$
#    do to $\mathcal{T}_k$, and what in the detector's initialisation keeps this away early in training?
# 3. The first-order map is exact for a rigid part. Think of a part that bends (an arm at the
#    elbow): where does one keypoint's map go wrong, and what could fix it?
# 4. Only the product $J^S_k (J^D_k)^{-1}$ matters. What does this say about the "reference frame"
#    the detector learns: is it unique?
#
# <details><summary>Short answers</summary>
#
# 1. A backward map gives every output pixel exactly one place to read from, so sampling fills the
#    whole output with no holes and no collisions, and it is differentiable (`grid_sample`). A
#    forward map pushes source pixels to places that may be hit twice or never, which leaves holes
#    to fill and overlaps to resolve.
# 2. $(J^D_k)^{-1}$ becomes huge, so $\mathcal{T}_k$ sends pixels near the keypoint far outside the
#    image (and its gradients explode). The detector's Jacobian head starts at weight 0 and bias
#    $(1, 0, 0, 1)$, so every $J_k = I$ at first (chapter 01), and the motion starts as a translation.
# 3. One keypoint's affine map fits one rigid piece: on an arm bent at the elbow it is right near the
#    keypoint (say the upper arm) and increasingly wrong along the forearm, which turns differently.
#    More keypoints (one per rigid piece) and masks that pick, per pixel, the right keypoint's motion
#    fix it: that is chapter 03.
# 4. It is not unique. Change the reference frame by the same invertible linear map $M$ near the
#    keypoint, for every frame: each Jacobian becomes $J^X_k M$, and $J^S_k M\,(J^D_k M)^{-1} =
#    J^S_k (J^D_k)^{-1}$, so the motion, and any reconstruction, is unchanged. Reconstruction alone cannot
#    tell $J$ from $J M$; chapter 05's Jacobian lesson shows what that costs when source and driving
#    frame come from different objects, and how the equivariance constraint pins the frame down.
#
# </details>
