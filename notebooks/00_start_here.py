# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 00 · Start here: animating a picture with a few keypoints
#
# This course builds, one notebook at a time, the **First Order Motion Model** (FOMM) of
# Siarohin, Lathuilière, Tulyakov, Ricci and Sebe (NeurIPS 2019). Give it one *source* picture
# of an object and a *driving* video of another object of the same kind, and it makes the
# source move like the driving video: a face speaks, a cartoon character dances. It learns this
# from videos alone, without any labels: nobody tells it where the eyes or the hands are.
#
# By the end you will have written every part of the model yourself, trained a small one on a
# CPU, and understood each of the paper's design decisions well enough to change it.
#
# This notebook shows
# 1. the paper's idea in two pictures, and what the finished (small) model does;
# 2. the course map: which notebook builds which part;
# 3. the notation every chapter uses;
# 4. how exercises and their checks work, with one tiny worked exercise;
# 5. how to run the course on a laptop, on Binder or on Colab, and a setup check.
#
# **Where you work: `notebooks/student/`.** Your notebooks are the ones in `notebooks/student/`
# (this one, if `make lab`, Binder or a README badge opened it): the exercises are open and each
# solution is folded away. The notebooks one folder up, `notebooks/NN_topic.ipynb`, and their
# sources `notebooks/NN_topic.py` are the **instructor** notebooks, with every solution already
# written and run: they are for instructors and for the course's own tests, so leave them closed
# while you work through the course.

# %%
from fomm_teach import checks
from fomm_teach.course import start

course = start()   # seeds, sets threads, picks course.device, reads course.quick (FOMM_TEACH_QUICK=1), prints versions

# %% [markdown]
# The line above is how every notebook begins. `start()` fixes the random seeds (so you see the
# same numbers as everybody else), limits PyTorch to two CPU threads, picks the GPU when there is
# one, and prints the versions it found. `course.quick` is `True` when the environment variable
# `FOMM_TEACH_QUICK=1` is set: the automated tests use it to run every notebook in about a
# minute with smaller images.

# %%
import matplotlib.pyplot as plt
import torch

from fomm_teach import viz
from fomm_teach.motion import jacobian_from_pose, sparse_motion, warp_image

# %% [markdown]
# ## 0.1 The idea in pictures: motion described by keypoints *and* little matrices
#
# FOMM describes how an object moves with $K$ **keypoints** $p_k$ (10 in the paper) and, at each
# keypoint, a 2×2 matrix $J_k$ (the **Jacobian**) that says how the neighbourhood of the keypoint
# is turned and stretched. Near a keypoint, motion is then *affine*: a pixel $z$ of the driving
# frame $D$ is found in the source image $S$ at
#
# $$\mathcal{T}_k(z) \approx p^S_k + J^S_k \,\big(J^D_k\big)^{-1} (z - p^D_k) \qquad \text{(paper Eq. 4–5)} .$$
#
# This is a first-order Taylor expansion of the unknown motion around the keypoint, hence the
# model's name. With only the keypoints (a *zero-order* model) the best we can do is shift the
# neighbourhood: $\mathcal{T}_k(z) \approx p^S_k + (z - p^D_k)$.
#
# Below, one rigid part is drawn in a source pose and in a driving pose (moved, turned by 40° and
# enlarged by 20 %). In an image the y axis points **down** (row 0 is the top), so the rotation
# matrix of a textbook turns the other way on screen: a positive angle turns **clockwise**. The
# whole course uses this convention. We know its keypoint (the part's centre) and its Jacobian (rotation × scale)
# exactly, and warp the source back into the driving pose both ways. The arrows at each keypoint
# are the two columns of $J_k$: the part's own x and y axes.

# %%
size = course.pick(quick=48, full=96)

p_source, jacobian_source = torch.tensor([-0.3, 0.05]), jacobian_from_pose(0.0, scale=1.5)
p_driving, jacobian_driving = torch.tensor([0.2, -0.05]), jacobian_from_pose(0.7, scale=1.8)
source = viz.synthetic_part(size, center=p_source, jacobian=jacobian_source)      # (3, H, W)
driving = viz.synthetic_part(size, center=p_driving, jacobian=jacobian_driving)   # (3, H, W)

