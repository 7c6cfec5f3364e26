"""``fomm-teach animate``: any image, any driving video, frame count and rate kept, one-line errors."""

import subprocess

import imageio.v2 as iio2
import imageio_ffmpeg
import numpy as np
import pytest
import torch
from PIL import Image

from fomm_teach import animate_cli
from fomm_teach.cli import build_parser
from fomm_teach.cli import main as cli_main
from fomm_teach.data import video_io
from fomm_teach.data.synthetic import SyntheticVideos
from fomm_teach.shipped import shipped_model_path

FRAMES = 6


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    """A 200×300 RGBA photo, a 12 fps driving .mp4 (96×96 windmill frames), the same with a sine audio track."""
    folder = tmp_path_factory.mktemp("media")
    rgba = np.zeros((300, 200, 4), np.uint8)
    rgba[..., 0], rgba[..., 3] = 180, 255
    rgba[100:200, 50:150, 1] = 255
    Image.fromarray(rgba, "RGBA").save(folder / "photo.png")
    frames = SyntheticVideos("windmill", size=96, num_frames=FRAMES, split="test").video(1)["frames"]   # (T, 3, 96, 96)
    iio2.mimwrite(folder / "drive.mp4", list((frames.permute(0, 2, 3, 1).numpy() * 255).astype(np.uint8)),
                  fps=12, macro_block_size=1)
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-y", "-v", "error", "-i", str(folder / "drive.mp4"), "-f", "lavfi",
                    "-i", "sine=frequency=440:duration=1", "-c:v", "copy", "-c:a", "aac", "-shortest",
                    str(folder / "drive_audio.mp4")], check=True)
    return folder


def animate(*args):
    return cli_main(["animate", *map(str, args), "--no-progress"])


def stream_kinds(path):
    probe = subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-i", str(path)], capture_output=True, text=True)
    return [kind for kind in ("Video:", "Audio:") if any(kind in line for line in probe.stderr.splitlines() if "Stream #" in line)]


def test_help_documents_every_option():
    parser = build_parser()
    animate_parser = parser._subparsers._group_actions[0].choices["animate"]
    text = animate_parser.format_help()
    for option in ("--source", "--driving", "--out", "--checkpoint", "--config", "--mode", "--no-adapt-scale",
                   "--best-frame", "--start-frame", "--device", "--batch-size", "--side-by-side"):
        assert option in text
    assert all(action.help for action in animate_parser._actions)


def test_an_rgba_photo_and_a_12_fps_video_keep_frame_count_and_rate(media, tmp_path, capsys):
    out = tmp_path / "result.mp4"
    assert animate("--source", media / "photo.png", "--driving", media / "drive.mp4", "--out", out) == 0
    reader = iio2.get_reader(out)
    assert reader.get_meta_data()["fps"] == pytest.approx(12)
    assert reader.count_frames() == FRAMES
    assert reader.get_data(0).shape == (64, 64, 3)                        # the shipped model's frame size
    assert "relative motion with scale adaptation" in capsys.readouterr().out
    assert stream_kinds(out) == ["Video:"]


def test_the_driving_audio_track_is_copied(media, tmp_path):
    out = tmp_path / "with_audio.mp4"
    assert animate("--source", media / "photo.png", "--driving", media / "drive_audio.mp4", "--out", out) == 0
    assert stream_kinds(out) == ["Video:", "Audio:"]


def test_side_by_side_gif_and_png_strip(media, tmp_path):
    gif, strip = tmp_path / "r.gif", tmp_path / "r.png"
    assert animate("--source", media / "photo.png", "--driving", media / "drive.mp4", "--out", gif, "--side-by-side",
                   "--mode", "absolute") == 0
    assert iio2.mimread(gif)[0].shape[:2] == (64, 3 * 64)                  # source | driving | result
    assert animate("--source", media / "photo.png", "--driving", media / "drive.mp4", "--out", strip,
                   "--best-frame") == 0
    assert iio2.imread(strip).shape[:2] == (64, FRAMES * 64)


def test_a_png_strip_and_a_frame_folder_drive_too(media, tmp_path):
    frames = torch.rand(4, 3, 32, 32)
    video_io.write_video(tmp_path / "strip.png", frames)
    video_io.write_video(tmp_path / "folder", frames)
    for driving in ("strip.png", "folder"):
        out = tmp_path / f"from_{driving.split('.')[0]}.gif"
        assert animate("--source", media / "photo.png", "--driving", tmp_path / driving, "--out", out) == 0
        assert len(iio2.mimread(out)) == 4


