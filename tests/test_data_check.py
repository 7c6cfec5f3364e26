"""``fomm-teach check-dataset``: each kind of bad file gives its own message and a non-zero exit."""

import numpy as np
import pytest

from fomm_teach.cli import main
from fomm_teach.data.check import check_dataset
from fomm_teach.data.synthetic import SyntheticVideos
from fomm_teach.data.synthetic_disk import write_synthetic_dataset
from fomm_teach.data.video_io import write_video

SIZE = 32


@pytest.fixture(scope="module")
def clip():
    return SyntheticVideos("rigid", size=SIZE, num_frames=4, seed=0).video(0)["frames"]


def good_dataset(root, layout="gif"):
    write_synthetic_dataset(root, "rigid", layout, num_train=2, num_test=1, size=SIZE, num_frames=3)


def problems(report):
    return [(f.path.rsplit("/", 1)[-1], f.severity, f.problem) for f in report.findings]


@pytest.mark.parametrize("layout", ["gif", "mp4", "folder", "png"])
def test_a_good_dataset_passes_and_exits_zero(tmp_path, capsys, layout):
    good_dataset(tmp_path, layout)
    assert check_dataset(tmp_path, frame_shape=(SIZE, SIZE, 3)).findings == []
    assert main(["check-dataset", str(tmp_path), "--frame-shape", str(SIZE), str(SIZE)]) == 0
    assert "no problems found" in capsys.readouterr().out


def add_bad_files(root, clip):
    import imageio.v3 as iio

    train = root / "train"
    path = write_video(train / "truncated.mp4", clip, "mp4")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    cut = train / "cut_short.mp4"  # index at the front: the first frames still decode
    iio.imwrite(cut, (np.random.default_rng(0).random((40, SIZE, SIZE, 3)) * 255).astype(np.uint8),
                fps=25, plugin="FFMPEG", output_params=["-movflags", "+faststart"])  # fmt: skip
    cut.write_bytes(cut.read_bytes()[: int(cut.stat().st_size * 0.6)])
    write_video(train / "single", clip[:1], "folder")
    mixed = write_video(train / "mixed", clip, "folder")
    iio.imwrite(mixed / "0000009.png", np.zeros((SIZE + 4, SIZE, 3), np.uint8))
    grey = write_video(train / "grey", clip[:2], "folder")
    iio.imwrite(grey / "0000000.png", np.zeros((SIZE, SIZE), np.uint8))
    iio.imwrite(grey / "0000001.png", np.zeros((SIZE, SIZE, 4), np.uint8))
    deep = write_video(train / "deep", clip[:2], "folder")
    iio.imwrite(deep / "0000000.png", np.zeros((SIZE, SIZE), np.uint16))
    write_video(train / "big.gif", np.random.default_rng(0).random((3, SIZE * 2, SIZE * 2, 3)), "gif")
    (train / "readme.txt").write_text("hello")


def test_each_bad_file_gets_its_own_message(tmp_path, clip):
    good_dataset(tmp_path)
    add_bad_files(tmp_path, clip)
    found = problems(check_dataset(tmp_path, frame_shape=(SIZE, SIZE, 3)))
    by_file = {}
    for name, severity, problem in found:
        by_file.setdefault(name, []).append((severity, problem))
    assert any(s == "error" and "unreadable or truncated" in p for s, p in by_file["truncated.mp4"])
    assert any(s == "error" and "truncated video: decoded" in p for s, p in by_file["cut_short.mp4"])
    assert any(s == "error" and "at least 2" in p for s, p in by_file["single"])
    assert any(s == "error" and "different sizes" in p for s, p in by_file["mixed"])
    assert any(s == "warning" and "grayscale" in p for s, p in by_file["grey"])
    assert any(s == "warning" and "RGBA" in p for s, p in by_file["grey"])
    assert any(s == "warning" and "16-bit" in p for s, p in by_file["deep"])
    assert any(s == "error" and "frame_shape" in p for s, p in by_file["big.gif"])
    assert any(s == "error" and "not a video" in p for s, p in by_file["readme.txt"])
    assert not any(name.startswith("rigid") for name in by_file)  # the good files are not blamed


def test_cli_prints_fixes_and_a_summary_and_exits_non_zero(tmp_path, clip, capsys):
    good_dataset(tmp_path)
    add_bad_files(tmp_path, clip)
    code = main(["check-dataset", str(tmp_path), "--frame-shape", str(SIZE), str(SIZE)])
    out = capsys.readouterr().out
    assert code == 1
    assert "fix:" in out and "Summary:" in out and "truncated.mp4" in out


def test_split_problems_and_id_naming(tmp_path, clip):
    (tmp_path / "train").mkdir()
    write_video(tmp_path / "train" / "plain.gif", clip, "gif")
    report = check_dataset(tmp_path, id_sampling=True)
    text = " ".join(f.problem for f in report.findings)
    assert "no test/ folder" in text
    (tmp_path / "test").mkdir()
    report = check_dataset(tmp_path, id_sampling=True)
    text = " ".join(f.problem for f in report.findings)
    assert "test split is empty" in text and "no '#'" in text


def test_config_gives_frame_shape_and_missing_folder_is_reported(tmp_path, capsys):
    config = tmp_path / "cfg.yaml"
    config.write_text(
        "dataset_params:\n  root_dir: %s\n  frame_shape: [16, 16, 3]\n" % (tmp_path / "data")
        + "model_params:\n  common_params: {num_kp: 10}\n  kp_detector_params: {}\n"
        + "  generator_params: {}\n  discriminator_params: {}\n"
    )
    good_dataset(tmp_path / "data")
    code = main(["check-dataset", "--config", str(config)])
    out = capsys.readouterr().out
    assert code == 1 and "frame_shape is 16x16" in out
    assert main(["check-dataset", str(tmp_path / "nowhere")]) == 1
    assert "does not exist" in capsys.readouterr().out


def test_training_can_refuse_a_bad_dataset_up_front(tmp_path, clip):
    from fomm_teach.data.check import require_valid_dataset
    from fomm_teach.errors import FommTeachError

    good_dataset(tmp_path)
    params = {"root_dir": str(tmp_path), "frame_shape": [SIZE, SIZE, 3]}
    assert require_valid_dataset(params).errors == []
    add_bad_files(tmp_path, clip)
    with pytest.raises(FommTeachError, match="truncated.mp4"):
        require_valid_dataset(params)


def test_synthetic_dataset_command_writes_a_dataset_that_checks_clean(tmp_path, capsys):
    out = tmp_path / "synth"
    assert main(["synthetic-dataset", str(out), "--level", "rigid", "--layout", "png", "--train", "3",
                 "--test", "1", "--size", "24", "--frames", "4", "--clips-per-id", "2"]) == 0  # fmt: skip
    assert sorted(p.name for p in (out / "train").iterdir()) == ["id0000#000.png", "id0000#001.png", "id0001#000.png"]
    assert main(["check-dataset", str(out), "--frame-shape", "24", "24", "--id-sampling"]) == 0
    assert "no problems found" in capsys.readouterr().out
