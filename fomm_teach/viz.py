"""Figures for the course: images, heatmaps, numbered keypoints, motion arrows, synthetic test images.

Hand-written (no notebook teaches it). Conventions:

- images are float tensors (C, H, W) in [0, 1]; heatmaps are (H, W);
- keypoints are (K, 2) in [-1, 1], (x, y) order, drawn at pixel j = (x + 1)(W - 1)/2, which is where
  ``make_coordinate_grid`` (align-corners convention) puts them; matplotlib's ``imshow`` puts
  pixel centres at integer positions, so the two agree;
- keypoint k always has the same colour, from Paul Tol's colour-blind-safe "muted" scheme, and
  carries its number, so colour is never the only cue.
"""

from __future__ import annotations

import torch

from fomm_teach.keypoints import make_coordinate_grid

# Paul Tol's "muted" qualitative scheme (colour-blind safe) plus its pale grey; keypoint k uses
# KEYPOINT_COLORS[k % 10].
KEYPOINT_COLORS = (
    "#CC6677", "#332288", "#DDCC77", "#117733", "#88CCEE",
    "#882255", "#44AA99", "#999933", "#AA4499", "#DDDDDD",
)


def keypoint_color(k: int) -> str:
    """The colour of keypoint number k (cycles after 10)."""
    return KEYPOINT_COLORS[k % len(KEYPOINT_COLORS)]


def to_pixels(kp_value: torch.Tensor, image_size) -> torch.Tensor:
    """(K, 2) normalised (x, y) in [-1, 1] → (K, 2) pixel (column, row) for an image of image_size.

    image_size: an int (square) or (H, W).
    """
    h, w = (image_size, image_size) if isinstance(image_size, int) else image_size
    scale = torch.tensor([w - 1, h - 1], dtype=torch.float32) / 2
    return (kp_value.detach().cpu().float() + 1) * scale  # (K, 2)


def to_numpy_image(image: torch.Tensor):
    """(C, H, W) tensor in [0, 1] → (H, W, C) NumPy array clipped to [0, 1] (C = 1 gives (H, W))."""
    array = image.detach().cpu().float().clamp(0, 1)
    if array.shape[0] == 1:
        return array[0].numpy()                  # (H, W)
    return array.permute(1, 2, 0).numpy()        # (H, W, C)


def show_image(ax, image: torch.Tensor, title: str = "", alpha: float = 1.0) -> None:
    """Draw a (C, H, W) image on ``ax`` with a title and pixel axes."""
    ax.imshow(to_numpy_image(image), alpha=alpha, cmap="gray", vmin=0, vmax=1)
    ax.set_title(title, fontsize=9)
    ax.set_xlabel("x (pixels)", fontsize=8)
    ax.set_ylabel("y (pixels)", fontsize=8)
    ax.tick_params(labelsize=7)


def show_heatmap(ax, heatmap: torch.Tensor, title: str = "", label: str = "probability", colorbar: bool = True):
    """Draw an (H, W) map with the perceptually uniform, colour-blind-safe 'cividis' map and a colour bar."""
    artist = ax.imshow(heatmap.detach().cpu().float().numpy(), cmap="cividis")
    ax.set_title(title, fontsize=9)
    ax.set_xlabel("x (cells)", fontsize=8)
    ax.set_ylabel("y (cells)", fontsize=8)
    ax.tick_params(labelsize=7)
    if colorbar:
        bar = ax.figure.colorbar(artist, ax=ax, fraction=0.046, pad=0.04)
        bar.set_label(label, fontsize=8)
        bar.ax.tick_params(labelsize=7)
    return artist