def one_frame_video(folder):
    iio2.mimwrite(folder / "one.mp4", [np.zeros((32, 32, 3), np.uint8)], fps=12, macro_block_size=1)
    return folder / "one.mp4"


def not_a_video(folder):
    (folder / "notes.txt").write_text("hello")
    return folder / "notes.txt"


def broken_image(folder):
    (folder / "broken.png").write_bytes(b"\x89PNG not really")
    return folder / "broken.png"


@pytest.mark.parametrize("case, message", [
    (lambda m, t: ["--source", m / "drive.mp4", "--driving", m / "drive.mp4", "--out", t / "x.mp4"], "is a video"),
    (lambda m, t: ["--source", broken_image(t), "--driving", m / "drive.mp4", "--out", t / "x.mp4"], "cannot read this image"),
    (lambda m, t: ["--source", t / "nope.png", "--driving", m / "drive.mp4", "--out", t / "x.mp4"], "no such file"),
    (lambda m, t: ["--source", m / "photo.png", "--driving", m / "photo.png", "--out", t / "x.mp4"], "not a strip"),
    (lambda m, t: ["--source", m / "photo.png", "--driving", not_a_video(t), "--out", t / "x.mp4"], "not a video"),
    (lambda m, t: ["--source", m / "photo.png", "--driving", one_frame_video(t), "--out", t / "x.mp4"], "at least 2"),
    (lambda m, t: ["--source", m / "photo.png", "--driving", m / "drive.mp4", "--out", t / "x.avi"], "unknown output type"),
    (lambda m, t: ["--source", m / "photo.png", "--driving", m / "drive.mp4", "--out", m / "photo.png" / "x.mp4"],
     "is a file, not a folder"),
    (lambda m, t: ["--source", m / "photo.png", "--driving", m / "drive.mp4", "--out", t], "is a folder"),
    (lambda m, t: ["--source", m / "photo.png", "--driving", m / "drive.mp4", "--out", t / "x.mp4", "--start-frame", "6"],
     "has 6 frames"),
    (lambda m, t: ["--source", m / "photo.png", "--driving", m / "drive.mp4", "--out", t / "x.mp4",
                   "--checkpoint", shipped_model_path(), "--config", "vox-256"], "looks like --config synthetic"),
    (lambda m, t: ["--source", m / "photo.png", "--driving", m / "drive.mp4", "--out", t / "x.mp4",
                   "--checkpoint", shipped_model_path()], "no config.yaml beside it"),
])
def test_bad_input_is_one_line_and_writes_nothing(media, tmp_path, capsys, case, message):
    assert animate(*case(media, tmp_path)) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "Traceback" not in err and len(err.splitlines()) == 1
    assert not (tmp_path / "x.mp4").exists()


def test_a_failed_write_leaves_no_file(media, tmp_path, monkeypatch):
    def write_then_fail(path, frames, layout=None, fps=25.0):
        path.write_bytes(b"half a video")
        raise OSError(28, "No space left on device", str(path))

    monkeypatch.setattr(video_io, "write_video", write_then_fail)
    assert animate("--source", media / "photo.png", "--driving", media / "drive.mp4", "--out", tmp_path / "x.mp4") == 2
    assert list(tmp_path.iterdir()) == []


def test_fit_frames_crops_the_centre_square_then_resizes():
    frames = torch.zeros(1, 3, 30, 20)
    frames[:, :, 5:25] = 1.0                                          # the central 20×20 square is white
    assert torch.equal(video_io.fit_frames(frames, 20), torch.ones(1, 3, 20, 20))
    assert video_io.fit_frames(frames, 8).shape == (1, 3, 8, 8)


def test_side_by_side_puts_source_driving_result_in_order():
    source, driving, result = torch.zeros(3, 4, 4), torch.ones(2, 3, 4, 4), torch.full((2, 3, 4, 4), 0.5)
    panels = animate_cli.side_by_side(source, driving, result)
    assert panels.shape == (2, 3, 4, 12)
    assert panels[..., :4].max() == 0 and panels[..., 4:8].min() == 1 and torch.all(panels[..., 8:] == 0.5)
