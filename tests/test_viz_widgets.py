"""Figures and explorers (fomm_teach/viz.py, fomm_teach/widgets.py): they draw without errors,
and the synthetic part is exactly the affine image of itself that chapter 02 relies on."""

import math

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

from fomm_teach import viz, widgets  # noqa: E402
from fomm_teach.motion import jacobian_from_pose, sparse_motion, warp_image  # noqa: E402

torch.set_num_threads(1)


def test_to_pixels_matches_the_align_corners_grid():
    kp = torch.tensor([[-1.0, -1.0], [1.0, 1.0], [0.0, 0.0]])
    assert torch.allclose(viz.to_pixels(kp, (5, 9)), torch.tensor([[0.0, 0.0], [8.0, 4.0], [4.0, 2.0]]))


def test_keypoint_colours_are_distinct_and_cycle():
    assert len(set(viz.KEYPOINT_COLORS)) == 10
    assert viz.keypoint_color(12) == viz.keypoint_color(2)


def test_drawing_helpers_run():
    fig, axes = plt.subplots(1, 2)
    image = viz.synthetic_frame(32)
    assert image.shape == (3, 32, 32) and 0 <= image.min() and image.max() <= 1
    viz.show_image(axes[0], image, title="frame")
    viz.draw_keypoints(axes[0], torch.rand(10, 2) * 2 - 1, image_size=32)
    viz.show_heatmap(axes[1], torch.rand(8, 8), title="map")
    viz.draw_flow_arrows(axes[1], torch.rand(8, 8, 2) * 2 - 1, step=2)
    assert len(axes[0].collections) == 10  # one marker per keypoint
    plt.close(fig)


def test_synthetic_part_moves_by_its_pose_map():
    size = 64
    p_source, p_driving = torch.tensor([-0.2, 0.1]), torch.tensor([0.2, 0.0])
    jacobian = jacobian_from_pose(math.radians(30), scale=1.2)
    source = viz.synthetic_part(size, center=p_source)[None]
    driving = viz.synthetic_part(size, center=p_driving, jacobian=jacobian)[None]
    motion = sparse_motion({"value": p_source.view(1, 1, 2), "jacobian": torch.eye(2).view(1, 1, 2, 2)},
                           {"value": p_driving.view(1, 1, 2), "jacobian": jacobian.view(1, 1, 2, 2)}, (size, size))
    inside = (motion[:, 0].abs() <= 1).all(-1)[:, None]  # (1, 1, H, W): T(z) lands in the source

    def error(warped):
        return float(((warped - driving).abs() * inside).sum() / (3 * inside.sum()))

    first_order = error(warp_image(source, motion[:, 0], align_corners=True))
    translation = sparse_motion({"value": p_source.view(1, 1, 2)}, {"value": p_driving.view(1, 1, 2)}, (size, size))
    translation_only = error(warp_image(source, translation[:, 0], align_corners=True))
    assert first_order < 0.01
    assert translation_only > 5 * first_order


def test_explorers_build_and_redraw_on_slider_changes():
    plt.close("all")
    explorer = widgets.temperature_explorer(-torch.rand(1, 1, 16, 16))
    assert explorer.redraws == 1 and explorer.png.startswith(b"\x89PNG")  # drawn once straight away
    first = explorer.png
    explorer.children[0].value = 1.0
    assert explorer.redraws == 2 and explorer.png != first
    motion_explorer = widgets.sparse_motion_explorer(viz.synthetic_part(32), p_source=(0.0, 0.0))
    (x, y), (angle, scale, shear) = motion_explorer.children[0].children, motion_explorer.children[1].children
    pictures = {motion_explorer.png}
    for slider, value in [(x, -0.4), (y, 0.5), (angle, 170.0), (scale, 0.5), (shear, 0.3)]:
        slider.value = value
        pictures.add(motion_explorer.png)
    assert motion_explorer.redraws == 6 and len(pictures) == 6  # every slider changes the picture
    assert motion_explorer.error is None
    assert plt.get_fignums() == []  # every figure was closed once it became a PNG


def test_the_motion_explorer_draws_the_driving_frame_of_the_pose_its_sliders_set():
    """Chapter 02: the explorer's first panel is the static figure's, the driving frame D with arrows;
    D is rendered for the keypoint and Jacobian the sliders set, by render_driving."""
    poses = []

    def render_driving(p_driving, jacobian):
        poses.append((p_driving.clone(), jacobian.clone()))
        return viz.synthetic_part(32, center=p_driving, jacobian=jacobian)

    explorer = widgets.sparse_motion_explorer(viz.synthetic_part(32), render_driving=render_driving)
    (x, _), (angle, scale, _) = explorer.children[0].children, explorer.children[1].children
    x.value, angle.value, scale.value = -0.4, 90.0, 0.5
    p_driving, jacobian = poses[-1]
    assert len(poses) == explorer.redraws == 4 and explorer.error is None
    assert torch.allclose(p_driving, torch.tensor([-0.4, 0.0]))
    assert torch.allclose(jacobian, jacobian_from_pose(math.radians(90.0), 0.5), atol=1e-6)


def test_explorer_leaves_a_plain_picture_in_the_notebook_and_updates_it():
    """Displaying an explorer shows its controls (a widget view) and a PNG with a display id; a change
    replaces that PNG in place, so the saved notebook holds the latest picture as an ordinary image."""
    from IPython.core.interactiveshell import InteractiveShell
    from IPython.display import display
    from IPython.utils.capture import capture_output

    InteractiveShell.instance()
    explorer = widgets.temperature_explorer(-torch.rand(1, 1, 16, 16))
    with capture_output() as captured:
        display(explorer)
        explorer.children[0].value = 2.0
    controls, picture, update = captured.outputs
    assert "application/vnd.jupyter.widget-view+json" in controls.data
    assert "run this cell" in controls.data["text/plain"]   # what GitHub or a kernel-less viewer shows
    assert picture.data["image/png"] and not picture.update
    assert update.update and update.data["image/png"] != picture.data["image/png"]
    assert update.transient["display_id"] == picture.transient["display_id"]


