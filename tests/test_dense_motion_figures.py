"""Chapter 03/04 figures (viz.py, widgets.py): the toy scene is exact, the ideal flow rebuilds the
driving frame wherever the source shows it, the flow colours mean what the legend says."""

import math

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

from fomm_teach import viz, widgets  # noqa: E402
from fomm_teach.motion import jacobian_from_pose  # noqa: E402

torch.set_num_threads(1)
SIZE = (48, 48)


def toy_keypoints():
    kp_source = {"value": torch.tensor([[[-0.5, -0.45], [0.45, -0.4], [0.0, 0.45]]]),
                 "jacobian": torch.stack([jacobian_from_pose(0.0, 0.22)] * 3)[None]}
    kp_driving = {"value": torch.tensor([[[-0.35, -0.2], [0.55, -0.55], [0.05, 0.45]]]),
                  "jacobian": torch.stack([jacobian_from_pose(math.radians(30), 0.22), jacobian_from_pose(0.0, 0.18),
                                           jacobian_from_pose(math.radians(-60), 0.22)])[None]}
    return kp_source, kp_driving


def test_render_toy_parts_shapes_ranges_and_layering():
    kp_source, _ = toy_keypoints()
    image, parts = viz.render_toy_parts(kp_source["value"], kp_source["jacobian"], SIZE)
    assert image.shape == (1, 3, 48, 48) and parts.shape == (1, 3, 48, 48)
    assert 0 <= float(image.min()) and float(image.max()) <= 1
    assert float(parts.sum(1).max()) <= 1 + 1e-6          # visible coverage never exceeds one
    centre = viz.to_pixels(kp_source["value"][0], SIZE).round().long()   # (K, 2) column, row
    for k, (col, row) in enumerate(centre.tolist()):
        assert parts[0, k, row, col] > 0.99                # each square covers its keypoint
    # Two squares on top of each other: the later one hides the earlier one.
    same = {"value": torch.zeros(1, 2, 2), "jacobian": torch.stack([jacobian_from_pose(0.0, 0.3)] * 2)[None]}
    _, stacked = viz.render_toy_parts(same["value"], same["jacobian"], SIZE)
    assert stacked[0, 0, 24, 24] < 1e-6 and stacked[0, 1, 24, 24] > 0.99


def test_ideal_flow_rebuilds_the_driving_frame_where_it_is_visible():
    """First-order motion is exact for the rigid squares: with ideal masks, warped S = D where Ô = 1."""
    kp_source, kp_driving = toy_keypoints()
    toy = viz.toy_dense_motion(kp_source, kp_driving, SIZE)
    visible = toy["occlusion_map"][0, 0] > 0.999                                # (H, W)
    error = (toy["warped"] - toy["driving"]).abs().amax(1)[0]                  # (H, W)
    assert visible.float().mean() > 0.6
    assert float(error[visible].mean()) < 0.01
    assert float(error[~visible].mean()) > 0.05                                # the ghosts are where Ô < 1
    assert torch.allclose(toy["mask"].sum(1), torch.ones(1, 48, 48), atol=1e-5)


def test_flow_to_color_legend():
    flow = torch.zeros(1, 4, 2)
    flow[0, 1] = torch.tensor([1.0, 0.0])    # +x
    flow[0, 2] = torch.tensor([-1.0, 0.0])   # -x
    flow[0, 3] = torch.tensor([0.5, 0.0])    # +x, half length
    colors = viz.flow_to_color(flow, max_norm=1.0)[0]
    assert colors.shape == (4, 3)
    assert (colors[0] == 1).all()                                   # no motion: white
    assert colors[1][0] == 1 and colors[1][1] < 0.01                # +x: saturated red (hue 0)
    assert colors[2][0] < 0.01                                      # −x: cyan (hue ½)
    assert 0.4 < colors[3][1] < 0.6                                 # half the length: half saturated
    wheel = viz.color_wheel(33, max_norm=1.0)
    assert (wheel[16, 16] == 1).all() and (wheel[0, 0] == 1).all()  # centre: no motion; outside the disc: white


def test_dense_motion_figures_and_explorer_build():
    kp_source, kp_driving = toy_keypoints()
    fig = viz.plot_dense_motion_part(kp_source, kp_driving, SIZE, part=2)
    assert len(fig.axes) >= 8
    plt.close(fig)
    fig, ax = plt.subplots()
    viz.show_masks(ax, torch.softmax(torch.randn(4, 8, 8), 0), "masks")
    viz.show_flow(ax, torch.randn(8, 8, 2) * 0.1, "flow")
    plt.close("all")
    explorer = widgets.dense_motion_explorer(kp_source, kp_driving, SIZE)
    (part, reset), (dx, dy), (angle, scale) = (row.children for row in explorer.children)
    dx.value = 0.2                       # part 1's offset: redraws without error
    assert explorer.redraws == 2 and explorer.error is None
    part.value = 2                       # another part: the sliders show its own (untouched) pose
    assert dx.value == 0.0 and explorer.redraws == 3
    angle.value = 45.0
    part.value = 1                       # back to part 1: its offset was kept
    assert dx.value == 0.2 and angle.value == 0.0 and explorer.redraws == 5
    assert explorer.poses[0]["dx"] == 0.2 and explorer.poses[1]["angle"] == 45.0
    reset.click()
    assert dx.value == 0.0 and all(pose["dx"] == 0.0 and pose["angle"] == 0.0 for pose in explorer.poses)
    assert plt.get_fignums() == []