def draw_keypoints(ax, kp_value: torch.Tensor, image_size, numbers: bool = True, size: float = 60,
                   marker: str = "o") -> None:
    """Draw (K, 2) keypoints in [-1, 1] on an axis showing an image of image_size (int or (H, W)).

    Keypoint k is a ``marker`` (default a disc) in ``keypoint_color(k)`` with a black edge,
    labelled with its number k.
    """
    for k, (col, row) in enumerate(to_pixels(kp_value, image_size).tolist()):
        ax.scatter([col], [row], s=size, color=keypoint_color(k), edgecolors="black", linewidths=1.0, zorder=3,
                   marker=marker)
        if numbers:
            ax.annotate(str(k), (col, row), xytext=(4, 4), textcoords="offset points", fontsize=8,
                        color="black", zorder=4,
                        bbox=dict(boxstyle="round,pad=0.1", facecolor="white", alpha=0.7, linewidth=0))


def draw_jacobians(ax, kp_value: torch.Tensor, jacobian: torch.Tensor, image_size, length: float = 0.08) -> None:
    """Each keypoint's Jacobian (K, 2, 2) as its local frame: two lines from kp_value (K, 2) along J's columns.

    Column c of J_k is where keypoint k's local frame sends the unit vector e_c; ``length`` scales both,
    in [-1, 1] units, so an identity Jacobian draws a small upright cross of arms ``length`` long.
    """
    from matplotlib import patheffects

    outline = [patheffects.Stroke(linewidth=3.5, foreground="white"), patheffects.Normal()]   # visible on dark images
    pixels_per_unit = (image_size - 1) / 2
    centres = to_pixels(kp_value, image_size)                       # (K, 2) pixels
    for k, (x, y) in enumerate(centres.tolist()):
        for column, style in ((0, "-"), (1, ":")):
            dx, dy = (jacobian[k, :, column].detach().cpu().float() * length * pixels_per_unit).tolist()
            ax.plot([x, x + dx], [y, y + dy], style, color=keypoint_color(k), linewidth=2, zorder=2,
                    path_effects=outline)


def draw_flow_arrows(ax, motion: torch.Tensor, step: int = 4, color: str = "#332288") -> None:
    """Arrows from every ``step``-th pixel z to the position T(z) it reads, for a backward map (H, W, 2).

    motion: (H, W, 2), (x, y) in [-1, 1] (a sparse motion or a deformation).  Arrows are in pixels.
    """
    h, w = motion.shape[:2]
    grid_rows, grid_cols = torch.meshgrid(torch.arange(0, h, step), torch.arange(0, w, step), indexing="ij")
    target = to_pixels(motion[::step, ::step].reshape(-1, 2), (h, w))  # (N, 2)
    cols, rows = grid_cols.reshape(-1).float(), grid_rows.reshape(-1).float()
    ax.quiver(cols.numpy(), rows.numpy(), (target[:, 0] - cols).numpy(), (target[:, 1] - rows).numpy(),
              angles="xy", scale_units="xy", scale=1, color=color, width=0.004, headwidth=4)
    ax.set_xlim(-0.5, w - 0.5)
    ax.set_ylim(h - 0.5, -0.5)


def draw_grid_lines(ax, motion: torch.Tensor, image_size, lines: int = 9, first_row: str = "#EE3377",
                    first_column: str = "#009988", color: str = "#333333") -> None:
    """Draw where a regular grid of the output frame lands under a backward map (H, W, 2) in [-1, 1].

    ``lines`` rows and columns of pixels z of the output are drawn as the curves T(z) (in pixels of
    the image the map reads); the top row is thick in ``first_row`` colour and the left column in
    ``first_column``, so turns and flips stay visible. Unlike arrows z → T(z), the lines never
    cross for an affine map, whatever its rotation. Pass the identity grid to draw the plain grid.
    """
    h, w = motion.shape[:2]
    rows = torch.linspace(0, h - 1, lines).round().long()
    cols = torch.linspace(0, w - 1, lines).round().long()
    for i, row in enumerate(rows.tolist()):
        points = to_pixels(motion[row], image_size)                   # (W, 2)
        ax.plot(points[:, 0], points[:, 1], color=first_row if i == 0 else color,
                linewidth=2.5 if i == 0 else 0.8, alpha=0.9, zorder=2 + (i == 0))
    for j, col in enumerate(cols.tolist()):
        points = to_pixels(motion[:, col], image_size)                # (H, 2)
        ax.plot(points[:, 0], points[:, 1], color=first_column if j == 0 else color,
                linewidth=2.5 if j == 0 else 0.8, alpha=0.9, zorder=2 + (j == 0))
    ax.set_xlim(-0.5, w - 0.5)
    ax.set_ylim(h - 0.5, -0.5)


