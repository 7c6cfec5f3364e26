"""Interactive explorers (ipywidgets) for the notebooks.

Hand-written (no notebook teaches it). Every explorer is an :class:`Explorer`: a row or two of
controls (ipywidgets) and a picture that a function draws with matplotlib. The picture is **not**
inside a widget: displaying an explorer shows its controls and then the figure as an ordinary PNG
output, and every change of a control redraws the figure and replaces that PNG in place (IPython's
``update_display``). So a saved notebook always holds the latest picture as a plain image, which
shows with the kernel stopped, in a reopened notebook, on GitHub or nbviewer, where the controls
themselves cannot ("Error displaying widget: model not found" is all a stopped notebook can show
of them). Under nbval only the first picture is drawn and nothing waits for input.

Functions that a learner writes in an exercise can be passed in, so the explorer runs the
learner's own code.

To build a new explorer (chapter 07's puppet does)::

    frame = ipw.IntSlider(description="frame", max=len(video) - 1, continuous_update=False)

    def draw():
        fig, ax = plt.subplots(figsize=(6, 4), layout="constrained")
        viz.show_image(ax, video[frame.value], title=f"frame {frame.value}")
        return fig

    Explorer([frame], draw)   # the last expression of a cell: controls, then the picture
"""

from __future__ import annotations

import contextlib
import math

import ipywidgets as ipw
import matplotlib.pyplot as plt
import torch

from fomm_teach import viz
from fomm_teach.keypoints import make_coordinate_grid


# Shown in place of an explorer's controls where no kernel can run them.
STATIC_NOTE = "(Explorer controls: run this cell in Jupyter to use them. The picture below is the last one drawn.)"


def figure_to_png(fig) -> bytes:
    """The PNG bytes of a matplotlib figure, rendered exactly as Jupyter's inline backend renders it.

    Uses ``IPython.core.pylabtools.print_figure`` (the inline backend's renderer: the figure's dpi,
    ``bbox_inches="tight"``), looked up at call time, so a saved picture and an inline figure look
    the same.
    """
    from IPython.core import pylabtools

    return pylabtools.print_figure(fig, "png", bbox_inches="tight")


class Explorer(ipw.VBox):
    """Controls plus a picture that stays in the saved notebook.

    rows: the controls, a list of widgets or of lists of widgets (each inner list is one row).
    draw: a function of no arguments that reads the controls, draws one matplotlib figure and
    returns it (or leaves it as the current figure); it may instead return any IPython display
    object (``IPython.display.Image``, ``HTML``, ``Video``), which is shown as it is. watch: the
    controls whose ``value`` changes trigger a redraw (default: every control in ``rows``).

    The explorer draws its first picture straight away. ``explorer.png`` holds the latest figure
    (PNG bytes; None for a display object), ``explorer.redraws`` counts the pictures drawn and
    ``explorer.error`` is the last drawing error (shown under the controls instead of a
    picture; None when the drawing worked). ``with explorer.hold(): ...`` changes several
    controls with a single redraw at the end. Every figure ``draw`` opens is closed once it is a
    PNG, so nothing else displays it.
    """

    def __init__(self, rows, draw, watch=None):
        rows = [row if isinstance(row, (list, tuple)) else [row] for row in rows]
        super().__init__([ipw.HBox(list(row)) if len(row) > 1 else row[0] for row in rows])
        self._draw = draw
        self._handles = []
        self._held = 0
        self._pending = False
        self.png = None
        self._shown = None
        self.redraws = 0
        self.error = None
        for control in (watch if watch is not None else [c for row in rows for c in row]):
            control.observe(self._on_change, names="value")
        self.redraw()

    def _on_change(self, _change=None):
        if self._held:
            self._pending = True
        else:
            self.redraw()

    @contextlib.contextmanager
    def hold(self):
        """Change several controls, redraw once at the end (if any watched control changed)."""
        self._held += 1
        try:
            yield self
        finally:
            self._held -= 1
            if not self._held and self._pending:
                self._pending = False
                self.redraw()

    def redraw(self) -> None:
        """Draw the picture again and replace every displayed copy of it."""
        from IPython.display import Image
        from matplotlib.figure import Figure

        before = set(plt.get_fignums())
        try:
            result = self._draw()
            if result is None or isinstance(result, Figure):
                self.png = figure_to_png(result if result is not None else plt.gcf())
                self._shown = Image(data=self.png, format="png")
            else:   # any IPython display object (Image, HTML, Video, ...): shown as it is
                self.png = None
                self._shown = result
            self.error = None
        except Exception as error:  # noqa: BLE001 - shown to the learner under the controls
            self.error = f"{type(error).__name__}: {error}"
        finally:
            for number in set(plt.get_fignums()) - before:
                plt.close(number)
        self.redraws += 1
        for handle in self._handles:
            handle.update(self._picture())

    def _picture(self):
        from IPython.display import Markdown

        if self.error is not None:
            return Markdown(f"**The explorer could not draw:** `{self.error}`")
        return self._shown

    def _ipython_display_(self, **kwargs):
        from IPython.display import display

        if hasattr(ipw.VBox, "_repr_mimebundle_"):                  # ipywidgets 8
            controls = self._repr_mimebundle_()                     # the controls (a widget view), and
            controls["text/plain"] = STATIC_NOTE                     # what a viewer without a kernel shows
            controls["text/html"] = f"<p><em>{STATIC_NOTE}</em></p>"  # instead (GitHub, an untrusted notebook)
            display(controls, raw=True)
        else:                                                        # ipywidgets 7.7 (Colab's)
            super()._ipython_display_(**kwargs)
        self._handles.append(display(self._picture(), display_id=True))  # the picture (a plain PNG)