kp_source = {"value": p_source.view(1, 1, 2), "jacobian": jacobian_source.view(1, 1, 2, 2)}     # K = 1
kp_driving = {"value": p_driving.view(1, 1, 2), "jacobian": jacobian_driving.view(1, 1, 2, 2)}
first_order = sparse_motion(kp_source, kp_driving, (size, size))[:, 0]                          # (1, H, W, 2)
zero_order = sparse_motion({"value": kp_source["value"]}, {"value": kp_driving["value"]}, (size, size))[:, 0]
warped_first = warp_image(source[None], first_order, align_corners=True)[0]                    # (3, H, W)
warped_zero = warp_image(source[None], zero_order, align_corners=True)[0]                      # (3, H, W)


# %% tags=["helper"]
def draw_frame(ax, p, jacobian, image_size, length=0.3):
    """Keypoint p (2,) with the columns of its Jacobian (2, 2) drawn as arrows of `length` (normalised units)."""
    pixels_per_unit = (image_size - 1) / 2
    x, y = viz.to_pixels(p.view(1, 2), image_size)[0].tolist()
    for column, color in ((0, "#CC6677"), (1, "#332288")):
        dx, dy = (jacobian[:, column] * length * pixels_per_unit).tolist()
        ax.annotate("", xy=(x + dx, y + dy), xytext=(x, y),
                    arrowprops=dict(arrowstyle="->", color=color, linewidth=2))
    viz.draw_keypoints(ax, p.view(1, 2), image_size, numbers=False)


def error_map(ax, image, target, title):
    """Per-pixel mean absolute difference (H, W) between two (3, H, W) images, with a colour bar."""
    difference = (image - target).abs().mean(0)                                    # (H, W)
    viz.show_heatmap(ax, difference, title=f"{title}\nmean error {difference.mean():.3f}",
                     label="|warped − driving|")


# %%
fig, axes = plt.subplots(2, 3, figsize=(9.4, 6.9))
viz.show_image(axes[0, 0], source, "source image S\nkeypoint p_S, axes = columns of J_S")
draw_frame(axes[0, 0], p_source, jacobian_source, size)
viz.show_image(axes[0, 1], driving, "driving frame D\nkeypoint p_D, axes = columns of J_D")
draw_frame(axes[0, 1], p_driving, jacobian_driving, size)
axes[0, 2].axis("off")
axes[0, 2].text(0, 0.5, "Both rows warp S to look like D.\n\nZero order: shift only.\n"
                "First order: shift + J_S J_D⁻¹.\n\nBlack: positions outside S\n(zero padding).",
                fontsize=10, va="center")
viz.show_image(axes[1, 0], warped_zero, "zero order: S at p_S + (z − p_D)")
viz.show_image(axes[1, 1], warped_first, "first order: S at p_S + J_S J_D⁻¹ (z − p_D)")
error_map(axes[1, 2], warped_first, driving, "first-order error (dark: exact)")
fig.suptitle("One part, one keypoint: the Jacobian turns and scales the neighbourhood", fontsize=11)
fig.tight_layout()
plt.show()

# %% [markdown]
# The first-order warp reproduces the part exactly (the error map is dark on the part), because a
# rigid part moves by exactly one affine map. The zero-order warp puts the part in the right place
# but leaves it unturned. The *background*, however, is wrong in both: it did not move, but we
# warped the whole picture with the part's motion.
#
# So a real model needs several motions at once, and FOMM's answer is:
# - $K$ keypoints with Jacobians, **learned** without labels (chapter 01);
# - one local affine motion $\mathcal{T}_k$ per keypoint plus the identity for the background (chapter 02);
# - a network that predicts, for every pixel, which of the $K+1$ motions applies (soft *masks*),
#   and an **occlusion map** that marks the pixels of $D$ that cannot be found in $S$ at all
#   (chapter 03);
# - a generator that warps the source's *features* with that dense motion, dims the occluded
#   places and paints them in (chapter 04).
#
# Training needs only pairs of frames of the same video: the model must rebuild the driving frame
# from the source frame (chapters 05 and 06). At test time the source image comes from another
# video, and that is the animation (chapter 07).