# --- synthetic test images (plain torch, no data files) --------------------------------------------

def _soft_box(u: torch.Tensor, center, half_size, softness: float) -> torch.Tensor:
    """Anti-aliased indicator (H, W) of the axis-aligned box |u - center| <= half_size, u: (H, W, 2)."""
    inside = torch.tensor(half_size) - (u - torch.tensor(center)).abs()  # (H, W, 2)
    return torch.sigmoid(inside.min(dim=-1).values / softness)           # (H, W)


def _soft_ellipse(z: torch.Tensor, center, radii, softness: float) -> torch.Tensor:
    """Anti-aliased indicator (H, W) of an axis-aligned ellipse, z: (H, W, 2)."""
    r = ((z - torch.tensor(center)) / torch.tensor(radii)).pow(2).sum(-1).sqrt()  # (H, W)
    return torch.sigmoid((1 - r) * min(radii) / softness)


def _paint(canvas: torch.Tensor, mask: torch.Tensor, rgb) -> torch.Tensor:
    """Blend colour ``rgb`` into canvas (3, H, W) where mask (H, W) is 1."""
    return canvas * (1 - mask) + torch.tensor(rgb, dtype=canvas.dtype)[:, None, None] * mask


def synthetic_part(size: int, center=(0.0, 0.0), jacobian=None, background: float = 0.92) -> torch.Tensor:
    """A rigid two-colour L-shaped "part" (3, size, size): a blue bar and an orange foot.

    The part is drawn in its own frame u and placed with the pose map z = center + jacobian · u,
    so two calls with different (center, jacobian) are related exactly by that affine map: the
    ground truth for testing first-order motion. jacobian: (2, 2) or None (identity).
    """
    z = make_coordinate_grid((size, size))                              # (H, W, 2)
    center = torch.as_tensor(center, dtype=torch.float32)
    jacobian = torch.eye(2) if jacobian is None else torch.as_tensor(jacobian, dtype=torch.float32)
    u = (z - center) @ torch.inverse(jacobian).T                        # (H, W, 2): u = J^-1 (z - c)
    softness = 1.0 / size                                               # about half a pixel
    canvas = torch.full((3, size, size), background)
    canvas = _paint(canvas, _soft_box(u, (-0.12, -0.02), (0.07, 0.28), softness), (0.0, 0.447, 0.698))  # bar
    canvas = _paint(canvas, _soft_box(u, (0.05, 0.2), (0.2, 0.07), softness), (0.902, 0.624, 0.0))      # foot
    canvas = _paint(canvas, _soft_box(u, (-0.12, -0.22), (0.035, 0.035), softness), (1.0, 1.0, 1.0))    # notch
    return canvas.clamp(0, 1)


def synthetic_frame(size: int) -> torch.Tensor:
    """A cartoon face (3, size, size) on a vertical gradient, for trying detectors on a plausible input."""
    z = make_coordinate_grid((size, size))                              # (H, W, 2)
    softness = 2.0 / size
    top, bottom = torch.tensor([0.55, 0.75, 0.9]), torch.tensor([0.2, 0.35, 0.5])
    t = (z[..., 1] + 1) / 2                                             # (H, W), 0 at the top
    canvas = top[:, None, None] * (1 - t) + bottom[:, None, None] * t   # (3, H, W)
    canvas = _paint(canvas, _soft_ellipse(z, (0.0, 0.05), (0.55, 0.7), softness), (0.94, 0.78, 0.62))   # head
    canvas = _paint(canvas, _soft_ellipse(z, (0.0, -0.6), (0.6, 0.25), softness), (0.35, 0.22, 0.12))   # hair
    for eye_x in (-0.22, 0.22):
        canvas = _paint(canvas, _soft_ellipse(z, (eye_x, -0.05), (0.11, 0.07), softness), (1.0, 1.0, 1.0))
        canvas = _paint(canvas, _soft_ellipse(z, (eye_x, -0.05), (0.045, 0.045), softness), (0.1, 0.3, 0.5))
    canvas = _paint(canvas, _soft_ellipse(z, (0.0, 0.12), (0.06, 0.12), softness), (0.85, 0.6, 0.5))    # nose
    canvas = _paint(canvas, _soft_ellipse(z, (0.0, 0.4), (0.22, 0.06), softness), (0.7, 0.2, 0.25))     # mouth
    return canvas.clamp(0, 1)