def _slider(description, value, low, high, step):
    return ipw.FloatSlider(value=value, min=low, max=high, step=step, description=description,
                           continuous_update=False, style={"description_width": "initial"})


def temperature_explorer(logits: torch.Tensor, spatial_softmax_fn=None, heatmap_to_keypoints_fn=None) -> Explorer:
    """A log-scale temperature slider over a score map: shows softmax(logits / τ) and its soft-argmax.

    logits: (1, K, H, W) scores.  spatial_softmax_fn(logits, temperature) and
    heatmap_to_keypoints_fn(heatmap) default to the library's (chapter 01).
    """
    from fomm_teach import keypoints

    softmax = spatial_softmax_fn or keypoints.spatial_softmax
    soft_argmax = heatmap_to_keypoints_fn or keypoints.heatmap_to_keypoints
    slider = ipw.FloatLogSlider(value=0.1, base=10, min=-3, max=2, step=0.1, description="temperature τ",
                                style={"description_width": "initial"}, continuous_update=False)

    def draw():
        heatmap = softmax(logits, slider.value)  # (1, K, H, W)
        value = soft_argmax(heatmap)[0]          # (K, 2)
        fig, ax = plt.subplots(figsize=(4.6, 4.0), layout="constrained")
        viz.show_heatmap(ax, heatmap[0].sum(0), title=f"softmax(L / {slider.value:.3g}) and its soft-argmax")
        viz.draw_keypoints(ax, value, image_size=tuple(logits.shape[2:]))
        ax.set_xlabel("x (cells); keypoint " + ", ".join(f"({x:.2f}, {y:.2f})" for x, y in value.tolist()),
                      fontsize=9)
        return fig

    return Explorer([slider], draw)


