"""Interactive explorers (ipywidgets) for the notebooks.

Hand-written (no notebook teaches it). Every explorer is built by a function that returns the
widget, draws its first picture straight away, and redraws on every slider change. Notebooks
call the function as the last expression of a cell, so it displays; under nbval or in a static
viewer only that first picture shows, and nothing waits for input. Functions that a learner
writes in an exercise can be passed in, so the explorer runs the learner's own code.
"""

from __future__ import annotations

import math

import ipywidgets as ipw
import matplotlib.pyplot as plt
import torch

from fomm_teach import viz


def _redraw_on_change(output: ipw.Output, sliders, draw) -> None:
    """Call ``draw()`` into ``output`` now and whenever one of ``sliders`` changes value."""

    def update(_change=None):
        with output:
            output.clear_output(wait=True)
            draw()
            plt.show()

    for slider in sliders:
        slider.observe(update, names="value")
    update()


def temperature_explorer(logits: torch.Tensor, spatial_softmax_fn=None, heatmap_to_keypoints_fn=None) -> ipw.VBox:
    """A log-scale temperature slider over a score map: shows softmax(logits / τ) and its soft-argmax.

    logits: (1, K, H, W) scores.  spatial_softmax_fn(logits, temperature) and
    heatmap_to_keypoints_fn(heatmap) default to the library's (chapter 01).
    """
    from fomm_teach import keypoints

    softmax = spatial_softmax_fn or keypoints.spatial_softmax
    soft_argmax = heatmap_to_keypoints_fn or keypoints.heatmap_to_keypoints
    slider = ipw.FloatLogSlider(value=0.1, base=10, min=-3, max=2, step=0.1, description="temperature τ",
                                style={"description_width": "initial"}, continuous_update=False)
    output = ipw.Output()

    def draw():
        heatmap = softmax(logits, slider.value)  # (1, K, H, W)
        value = soft_argmax(heatmap)[0]          # (K, 2)
        fig, ax = plt.subplots(figsize=(4.6, 4.0), layout="constrained")
        viz.show_heatmap(ax, heatmap[0].sum(0), title=f"softmax(L / {slider.value:.3g}) and its soft-argmax")
        viz.draw_keypoints(ax, value, image_size=tuple(logits.shape[2:]))
        ax.set_xlabel("x (cells); keypoint " + ", ".join(f"({x:.2f}, {y:.2f})" for x, y in value.tolist()), fontsize=8)

    _redraw_on_change(output, [slider], draw)
    return ipw.VBox([slider, output])