# --- chapter 03/04 ---------------------------------------------------------------------------------
# Dense motion figures: a toy scene of rigid textured parts, flows as colours, soft masks.

PART0_COLOR = "#BBBBBB"  # the background part (part 0 of the dense motion network); part k ≥ 1 is keypoint k − 1


def render_toy_parts(kp_value: torch.Tensor, jacobian: torch.Tensor, spatial_size):
    """K rigid textured squares on a patterned background, drawn in keypoint order (later on top).

    Square k is the set of points z = kp_value[k] + jacobian[k] · u with u in [-1, 1]², so two
    renderings with different poses are related exactly by the first-order motion of chapter 02.
    It is shaded along u_x and has a white notch at u ≈ (0.6, -0.6), so turns are visible.
    kp_value: (B, K, 2), jacobian: (B, K, 2, 2), spatial_size: (H, W).
    Returns (image (B, 3, H, W) in [0, 1], parts (B, K, H, W)): parts[b, k] is how much of square k
    is visible at each pixel (0..1, anti-aliased); 1 − parts.sum(1) is the visible background.
    """
    from matplotlib.colors import to_rgb

    h, w = spatial_size
    z = make_coordinate_grid((h, w))                                           # (H, W, 2)
    softness = 0.5 / max(h, w)                                                 # about a quarter pixel
    pattern = 0.05 * torch.sin(3 * torch.pi * z[..., 0]) * torch.sin(3 * torch.pi * z[..., 1])  # (H, W)
    t = (z[..., 1] + 1) / 2                                                    # (H, W), 0 at the top
    background = torch.stack([0.80 - 0.15 * t, 0.85 - 0.10 * t, 0.90 - 0.05 * t]) + pattern  # (3, H, W)
    images, all_parts = [], []
    for value_b, jacobian_b in zip(kp_value.detach().cpu().float(), jacobian.detach().cpu().float()):
        canvas, parts = background.clone(), []
        for k, (center, pose) in enumerate(zip(value_b, jacobian_b)):
            u = (z - center) @ torch.inverse(pose).T                           # (H, W, 2): u = J^-1 (z - c)
            # The edge softness is measured in u units; scale it by the part's size in pixels.
            part_softness = softness / float(torch.linalg.matrix_norm(pose, ord=2))
            coverage = _soft_box(u, (0.0, 0.0), (1.0, 1.0), part_softness)    # (H, W)
            shade = 0.65 + 0.35 * (u[..., 0] + 1) / 2                         # (H, W), darker on the left
            colour = torch.tensor(to_rgb(keypoint_color(k)))[:, None, None] * shade  # (3, H, W)
            notch = _soft_box(u, (0.6, -0.6), (0.22, 0.22), part_softness)     # (H, W)
            colour = colour * (1 - notch) + notch                              # white notch
            canvas = canvas * (1 - coverage) + colour * coverage
            parts = [part * (1 - coverage) for part in parts] + [coverage]     # later parts hide earlier ones
        images.append(canvas.clamp(0, 1))
        all_parts.append(torch.stack(parts))
    return torch.stack(images), torch.stack(all_parts)                        # (B, 3, H, W), (B, K, H, W)