def sparse_motion_explorer(source: torch.Tensor, p_source=(0.0, 0.0), sparse_motion_fn=None, warp_fn=None,
                           render_driving=None) -> Explorer:
    """Move one driving keypoint and set its Jacobian; watch T(z) and the warped source update.

    source: (3, H, W) image whose part sits at p_source with J_s = I.  The sliders set p_d and
    J_d = R(angle) · scale · [[1, shear], [0, 1]] (y points down: a positive angle turns clockwise
    on screen). Three panels: the driving frame D with arrows z → T(z), drawn as chapter 02's static
    figure draws them; where a regular grid of D reads in the source under
    T(z) = p_s + J_s J_d^-1 (z - p_d), over S (an affine map of a grid is a grid, so this stays
    readable at any rotation, where arrows cross); the source warped by T (align_corners=True) with
    D's grid, unwarped. render_driving(p_d (2,), J_d (2, 2)) -> (3, H, W) draws D; by default
    ``viz.synthetic_part`` (the part the notebook's source shows). sparse_motion_fn and warp_fn
    default to the library's (chapter 02).
    """
    from fomm_teach import motion

    sparse_motion = sparse_motion_fn or motion.sparse_motion
    warp = warp_fn or motion.warp_image
    size = tuple(source.shape[1:])
    render = render_driving or (lambda p, jacobian: viz.synthetic_part(size[0], center=p, jacobian=jacobian))
    p_source = torch.as_tensor(p_source, dtype=torch.float32)
    kp_source = {"value": p_source.view(1, 1, 2), "jacobian": torch.eye(2).view(1, 1, 2, 2)}
    sliders = {
        "x": _slider("driving x", 0.3, -0.9, 0.9, 0.05),
        "y": _slider("driving y", 0.0, -0.9, 0.9, 0.05),
        "angle": _slider("rotation (°)", 30.0, -180.0, 180.0, 5.0),
        "scale": _slider("scale", 1.2, 0.2, 2.0, 0.05),
        "shear": _slider("shear", 0.0, -1.0, 1.0, 0.05),
    }

    def draw():
        value = {name: s.value for name, s in sliders.items()}
        jacobian = motion.jacobian_from_pose(math.radians(value["angle"]), value["scale"], value["shear"])
        p_driving = torch.tensor([value["x"], value["y"]])
        kp_driving = {"value": p_driving.view(1, 1, 2), "jacobian": jacobian.view(1, 1, 2, 2)}
        field = sparse_motion(kp_source, kp_driving, size)                           # (1, 1, H, W, 2)
        warped = warp(source[None], field[:, 0], align_corners=True)                 # (1, 3, H, W)
        identity = make_coordinate_grid(size)                                             # (H, W, 2)
        fig, axes = plt.subplots(1, 3, figsize=(9.4, 3.9), layout="constrained")
        viz.show_image(axes[0], render(p_driving, jacobian), title="driving D: arrows z → T(z)", alpha=0.5)
        viz.draw_flow_arrows(axes[0], field[0, 0], step=max(1, size[0] // 8))
        viz.draw_keypoints(axes[0], kp_driving["value"][0], image_size=size)
        viz.show_image(axes[1], source, title="source S: where D's grid reads, T(z)", alpha=0.5)
        viz.draw_grid_lines(axes[1], field[0, 0], size)
        viz.draw_keypoints(axes[1], kp_source["value"][0], image_size=size, numbers=False, size=160, marker="*")
        viz.show_image(axes[2], warped[0], title="S warped by T, on D's grid")
        viz.draw_grid_lines(axes[2], identity, size)
        viz.draw_keypoints(axes[2], kp_driving["value"][0], image_size=size)
        matrix = jacobian.tolist()
        fig.suptitle(f"J_d = [[{matrix[0][0]:.2f}, {matrix[0][1]:.2f}], [{matrix[1][0]:.2f}, {matrix[1][1]:.2f}]],"
                     f" det = {torch.linalg.det(jacobian):.2f}.  ★ source keypoint p_s, ● driving keypoint p_d;"
                     "\nthick lines: D's top row (pink) and left column (teal)", fontsize=10)
        return fig

    return Explorer([[sliders["x"], sliders["y"]], [sliders["angle"], sliders["scale"], sliders["shear"]]], draw)


# --- chapter 03/04 ---


def dense_motion_explorer(kp_source: dict, kp_driving: dict, spatial_size) -> Explorer:
    """Chapter 03: move, turn and scale the squares of the toy scene; watch masks, flow and occlusion.

    kp_source, kp_driving: {'value': (1, K, 2), 'jacobian': (1, K, 2, 2)} poses of the squares of
    ``viz.render_toy_parts``. The part selector picks square k = part − 1; the sliders set that
    square's offset (dx, dy) and turn/scale its Jacobian to R(angle) · scale · J_d. Every square
    keeps its own pose: switching parts sets the sliders to the chosen square's values, and the
    other squares stay where they were put. Each change redraws ``viz.plot_dense_motion_part``
    (ideal masks, so the flow is the one a trained network aims for).
    """
    from fomm_teach import motion

    num_kp = kp_driving["value"].shape[1]
    neutral = {"dx": 0.0, "dy": 0.0, "angle": 0.0, "scale": 1.0}
    poses = [dict(neutral) for _ in range(num_kp)]   # every square's own offsets, kept across switches
    part = ipw.Dropdown(options=[(f"{p} (square {p - 1})", p) for p in range(1, num_kp + 1)], value=1,
                        description="part", style={"description_width": "initial"},
                        layout=ipw.Layout(width="190px"))
    sliders = {
        "dx": _slider("dx", 0.0, -0.6, 0.6, 0.05),
        "dy": _slider("dy", 0.0, -0.6, 0.6, 0.05),
        "angle": _slider("turn (°)", 0.0, -180.0, 180.0, 5.0),
        "scale": _slider("scale", 1.0, 0.5, 1.5, 0.05),
    }
    reset = ipw.Button(description="reset all parts", layout=ipw.Layout(width="140px"))

    def moved_keypoints():
        moved = {key: value.clone() for key, value in kp_driving.items()}
        for k, pose in enumerate(poses):
            moved["value"][0, k] += torch.tensor([pose["dx"], pose["dy"]])
            turn = motion.jacobian_from_pose(math.radians(pose["angle"]), pose["scale"])  # (2, 2)
            moved["jacobian"][0, k] = turn @ moved["jacobian"][0, k]
        return moved

    def draw():
        return viz.plot_dense_motion_part(kp_source, moved_keypoints(), spatial_size, part=part.value)

    explorer = Explorer([[part, reset], [sliders["dx"], sliders["dy"]], [sliders["angle"], sliders["scale"]]],
                        draw, watch=[])
    explorer.poses = poses

    def move(change):
        if not explorer._held:   # a learner moved a slider: it belongs to the selected part
            poses[part.value - 1][change["owner"].pose_key] = change["new"]
            explorer.redraw()

    def show_part(change):
        with explorer.hold():   # load the chosen part's pose into the sliders, then draw once
            for name, slider in sliders.items():
                slider.value = poses[change["new"] - 1][name]
            explorer._pending = True

    def reset_all(_button):
        with explorer.hold():
            for pose in poses:
                pose.update(neutral)
            for name, slider in sliders.items():
                slider.value = neutral[name]
            explorer._pending = True

    for name, slider in sliders.items():
        slider.pose_key = name
        slider.observe(move, names="value")
    part.observe(show_part, names="value")
    reset.on_click(reset_all)
    return explorer


def puppet_explorer(source: torch.Tensor, kp_source: dict, generator, max_flow: float = 8.0) -> Explorer:
    """Chapter 07's live puppet: move one keypoint of the source, turn and scale its Jacobian.

    source: (3, S, S) in [0, 1]; kp_source: the detector's keypoints of it, 'value' (1, K, 2) and
    'jacobian' (1, K, 2, 2); generator: an ``OcclusionAwareGenerator`` in eval mode. The driving
    keypoints are the source's with every keypoint's own offset (dx, dy) and its Jacobian turned by
    ``angle`` (degrees; positive turns clockwise on screen, y points down) and scaled by ``scale``:
    J_d = R(angle) · scale · J_s. Each keypoint keeps its own pose; choosing another one loads its
    values into the sliders. The picture: the generated frame with the driving keypoints (a ring
    on the chosen one), the dense backward flow T̂(z) − z in frame pixels (full colour at
    ``max_flow`` pixels), and the occlusion map.

    For speed the figure is laid out once and only its data change between redraws (a redraw is
    then one generator call and one PNG encoding, no layout pass); each picture is a plain PNG.
    """
    import io

    from IPython.display import Image
    from matplotlib.figure import Figure

    from fomm_teach.motion import jacobian_from_pose

    num_kp = kp_source["value"].shape[1]
    size = source.shape[-1]
    poses = {k: {"dx": 0.0, "dy": 0.0, "angle": 0.0, "scale": 1.0} for k in range(num_kp)}
    keypoint = ipw.Dropdown(options=[(f"keypoint {k}", k) for k in range(num_kp)], description="keypoint")
    sliders = {"dx": _slider("dx", 0.0, -0.6, 0.6, 0.02), "dy": _slider("dy", 0.0, -0.6, 0.6, 0.02),
               "angle": _slider("angle (°)", 0.0, -90.0, 90.0, 5.0), "scale": _slider("scale", 1.0, 0.5, 1.6, 0.05)}
    loading = False   # True while a keypoint's values are put into the sliders: they are not that keypoint's edits

    def driving_keypoints():
        value, jacobian = kp_source["value"].clone(), kp_source["jacobian"].clone()   # (1, K, 2), (1, K, 2, 2)
        for k, pose in poses.items():
            value[0, k] += torch.tensor([pose["dx"], pose["dy"]], dtype=value.dtype, device=value.device)
            turn = jacobian_from_pose(math.radians(pose["angle"]), pose["scale"], dtype=jacobian.dtype,
                                      device=jacobian.device)                            # (2, 2)
            jacobian[0, k] = turn @ jacobian[0, k]
        return {"value": value, "jacobian": jacobian}

    def generate():
        kp_driving = driving_keypoints()
        with torch.no_grad():
            out = generator(source[None], kp_driving=kp_driving, kp_source=kp_source)
        deformation = out["deformation"][0].cpu()                                          # (h, w, 2)
        identity = make_coordinate_grid(deformation.shape[:2], dtype=deformation.dtype)     # (h, w, 2)
        flow = (deformation - identity) * (size - 1) / 2                                   # frame pixels
        occlusion = out["occlusion_map"][0, 0].cpu() if "occlusion_map" in out else torch.ones(deformation.shape[:2])
        return out["prediction"][0].cpu(), kp_driving["value"][0].cpu(), flow, occlusion

    # The figure, laid out once: every redraw below only replaces the data of these artists.
    prediction, kp_value, flow, occlusion = generate()
    fig = Figure(figsize=(9.0, 3.4), layout="constrained")
    axes = fig.subplots(1, 3)
    viz.show_image(axes[0], prediction, "generated frame")
    pixel_extent = (-0.5, size - 0.5, size - 0.5, -0.5)   # flow and occlusion grids drawn over the frame's pixels
    viz.show_flow(axes[1], flow, f"backward flow T̂(z) − z, frame pixels\n(computed on a {flow.shape[0]}×{flow.shape[1]} grid)",
                  max_norm=max_flow)
    viz.show_occlusion(axes[2], occlusion)
    for ax in axes[1:]:
        ax.images[0].set_extent(pixel_extent)
        ax.set_xlim(pixel_extent[:2])
        ax.set_ylim(pixel_extent[2:])
    title = fig.suptitle("", fontsize=10)
    fig.canvas.draw()                                   # lay it out once ...
    fig.set_layout_engine("none")                       # ... and keep that layout
    keypoint_artists = []

    def draw():
        nonlocal keypoint_artists
        prediction, kp_value, flow, occlusion = generate()
        axes[0].images[0].set_data(viz.to_numpy_image(prediction))
        axes[1].images[0].set_data(viz.flow_to_color(flow, max_flow))
        axes[2].images[0].set_data(occlusion.numpy())
        for artist in keypoint_artists:
            artist.remove()
        before = set(axes[0].collections) | set(axes[0].texts)
        viz.draw_keypoints(axes[0], kp_value, size, size=40)
        x, y = viz.to_pixels(kp_value[keypoint.value:keypoint.value + 1], size)[0].tolist()
        axes[0].scatter([x], [y], s=160, facecolors="none", edgecolors="white", linewidths=2.0, zorder=5)
        keypoint_artists = [a for a in (*axes[0].collections, *axes[0].texts) if a not in before]
        title.set_text(f"keypoint {keypoint.value} (white ring) moved by dx, dy and turned by its Jacobian; "
                       "the other keypoints keep their own poses")
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png")
        return Image(data=buffer.getvalue(), format="png")

    def store(_change=None):
        if not loading:
            poses[keypoint.value].update({name: slider.value for name, slider in sliders.items()})

    def load(_change):
        nonlocal loading
        loading = True
        try:
            with explorer.hold():
                for name, slider in sliders.items():
                    slider.value = poses[keypoint.value][name]
                explorer._pending = True   # the ringed keypoint changed: redraw even if no value did
        finally:
            loading = False

    for slider in sliders.values():
        slider.observe(store, names="value")
    explorer = Explorer([keypoint, [sliders["dx"], sliders["dy"]], [sliders["angle"], sliders["scale"]]], draw,
                        watch=list(sliders.values()))
    keypoint.observe(load, names="value")
    return explorer


def checkpoint_explorer(checkpoints, config, frames: torch.Tensor, times=None) -> Explorer:
    """An epoch slider over a run's checkpoints: what the model of that epoch does to held-out ``frames``.

    checkpoints: checkpoint files of one run, named '%08d-checkpoint.pth.tar' % epoch as ``train``
    writes them; config: the run's config; frames (T, 3, S, S) of a held-out video (frame 0 is the
    source). Each picture is :func:`fomm_teach.viz.plot_learned_motion`; a checkpoint is loaded the
    first time its epoch is shown. The slider starts at the last epoch.
    """
    from pathlib import Path

    from fomm_teach.checkpoint import load_trained_models

    paths = sorted(Path(path) for path in checkpoints)
    if not paths:
        raise ValueError("checkpoint_explorer needs at least one checkpoint file")
    epochs = [int(path.name.split("-")[0]) if path.name.split("-")[0].isdigit() else index
              for index, path in enumerate(paths)]
    slider = ipw.SelectionSlider(options=[(str(epoch), index) for index, epoch in enumerate(epochs)],
                                 value=len(paths) - 1, description="epoch", continuous_update=False)
    loaded = {}

    def draw():
        index = slider.value
        if index not in loaded:
            models = load_trained_models(paths[index], config)
            loaded[index] = viz.learned_motion(models["kp_detector"], models["generator"], frames)
        return viz.plot_learned_motion(frames, loaded[index], f"after epoch {epochs[index]} ({paths[index].name})",
                                       times=times)

    return Explorer([slider], draw)