def sparse_motion_explorer(source: torch.Tensor, p_source=(0.0, 0.0), sparse_motion_fn=None, warp_fn=None) -> ipw.VBox:
    """Move one driving keypoint and set its Jacobian; watch T(z) and the warped source update.

    source: (3, H, W) image whose part sits at p_source with J_s = I.  The sliders set p_d and
    J_d = R(angle) · scale · [[1, shear], [0, 1]]; the panels show the sparse motion
    T(z) = p_s + J_s J_d^-1 (z - p_d) as arrows and the source warped by it (align_corners=True).
    sparse_motion_fn and warp_fn default to the library's (chapter 02).
    """
    from fomm_teach import motion

    sparse_motion = sparse_motion_fn or motion.sparse_motion
    warp = warp_fn or motion.warp_image
    size = tuple(source.shape[1:])
    p_source = torch.as_tensor(p_source, dtype=torch.float32)
    kp_source = {"value": p_source.view(1, 1, 2), "jacobian": torch.eye(2).view(1, 1, 2, 2)}

    def slider(description, value, low, high, step):
        return ipw.FloatSlider(value=value, min=low, max=high, step=step, description=description,
                               continuous_update=False, style={"description_width": "initial"})

    sliders = {
        "x": slider("driving x", 0.3, -0.9, 0.9, 0.05),
        "y": slider("driving y", 0.0, -0.9, 0.9, 0.05),
        "angle": slider("rotation (°)", 30.0, -180.0, 180.0, 5.0),
        "scale": slider("scale", 1.2, 0.2, 2.0, 0.05),
        "shear": slider("shear", 0.0, -1.0, 1.0, 0.05),
    }
    output = ipw.Output()

    def draw():
        value = {name: s.value for name, s in sliders.items()}
        jacobian = motion.jacobian_from_pose(math.radians(value["angle"]), value["scale"], value["shear"])
        kp_driving = {"value": torch.tensor([[[value["x"], value["y"]]]]), "jacobian": jacobian.view(1, 1, 2, 2)}
        field = sparse_motion(kp_source, kp_driving, size)                           # (1, 1, H, W, 2)
        warped = warp(source[None], field[:, 0], align_corners=True)                 # (1, 3, H, W)
        fig, axes = plt.subplots(1, 2, figsize=(9, 4.6), layout="constrained")
        viz.show_image(axes[0], source, title="arrows z → T(z) over S (● driving keypoint, ★ source keypoint)",
                       alpha=0.4)
        viz.draw_flow_arrows(axes[0], field[0, 0], step=max(1, size[0] // 8))
        viz.draw_keypoints(axes[0], kp_driving["value"][0], image_size=size)
        viz.draw_keypoints(axes[0], kp_source["value"][0], image_size=size, numbers=False, size=160, marker="*")
        viz.show_image(axes[1], warped[0], title="source warped by T: the part follows the keypoint")
        viz.draw_keypoints(axes[1], kp_driving["value"][0], image_size=size)
        matrix = jacobian.tolist()
        fig.suptitle(f"J_d = [[{matrix[0][0]:.2f}, {matrix[0][1]:.2f}], [{matrix[1][0]:.2f}, {matrix[1][1]:.2f}]],"
                     f" det = {torch.linalg.det(jacobian):.2f}", fontsize=10)

    _redraw_on_change(output, list(sliders.values()), draw)
    return ipw.VBox([ipw.HBox([sliders["x"], sliders["y"]]),
                     ipw.HBox([sliders["angle"], sliders["scale"], sliders["shear"]]), output])


# --- chapter 03/04 ---


def dense_motion_explorer(kp_source: dict, kp_driving: dict, spatial_size) -> ipw.VBox:
    """Chapter 03: move, turn and scale one square of the toy scene; watch masks, flow and occlusion.

    kp_source, kp_driving: {'value': (1, K, 2), 'jacobian': (1, K, 2, 2)} poses of the squares of
    ``viz.render_toy_parts``. The sliders change driving keypoint k = part − 1: its position by
    (dx, dy) and its Jacobian to R(angle) · scale · J_d. Each change redraws
    ``viz.plot_dense_motion_part`` (ideal masks, so the flow is the one a trained network aims for).
    """
    from fomm_teach import motion

    num_kp = kp_driving["value"].shape[1]

    def slider(description, value, low, high, step):
        return ipw.FloatSlider(value=value, min=low, max=high, step=step, description=description,
                               continuous_update=False, style={"description_width": "initial"})

    part = ipw.IntSlider(value=1, min=1, max=num_kp, description="part (kp + 1)", continuous_update=False,
                         style={"description_width": "initial"})
    sliders = {
        "dx": slider("dx", 0.0, -0.6, 0.6, 0.05),
        "dy": slider("dy", 0.0, -0.6, 0.6, 0.05),
        "angle": slider("turn (°)", 0.0, -180.0, 180.0, 5.0),
        "scale": slider("scale", 1.0, 0.5, 1.5, 0.05),
    }
    output = ipw.Output()

    def draw():
        k = part.value - 1
        moved = {key: value.clone() for key, value in kp_driving.items()}
        moved["value"][0, k] += torch.tensor([sliders["dx"].value, sliders["dy"].value])
        pose = motion.jacobian_from_pose(math.radians(sliders["angle"].value), sliders["scale"].value)  # (2, 2)
        moved["jacobian"][0, k] = pose @ moved["jacobian"][0, k]
        viz.plot_dense_motion_part(kp_source, moved, spatial_size, part=part.value)

    _redraw_on_change(output, [part, *sliders.values()], draw)
    return ipw.VBox([ipw.HBox([part, sliders["dx"], sliders["dy"]]),
                     ipw.HBox([sliders["angle"], sliders["scale"]]), output])