def flow_to_color(flow: torch.Tensor, max_norm: float = None):
    """Colour-code a displacement field (H, W, 2) in (x, y) order: hue = direction, saturation = length.

    White is no motion; full colour is a displacement of ``max_norm`` (default: the largest one).
    Returns an (H, W, 3) NumPy array in [0, 1].
    """
    from matplotlib.colors import hsv_to_rgb

    flow = flow.detach().cpu().float()
    norm = flow.norm(dim=-1)                                                   # (H, W)
    max_norm = float(norm.max()) if max_norm is None else max_norm
    angle = torch.atan2(flow[..., 1], flow[..., 0])                            # (H, W), in (-π, π]
    hsv = torch.stack([(angle / (2 * torch.pi)) % 1.0,
                       (norm / max(max_norm, 1e-12)).clamp(0, 1),
                       torch.ones_like(norm)], dim=-1)                         # (H, W, 3)
    return hsv_to_rgb(hsv.numpy())


def color_wheel(size: int = 64, max_norm: float = 1.0):
    """The legend of :func:`flow_to_color`: (size, size, 3); the disc's rim is a displacement of max_norm."""
    z = make_coordinate_grid((size, size)) * max_norm                          # (H, W, 2)
    wheel = flow_to_color(z, max_norm)
    wheel[(z.norm(dim=-1) > max_norm).numpy()] = 1.0
    return wheel


def show_flow(ax, flow: torch.Tensor, title: str = "", max_norm: float = None, wheel: bool = True) -> None:
    """Draw a displacement field (H, W, 2) with :func:`flow_to_color` and a colour-wheel legend in the corner.

    A backward flow T(z) − z points from a driving pixel to where it reads the source: the wheel's
    right is +x (reads from the right), its bottom is +y (reads from below).
    """
    h, w = flow.shape[:2]
    max_norm = float(flow.detach().norm(dim=-1).max()) if max_norm is None else max_norm
    ax.imshow(flow_to_color(flow, max_norm))
    ax.set_title(title, fontsize=9)
    ax.set_xlabel("x (pixels)", fontsize=8)
    ax.set_ylabel("y (pixels)", fontsize=8)
    ax.tick_params(labelsize=7)
    if wheel:
        inset = ax.inset_axes([0.72, 0.02, 0.26, 0.26])
        inset.imshow(color_wheel(48, max_norm))
        inset.set_xticks([])
        inset.set_yticks([])
        inset.set_title(f"|d| ≤ {max_norm:.2g}", fontsize=7, pad=1)


def part_color(part: int) -> str:
    """The colour of dense-motion part ``part``: grey for the background (0), keypoint_color(part − 1) otherwise."""
    return PART0_COLOR if part == 0 else keypoint_color(part - 1)


def show_masks(ax, mask: torch.Tensor, title: str = "", legend: bool = True) -> None:
    """Draw K+1 soft masks (K+1, H, W) as one image: each pixel mixes the parts' colours by their weights.

    A one-hot mask shows clean part colours; a uniform (untrained) mask shows one muddy colour.
    """
    from matplotlib.colors import to_rgb
    from matplotlib.patches import Patch

    mask = mask.detach().cpu().float()
    colors = torch.tensor([to_rgb(part_color(part)) for part in range(mask.shape[0])])  # (K+1, 3)
    image = torch.einsum("khw,kc->hwc", mask, colors).clamp(0, 1)                     # (H, W, 3)
    ax.imshow(image.numpy())
    ax.set_title(title, fontsize=9)
    ax.set_xlabel("x (pixels)", fontsize=8)
    ax.set_ylabel("y (pixels)", fontsize=8)
    ax.tick_params(labelsize=7)
    if legend:
        handles = [Patch(color=part_color(part), label="0 (background)" if part == 0 else f"{part} (kp {part - 1})")
                   for part in range(mask.shape[0])]
        ax.legend(handles=handles, fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), title="part",
                  title_fontsize=8)