def test_explorer_reports_a_drawing_error_instead_of_raising():
    def broken(logits, temperature):
        raise ValueError("learner's bug")

    explorer = widgets.temperature_explorer(-torch.rand(1, 1, 8, 8), spatial_softmax_fn=broken)
    assert "learner's bug" in explorer.error and explorer.png is None
    assert plt.get_fignums() == []


def test_grid_lines_follow_the_map_and_occlusion_maps_have_a_frame():
    fig, (left, right) = plt.subplots(1, 2)
    size = (16, 16)
    turned = sparse_motion({"value": torch.zeros(1, 1, 2), "jacobian": torch.eye(2).view(1, 1, 2, 2)},
                           {"value": torch.zeros(1, 1, 2),
                            "jacobian": jacobian_from_pose(math.pi, 1.0).view(1, 1, 2, 2)}, size)[0, 0]
    viz.draw_grid_lines(left, turned, size, lines=5)
    assert len(left.lines) == 10                       # 5 rows and 5 columns
    top_row = left.lines[0].get_xydata()               # a half turn sends D's top row to S's bottom row
    assert abs(top_row[:, 1] - 15).max() < 1e-4 and top_row[0, 0] > top_row[-1, 0]
    viz.show_occlusion(right, torch.ones(8, 8))
    assert all(spine.get_visible() for spine in right.spines.values())
    plt.close(fig)


def test_explorer_shows_a_display_object_as_it_is():
    from IPython.display import HTML

    frame = widgets.ipw.IntSlider(value=0, max=3)
    explorer = widgets.Explorer([frame], lambda: HTML(f"<b>frame {frame.value}</b>"))
    frame.value = 2
    assert explorer.png is None and explorer.redraws == 2 and explorer._picture().data == "<b>frame 2</b>"


def test_explorer_pictures_fit_a_notebook_column():
    """JupyterLab draws a picture at most ~848 px wide beside its file browser (measured by the browser
    tests); the explorers' smallest text is 7 pt = 9.7 px at 100 dpi, so it stays >= 8 px as long as
    a picture is at most 848 / (8 / 9.72) ≈ 1030 px wide."""
    import struct

    from test_dense_motion_figures import SIZE, toy_keypoints

    kp_source, kp_driving = toy_keypoints()
    explorers = [widgets.temperature_explorer(-torch.rand(1, 1, 16, 16)),
                 widgets.sparse_motion_explorer(viz.synthetic_part(32)),
                 widgets.dense_motion_explorer(kp_source, kp_driving, SIZE)]
    for explorer in explorers:
        width = struct.unpack(">I", explorer.png[16:20])[0]   # the PNG's IHDR width
        assert width <= 1030, width


def test_jacobians_are_drawn_as_their_columns_from_the_keypoint():
    fig, ax = plt.subplots()
    jacobian = torch.tensor([[[2.0, 0.0], [0.0, 1.0]]])                        # x axis doubled
    viz.draw_jacobians(ax, torch.zeros(1, 2), jacobian, image_size=33, length=0.25)
    solid, dotted = ax.lines
    assert solid.get_xydata().tolist() == [[16.0, 16.0], [24.0, 16.0]]     # 2 × 0.25 × 16 px along x
    assert dotted.get_xydata().tolist() == [[16.0, 16.0], [16.0, 20.0]]    # 1 × 0.25 × 16 px along y (down)
    plt.close(fig)


def _tiny_config():
    from fomm_teach.config import load_config

    config = load_config("synthetic-fast")
    config["dataset_params"]["frame_shape"] = [32, 32, 3]
    return config


def test_learned_motion_runs_both_models_and_the_figure_has_four_rows(tmp_path):
    from fomm_teach.models import build_models

    torch.manual_seed(0)
    models = build_models(_tiny_config())
    frames = torch.rand(3, 3, 32, 32)
    motion = viz.learned_motion(models["kp_detector"], models["generator"], frames)
    assert motion["kp_driving"]["jacobian"].shape == (3, 5, 2, 2) and motion["prediction"].shape == (3, 3, 32, 32)
    assert models["kp_detector"].training and models["generator"].training      # modes restored
    fig = viz.plot_learned_motion(frames, motion, "title", times=[0, 5, 9])
    assert len(fig.axes) == 12 and fig.axes[1].get_title() == "frame 5"
    plt.close(fig)


def test_checkpoint_explorer_shows_each_epochs_model(tmp_path):
    from fomm_teach.checkpoint import save_checkpoint
    from fomm_teach.models import build_models

    config = _tiny_config()
    for epoch in (0, 3):
        torch.manual_seed(epoch)
        save_checkpoint(tmp_path / f"{epoch:08d}-checkpoint.pth.tar", build_models(config), epoch=epoch)
    plt.close("all")
    explorer = widgets.checkpoint_explorer(sorted(tmp_path.glob("*.pth.tar")), config, torch.rand(2, 3, 32, 32))
    slider = explorer.children[0]
    assert slider.label == "3" and explorer.redraws == 1 and explorer.error is None   # starts at the last epoch
    last = explorer.png
    slider.value = 0
    assert slider.label == "0" and explorer.redraws == 2 and explorer.png != last and explorer.error is None
    assert plt.get_fignums() == []