# %% tags=["helper"]
def draw_pipeline(ax):
    """The FOMM pipeline as boxes and arrows, each box labelled with the chapter that builds it."""
    boxes = {  # key: (x, y, text, learned?)
        "source": (0.07, 0.82, "source image S", False),
        "driving": (0.07, 0.15, "driving frame D", False),
        "kp": (0.28, 0.45, "keypoint detector\np_k, J_k of S and of D\n(ch. 01)", True),
        "motion": (0.51, 0.45, "local affine motions\nT_k, k = 1…K,\nplus the identity (ch. 02)", True),
        "dense": (0.75, 0.45, "dense motion network\nmasks over K+1 motions,\nocclusion map O (ch. 03)", True),
        "generator": (0.6, 0.82, "generator: warp S's features,\n× O, paint in (ch. 04)", True),
        "output": (0.91, 0.82, "output D̂ ≈ D\n(losses: ch. 05)", False),
    }
    artists = {
        key: ax.text(x, y, text, fontsize=9, ha="center", va="center",
                     bbox=dict(boxstyle="round,pad=0.5", facecolor="#88CCEE" if learned else "#EEEEEE",
                               edgecolor="black"))
        for key, (x, y, text, learned) in boxes.items()
    }
    for start_key, end_key in [("source", "kp"), ("driving", "kp"), ("kp", "motion"), ("motion", "dense"),
                               ("dense", "generator"), ("source", "generator"), ("generator", "output")]:
        start_artist, end_artist = artists[start_key], artists[end_key]
        ax.annotate("", xy=(0.5, 0.5), xycoords=end_artist, xytext=(0.5, 0.5), textcoords=start_artist,
                    arrowprops=dict(arrowstyle="-|>", color="#332288", linewidth=1.4,
                                    patchA=start_artist.get_bbox_patch(), patchB=end_artist.get_bbox_patch()))
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.axis("off")
    ax.set_title("How FOMM turns (S, D) into an animated frame (blue: networks and formulas the course builds)",
                 fontsize=11)


fig, ax = plt.subplots(figsize=(11, 4.5))
draw_pipeline(ax)
plt.show()

# %% [markdown]
# ## 0.2 What the finished model does
#
# The package ships a small FOMM that chapter 06 trains on a CPU, on synthetic "windmills" (a hub
# with turning blades). Nobody told it where the hub or the blades are. Below, it sees one held-out
# video: the top row shows the driving frames with the keypoints it found; the bottom row shows
# frame 0 re-posed by the generator to match each driving frame, using only the keypoints and
# Jacobians of the two frames.

# %%
from IPython.display import display

from fomm_teach.demo import reconstruction_figure
from fomm_teach.shipped import load_shipped_model, shipped_model_path

if shipped_model_path().is_file():
    shipped_models, shipped_config = load_shipped_model()
    # 6 frames at most: a wider figure would be shrunk below legible in a notebook column
    display(reconstruction_figure(shipped_models, shipped_config, num_frames=course.pick(quick=4, full=6)))
else:
    print(f"The shipped model is not installed ({shipped_model_path()}); chapter 06 shows how to train one.")

# %% [markdown]
# ## 0.3 The course map
#
# Each notebook teaches one part and *is* the source of that part of the library: cells marked
# `export` are copied into `fomm_teach/<module>.py`, so the code you read is the code that runs.
#
# | notebook | what you build | library module |
# |---|---|---|
# | `00_start_here` | this overview, a worked exercise, setup check | — |
# | `01_keypoints` | coordinate grid, heatmaps, soft-argmax, temperature, hourglass, Jacobian head, `KPDetector` | `keypoints`, `blocks` |
# | `02_local_affine_motion` | Taylor expansion of the motion, zero vs first order, `T_k` | `motion` |
# | `03_dense_motion` | heatmap representation, deformed sources, masks over K+1 parts, occlusion map | `dense_motion` |
# | `04_generator` | warping feature maps, the occlusion-aware generator | `generator` |
# | `05_losses` | image pyramid, perceptual loss, discriminator, equivariance | `losses` |
# | `06_training` | the full model, a CPU training run where keypoints emerge | `train` |
# | `07_animation` | relative motion transfer, reconstruction metrics, video in and out | `animate` |
# | `08_gpu_training` | full-size configs and real datasets on a GPU | uses the library |
# | `09_ablation` | the paper's ablation study, repeated on synthetic data | uses the library |
#
# Notebooks that are not written yet are simply missing from `notebooks/`; the map shows where
# they will go.