def toy_dense_motion(kp_source: dict, kp_driving: dict, spatial_size) -> dict:
    """Everything chapter 03 computes for the toy scene, with the *ideal* (ground-truth) masks.

    kp_source, kp_driving: {'value': (1, K, 2), 'jacobian': (1, K, 2, 2)} poses of the squares.
    Returns a dict of tensors: 'source', 'driving' (1, 3, H, W); 'heatmap' (1, K+1, 1, H, W);
    'sparse_deformed' (1, K+1, 3, H, W); 'mask' (1, K+1, H, W); 'deformation' (1, H, W, 2);
    'warped' (1, 3, H, W); 'occlusion_map' (1, 1, H, W), 1 where the source shows the pixel.
    """
    from fomm_teach.dense_motion import (dense_deformation, deform_source, heatmap_representation,
                                         ideal_occlusion_map, sparse_motions_with_background)

    source, source_parts = render_toy_parts(kp_source["value"], kp_source["jacobian"], spatial_size)
    driving, driving_parts = render_toy_parts(kp_driving["value"], kp_driving["jacobian"], spatial_size)
    sparse_motions = sparse_motions_with_background(kp_driving, kp_source, spatial_size)  # (1, K+1, H, W, 2)
    mask = torch.cat([1 - driving_parts.sum(1, keepdim=True), driving_parts], dim=1)      # (1, K+1, H, W)
    source_labels = torch.cat([1 - source_parts.sum(1, keepdim=True), source_parts], dim=1)  # (1, K+1, H, W)
    deformation = dense_deformation(mask, sparse_motions)                                 # (1, H, W, 2)
    return {
        "source": source,
        "driving": driving,
        "heatmap": heatmap_representation(kp_driving, kp_source, spatial_size),
        "sparse_deformed": deform_source(source, sparse_motions),
        "mask": mask,
        "deformation": deformation,
        "warped": deform_source(source, deformation[:, None])[:, 0],
        "occlusion_map": ideal_occlusion_map(source_labels, mask, deformation),
    }


def show_occlusion(ax, occlusion: torch.Tensor, title: str = "occlusion map (1 = visible in S)",
                   colorbar: bool = True):
    """Draw an occlusion map (H, W) in [0, 1] in grey (white = visible) inside a dark frame.

    The frame matters: a map that is mostly 1 is mostly white and would otherwise melt into the page.
    """
    artist = ax.imshow(occlusion.detach().cpu().float().numpy(), cmap="gray", vmin=0, vmax=1)
    ax.set_title(title, fontsize=9)
    ax.set_xlabel("x (pixels)", fontsize=8)
    ax.set_ylabel("y (pixels)", fontsize=8)
    ax.tick_params(labelsize=7)
    for spine in ax.spines.values():
        spine.set_visible(True)
        spine.set_color("#333333")
        spine.set_linewidth(1.5)
    if colorbar:
        bar = ax.figure.colorbar(artist, ax=ax, fraction=0.046, pad=0.04)
        bar.set_label("visible", fontsize=8)
        bar.ax.tick_params(labelsize=7)
    return artist


def plot_dense_motion_part(kp_source: dict, kp_driving: dict, spatial_size, part: int = 1):
    """One figure of the dense motion of the toy scene, focused on ``part`` (1..K).

    Panels, three rows of three so the figure stays legible in a notebook column: source and
    driving with keypoints, H_part; S^part, the ideal masks, the dense flow; the source warped by
    the dense flow, the ideal occlusion map and the warped source times it. Returns the figure.
    """
    import matplotlib.pyplot as plt

    result = toy_dense_motion(kp_source, kp_driving, spatial_size)
    identity = make_coordinate_grid(spatial_size)                               # (H, W, 2)
    fig, axes = plt.subplots(3, 3, figsize=(9.2, 9.6), layout="constrained")
    axes = axes.ravel()
    show_image(axes[0], result["source"][0], "source S")
    draw_keypoints(axes[0], kp_source["value"][0], spatial_size)
    show_image(axes[1], result["driving"][0], "driving D")
    draw_keypoints(axes[1], kp_driving["value"][0], spatial_size)
    heat = axes[2].imshow(result["heatmap"][0, part, 0].numpy(), cmap="RdBu_r", vmin=-1, vmax=1)
    axes[2].set_title(f"H_{part}: red = now, blue = before", fontsize=9)
    axes[2].tick_params(labelsize=7)
    bar = fig.colorbar(heat, ax=axes[2], fraction=0.046, pad=0.04)
    bar.ax.tick_params(labelsize=7)
    show_image(axes[3], result["sparse_deformed"][0, part], f"S^{part}: source warped by T_{part}")
    show_masks(axes[4], result["mask"][0], "ideal masks M_k", legend=False)
    show_flow(axes[5], result["deformation"][0] - identity, "dense flow T̂(z) − z", max_norm=0.5)
    show_image(axes[6], result["warped"][0], "S warped by T̂ (ghosts = occluded)")
    show_occlusion(axes[7], result["occlusion_map"][0, 0], "ideal occlusion map (1 = visible)")
    show_image(axes[8], result["warped"][0] * result["occlusion_map"][0], "warped × occlusion")
    num_parts = result["mask"].shape[1]
    fig.suptitle(f"Dense motion of the toy scene with ideal masks, part {part} (keypoint {part - 1})\n"
                 "mask colours: grey = background (part 0), part p = keypoint p − 1's colour "
                 f"({num_parts} parts)", fontsize=10)
    return fig


