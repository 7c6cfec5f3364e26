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


def draw_keypoints(ax, kp_value: torch.Tensor, image_size, numbers: bool = True, size: float = 60) -> None:
    """Draw (K, 2) keypoints in [-1, 1] on an axis showing an image of image_size (int or (H, W)).

    Keypoint k is a disc in ``keypoint_color(k)`` with a black edge, labelled with its number k.
    """
    for k, (col, row) in enumerate(to_pixels(kp_value, image_size).tolist()):
        ax.scatter([col], [row], s=size, color=keypoint_color(k), edgecolors="black", linewidths=1.0, zorder=3)
        if numbers:
            ax.annotate(str(k), (col, row), xytext=(4, 4), textcoords="offset points", fontsize=8,
                        color="black", zorder=4,
                        bbox=dict(boxstyle="round,pad=0.1", facecolor="white", alpha=0.7, linewidth=0))


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