# %% [markdown]
# ## 0.4 Notation
#
# Every chapter uses these symbols and shapes; later chapters point back here. $B$ is the batch
# size, $C$ the number of channels (3), $H \times W$ the image size, and $h \times w$ the smaller
# size at which the dense motion network works.
#
# | symbol | meaning | in the code |
# |---|---|---|
# | $S$, $D$ | the source image and the driving frame | `source_image`, `driving`: (B, C, H, W), values in [0, 1] |
# | $z = (x, y)$ | a position in normalised coordinates $[-1, 1]^2$: $x$ along the width (to the right), $y$ along the height (**down**) | `make_coordinate_grid`: (H, W, 2), last axis (x, y) |
# | $K$ | the number of keypoints (10 in the paper) | `num_kp` |
# | $p_k$, $p^S_k$, $p^D_k$ | keypoint $k$ (of $S$, of $D$) | `kp["value"]`: (B, K, 2) |
# | $J_k$, $J^S_k$, $J^D_k$ | its Jacobian: a 2×2 matrix saying how the keypoint's neighbourhood is turned and stretched; its columns are the neighbourhood's own axes (the paper's Eq. 5 calls the product $J^S_k (J^D_k)^{-1}$ itself $J_k$; the course writes that product out) | `kp["jacobian"]`: (B, K, 2, 2), row-major |
# | $R(\theta)$ | rotation by $\theta$, $\begin{pmatrix}\cos\theta & -\sin\theta\\ \sin\theta & \cos\theta\end{pmatrix}$; as $y$ points down, a positive $\theta$ turns **clockwise** on screen | `jacobian_from_pose` (chapter 02) |
# | $\mathcal{H}_k$ | the detector's probability map of keypoint $k$: a softmax over all positions, sums to 1 (chapter 01) | `heatmap`: (B, K, 58, 58) for vox-256 |
# | $G_k$ | an unnormalised Gaussian at $p_k$, peak 1 (chapter 02) | `kp2gaussian`: (B, K, H, W) |
# | $H_k$ | the *heatmap representation*, paper Eq. 6: $G$ at $p^D_k$ minus $G$ at $p^S_k$ (chapter 03); not $\mathcal{H}_k$ | `heatmap_representation`: (B, K+1, 1, h, w) |
# | $\mathcal{T}_{S\leftarrow D}$ | the backward motion: for a pixel $z$ of $D$, the position in $S$ to read | a sampling grid (B, H, W, 2) for `grid_sample` |
# | $\mathcal{T}_k$ | keypoint $k$'s local affine motion $p^S_k + J^S_k (J^D_k)^{-1}(z - p^D_k)$, paper Eq. 4–5 (chapter 02); chapter 03 adds $\mathcal{T}_0(z) = z$ for the background | `sparse_motion`: (B, K, H, W, 2) |
# | $M_k$ | soft masks over $K{+}1$ parts, part 0 the background (chapter 03) | `mask`: (B, K+1, h, w) |
# | $\hat{\mathcal{T}}_{S\leftarrow D}$ | the dense motion $\sum_{k=0}^{K} M_k \mathcal{T}_k$, paper Eq. 7 (chapter 03) | `deformation`: (B, h, w, 2) |
# | $\hat{\mathcal{O}}_{S\leftarrow D}$ | the occlusion map, 1 where $S$ shows the pixel, paper Eq. 8 (chapters 03 and 04) | `occlusion_map`: (B, 1, h, w) |

# %% [markdown]
# ## 0.5 How exercises work
#
# Every exercise is three cells:
# 1. a **stub**: a function with its docstring whose body raises `NotImplementedError`. You
#    replace the body with your code.
# 2. a **solution**: in the student notebooks it is folded away in a "Solution" box; open it only
#    after you have tried.
# 3. a **check**: `fn = checks.check_fn(fn)` runs your function and the library's on the same
#    seeded and edge-case inputs, and prints
#    - ✅ and the largest difference when they agree,
#    - ❌ with the first input that disagrees: by how much, a few expected and computed values,
#      and a hint when yours looks like a common mistake (x and y swapped, a matrix product in
#      the wrong order, ...). If your code raised an error, ❌ shows the line of yours that raised
#      it; a function that runs for more than 10 s (an endless loop) is stopped, and one that
#      changes its input tensors in place is reported;
#    - ⏭ "not attempted" while the stub still raises `NotImplementedError`.
#
#    If your version fails, the check hands back the library's function, so the rest of the
#    notebook still works and you can come back later. The check still remembers *your*
#    function: after changing it, run its cell, then the check again. The check judges your
#    latest version every time, never the library's stand-in.
#
# Here is a tiny one. Every FOMM module speaks in normalised coordinates: column $j$ of a map
# that is $W$ pixels wide has $x_j = \frac{2j}{W-1} - 1$, so the first column is at $-1$ and the
# last at $+1$.