@torch.no_grad()
def learned_motion(kp_detector, generator, frames: torch.Tensor) -> dict:
    """What a trained model computes when it re-poses frame 0 of ``frames`` (T, 3, S, S) to every frame.

    Returns the generator's output for source = frame 0 driven by each frame's keypoints ('mask'
    (T, K+1, h, w), 'occlusion_map' (T, 1, h, w), 'prediction' (T, 3, S, S), ...) plus 'kp_driving'
    ({'value' (T, K, 2), 'jacobian' (T, K, 2, 2)}). Both models run in eval mode and are put back in
    the mode they were in.
    """
    modes = kp_detector.training, generator.training
    kp_detector.eval()
    generator.eval()
    try:
        kp_driving = kp_detector(frames)                                                  # value (T, K, 2)
        kp_source = {key: value[:1].expand_as(value) for key, value in kp_driving.items()}  # frame 0's, T times
        generated = generator(frames[:1].expand_as(frames), kp_source=kp_source, kp_driving=kp_driving)
    finally:
        kp_detector.train(modes[0])
        generator.train(modes[1])
    return {**generated, "kp_driving": kp_driving}


def plot_learned_motion(frames: torch.Tensor, motion: dict, title: str, times=None, jacobian_length: float = 0.15):
    """One column per frame of a held-out video, four rows: what the model sees and what it computes.

    Rows: the frame with its keypoints and each Jacobian's local frame (solid: J's first column,
    dotted: its second); the K+1 soft masks (grey = background, part k+1 = keypoint k's colour);
    the occlusion map (white = visible in frame 0, framed); frame 0 re-posed to this frame.
    frames (T, 3, S, S); motion: :func:`learned_motion` of those frames; times: frame numbers for
    the titles. Returns the figure.
    """
    import matplotlib.pyplot as plt

    num_frames, size = frames.shape[0], frames.shape[-1]
    times = list(range(num_frames)) if times is None else list(times)
    kp = motion["kp_driving"]
    fig, axes = plt.subplots(4, num_frames, figsize=(1.55 * num_frames + 0.4, 7.4), squeeze=False,
                             layout="constrained")
    for t in range(num_frames):
        show_image(axes[0, t], frames[t], f"frame {times[t]}")
        if "jacobian" in kp:
            draw_jacobians(axes[0, t], kp["value"][t], kp["jacobian"][t], size, length=jacobian_length)
        draw_keypoints(axes[0, t], kp["value"][t], size, numbers=False, size=18)
        show_masks(axes[1, t], motion["mask"][t], "masks", legend=False)
        occlusion = motion.get("occlusion_map")
        if occlusion is not None:
            show_occlusion(axes[2, t], occlusion[t, 0], f"occlusion, min {float(occlusion[t].min()):.2f}",
                           colorbar=False)
        else:
            axes[2, t].set_title("no occlusion map", fontsize=9)
        show_image(axes[3, t], motion["prediction"][t], "frame 0 re-posed")
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_xlabel("")
        ax.set_ylabel("")
    fig.suptitle(title, fontsize=10)
    return fig