# %% tags=["exercise"]
def column_to_x(column, width):
    """Normalised x coordinate of pixel column `column` in a map `width` pixels wide.

    column: integer tensor of any shape, values in [0, width - 1].  width: int >= 2.
    Returns a float tensor of the same shape: x = 2 * column / (width - 1) - 1.
    """
    raise NotImplementedError("Exercise 0.1: scale the column index to [-1, 1]")


# %% tags=["solution"]
def column_to_x(column, width):
    """Normalised x coordinate of pixel column `column` in a map `width` pixels wide.

    column: integer tensor of any shape, values in [0, width - 1].  width: int >= 2.
    Returns a float tensor of the same shape: x = 2 * column / (width - 1) - 1.
    """
    return 2 * column.float() / (width - 1) - 1


# %%
column_to_x = checks.check_column_to_x(column_to_x)

# %% [markdown]
# This is what a mistake looks like. Dividing by the width instead of `width - 1` is a classic:
# it puts the last column at $1 - 2/W$ instead of $+1$ (the `align_corners=False` convention,
# which chapter 02 discusses). The checker names the input that failed and the size of the error.
# (When `FOMM_TEACH_STRICT=1` is set, as in the course's own tests of the instructor notebooks, a
# failed check raises an error instead; this cell is tagged so that the tests expect that.)

# %% tags=["raises-exception"]
def column_to_x_off_by_one(column, width):
    return 2 * column.float() / width - 1


_ = checks.check_column_to_x(column_to_x_off_by_one)

# %% [markdown]
# ## 0.6 Running the course
#
# **On a laptop** (Linux or macOS, Python ≥ 3.10, about 6.5 GB of disk for the `.venv` with
# PyTorch; the first `make` takes a few minutes on a fast connection, longer on a slow one):
# ```
# git clone https://github.com/fomm-teach/fomm_teach.git && cd fomm_teach
# make lab      # creates .venv, installs, opens notebooks/student/00_start_here.ipynb
# make demo     # headless: writes the demo figures and an animation (demo.mp4, demo.gif) into out/
# make test     # what CI runs: unit tests and every notebook in quick mode
# ```
# Everything runs on a CPU. The notebooks choose sizes a CPU handles; on a GPU they use larger
# ones.
#
# **On Binder**: the Binder badge in the README starts a CPU-only JupyterLab with the package
# installed, on this notebook in `notebooks/student/`. Binder sessions are temporary: download
# what you change.
#
# **On Colab**: the "Open in Colab" badge at the top of each notebook opens it; the hidden setup
# cell under the badge installs this package (Colab already has PyTorch, which is never
# reinstalled). Choose *Runtime → Change runtime type → GPU* for the later chapters.
#
# **Cells that need a GPU** start with `%%gpu`: on a CPU they print that they were skipped, so
# "Run all" always reaches the end.

# %% [markdown]
# ## 0.7 Setup check
#
# The cell below builds a tiny keypoint detector (the network of chapter 01) and runs it on a
# random image on `course.device`. If it prints ✅, your installation has everything the course
# needs.

# %%
import sys

from fomm_teach.keypoints import KPDetector

assert sys.version_info >= (3, 10), f"the course needs Python >= 3.10, this is {sys.version.split()[0]}"
tiny_detector = KPDetector(block_expansion=8, num_kp=5, num_channels=3, max_features=32, num_blocks=3,
                           temperature=0.1, estimate_jacobian=True).to(course.device)
kp = tiny_detector(torch.rand(2, 3, 32, 32, device=course.device))
assert kp["value"].shape == (2, 5, 2) and kp["jacobian"].shape == (2, 5, 2, 2)
print(f"✅ setup works: a KPDetector ran on {course.device}; keypoints {tuple(kp['value'].shape)}, "
      f"Jacobians {tuple(kp['jacobian'].shape)}")

# %% [markdown]
# ## Summary
#
# - FOMM moves a source image with $K$ learned keypoints, each carrying a 2×2 Jacobian: near a
#   keypoint the motion is $\mathcal{T}_k(z) \approx p^S_k + J^S_k (J^D_k)^{-1} (z - p^D_k)$.
# - One affine motion per keypoint is not enough for a whole picture: masks choose among the
#   $K+1$ motions, an occlusion map marks what must be painted in, and a generator does the
#   painting.
# - The symbols and tensor shapes of every chapter are in the notation table of §0.4.
# - Each exercise is stub → solution → check; a check prints ✅/❌/⏭ and always leaves you with a
#   working function.
#
# Next: `01_keypoints`, where the keypoint detector is built from a coordinate grid upwards.
