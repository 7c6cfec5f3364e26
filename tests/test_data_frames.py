"""Real-dataset path: every layout round-trips write -> read; split rules; id_sampling; repeater."""

import os

import numpy as np
import pytest
import torch

from fomm_teach.data.factory import build_dataset
from fomm_teach.data.frames import DatasetRepeater, FramesDataset, PairedDataset, train_test_split_names
from fomm_teach.data.synthetic import SyntheticPairs, SyntheticVideos
from fomm_teach.data.synthetic_disk import write_synthetic_dataset
from fomm_teach.data.video_io import natural_key, read_video, write_video
from fomm_teach.errors import FommTeachError

SIZE = 32
# lossless layouts must give back the 8-bit frames; mp4 and gif compress
TOLERANCE = {"folder": 0.5 / 255 + 1e-6, "png": 0.5 / 255 + 1e-6, "mp4": 0.06, "gif": 0.06}


@pytest.fixture(scope="module")
def clip():
    return SyntheticVideos("windmill", size=SIZE, num_frames=6, seed=0).video(0)["frames"]  # (6, 3, S, S)


@pytest.mark.parametrize(
    "layout,name", [("folder", "clip"), ("png", "clip.png"), ("mp4", "clip.mp4"), ("mp4", "clip.mov"), ("gif", "clip.gif")]
)
def test_every_layout_round_trips(tmp_path, clip, layout, name):
    path = write_video(tmp_path / name, clip, layout)
    video = read_video(path, frame_shape=(SIZE, SIZE, 3))
    assert video.shape == (6, SIZE, SIZE, 3) and video.dtype == np.float32
    expected = clip.permute(0, 2, 3, 1).numpy()  # (T, H, W, 3)
    assert np.abs(video - expected).mean() <= TOLERANCE[layout]
    # frame order survives: each frame is closest to its own original
    distances = np.abs(video[:, None] - expected[None]).mean(axis=(2, 3, 4))  # (6, 6)
    assert (distances.argmin(axis=1) == np.arange(6)).all()


def test_frame_folders_are_read_in_natural_numeric_order(tmp_path, clip):
    folder = tmp_path / "video"
    folder.mkdir()
    import imageio.v3 as iio

    frames = (clip.permute(0, 2, 3, 1).numpy() * 255).round().astype(np.uint8)  # (T, H, W, 3)
    for index in range(6):
        iio.imwrite(folder / f"frame{index * 5}.png", frames[index])  # frame0, frame5, frame10, ...
    (folder / ".DS_Store").write_bytes(b"junk")
    video = read_video(folder)
    assert np.allclose(video * 255, frames, atol=0.01)
    assert sorted(["10.png", "2.png", "1.png"], key=natural_key) == ["1.png", "2.png", "10.png"]


def test_grey_rgba_and_16_bit_images_are_converted(tmp_path):
    import imageio.v3 as iio

    grey = (np.arange(16 * 32).reshape(16, 32) % 256).astype(np.uint8)  # (16, 32): two 16x16 frames
    iio.imwrite(tmp_path / "grey.png", grey)
    out = read_video(tmp_path / "grey.png", frame_shape=(16, 16, 3))
    assert out.shape == (2, 16, 16, 3) and np.allclose(out[..., 0], out[..., 2])
    rgba = np.zeros((16, 32, 4), np.uint8)
    rgba[..., 0], rgba[..., 3] = 200, 10
    iio.imwrite(tmp_path / "rgba.png", rgba)
    out = read_video(tmp_path / "rgba.png", (16, 16, 3))
    assert out.shape == (2, 16, 16, 3) and np.allclose(out[..., 0], 200 / 255)
    deep = np.full((16, 32), 65535, np.uint16)  # PIL writes 16-bit PNGs as grey
    iio.imwrite(tmp_path / "deep.png", deep)
    assert np.allclose(read_video(tmp_path / "deep.png", (16, 16, 3)), 1.0)


@pytest.mark.parametrize("layout", ["folder", "png", "mp4", "gif"])
def test_frames_dataset_reads_each_layout_written_by_the_synthetic_writer(tmp_path, layout):
    write_synthetic_dataset(tmp_path, "rigid", layout, num_train=3, num_test=2, size=SIZE, num_frames=5)
    train = FramesDataset(tmp_path, frame_shape=(SIZE, SIZE, 3), is_train=True, generator=torch.Generator().manual_seed(0))
    test = FramesDataset(tmp_path, frame_shape=(SIZE, SIZE, 3), is_train=False)
    assert len(train) == 3 and len(test) == 2
    item = train[1]
    assert item["source"].shape == item["driving"].shape == (3, SIZE, SIZE)
    assert item["source"].dtype == torch.float32
    video = test[0]["video"]
    assert video.shape == (3, 5, SIZE, SIZE)
    original = SyntheticVideos("rigid", size=SIZE, num_frames=5, split="test").video(0)["frames"]
    assert (video.permute(1, 0, 2, 3) - original).abs().mean() < TOLERANCE[layout]  # (T, 3, H, W)
    batch = next(iter(torch.utils.data.DataLoader(DatasetRepeater(train, 4), batch_size=4, shuffle=True)))
    assert batch["source"].shape == (4, 3, SIZE, SIZE)


def test_training_pairs_are_two_frames_of_one_video_in_time_order(tmp_path, clip):
    write_video(tmp_path / "train" / "a", clip, "folder")
    write_video(tmp_path / "test" / "b", clip, "folder")
    dataset = FramesDataset(tmp_path, frame_shape=(SIZE, SIZE, 3), generator=torch.Generator().manual_seed(1))
    frames = clip.numpy()
    for _ in range(10):
        item = dataset[0]
        source_index = np.abs(frames - item["source"].numpy()).mean(axis=(1, 2, 3)).argmin()
        driving_index = np.abs(frames - item["driving"].numpy()).mean(axis=(1, 2, 3)).argmin()
        assert source_index <= driving_index


def test_split_without_train_folder_is_the_seeded_80_20_split(tmp_path, clip):
    for index in range(10):
        write_video(tmp_path / f"v{index}.gif", clip[:2], "gif")
    train = FramesDataset(tmp_path, frame_shape=(SIZE, SIZE, 3), random_seed=3)
    test = FramesDataset(tmp_path, frame_shape=(SIZE, SIZE, 3), random_seed=3, is_train=False)
    assert len(train) == 8 and len(test) == 2 and not set(train.videos) & set(test.videos)
    names = [f"v{i}.gif" for i in range(10)]
    assert train_test_split_names(sorted(names, key=natural_key), 3) == (train.videos, test.videos)
    assert train_test_split_names(names, 3) != train_test_split_names(names, 4)


@pytest.mark.parametrize("layout", ["folder", "mp4"])
def test_id_sampling_groups_clips_by_id_for_folders_too(tmp_path, layout):
    write_synthetic_dataset(tmp_path, "rigid", layout, num_train=6, num_test=1, size=SIZE, num_frames=3, clips_per_id=3)
    dataset = FramesDataset(tmp_path, frame_shape=(SIZE, SIZE, 3), id_sampling=True, generator=torch.Generator().manual_seed(0))
    assert dataset.videos == ["id0000", "id0001"]
    names = {dataset[0]["name"] for _ in range(30)}
    assert names <= {n for n in os.listdir(tmp_path / "train") if n.startswith("id0000#")} and len(names) > 1


def test_paired_dataset_draws_distinct_pairs(tmp_path, clip):
    write_video(tmp_path / "train" / "a.gif", clip[:2], "gif")
    for index in range(3):
        write_video(tmp_path / "test" / f"t{index}.gif", clip[:2], "gif")
    test = FramesDataset(tmp_path, frame_shape=(SIZE, SIZE, 3), is_train=False)
    pairs = PairedDataset(test, number_of_pairs=4)
    assert len(pairs) == 4 and len(set(pairs.pairs)) == 4
    assert pairs[0]["driving_video"].shape == (3, 2, SIZE, SIZE)


@pytest.mark.parametrize(
    "setup,message",
    [
        (lambda root: None, "does not exist"),
        (lambda root: (root / "train").mkdir(parents=True), "no test/ folder"),
        (lambda root: ((root / "train").mkdir(parents=True), (root / "test").mkdir()), "split is empty"),
        (lambda root: (root.mkdir(), (root / "notes.txt").write_text("x"), (root / "b.txt").write_text("x")), "not videos"),
    ],
)
def test_bad_dataset_folders_are_refused_with_a_clear_message(tmp_path, setup, message):
    root = tmp_path / "data"
    setup(root)
    with pytest.raises(FommTeachError, match=message):
        FramesDataset(root, frame_shape=(SIZE, SIZE, 3))


def test_bad_files_raise_fomm_teach_error_naming_the_file(tmp_path, clip):
    write_video(tmp_path / "train" / "good.gif", clip, "gif")
    (tmp_path / "train" / "broken.mp4").write_bytes(b"not a video")
    write_video(tmp_path / "train" / "single", clip[:1], "folder")
    write_video(tmp_path / "test" / "t.gif", clip, "gif")
    dataset = FramesDataset(tmp_path, frame_shape=(SIZE, SIZE, 3))
    with pytest.raises(FommTeachError, match="broken.mp4.*unreadable or truncated"):
        dataset[dataset.videos.index("broken.mp4")]
    with pytest.raises(FommTeachError, match="single.*at least 2"):
        dataset[dataset.videos.index("single")]
    with pytest.raises(FommTeachError, match="whole number"):
        write_video(tmp_path / "strip.png", clip, "png")
        read_video(tmp_path / "strip.png", frame_shape=(SIZE, SIZE - 3, 3))


def test_build_dataset_from_config_params(tmp_path):
    synthetic = build_dataset({"root_dir": "synthetic:rigid", "frame_shape": [SIZE, SIZE, 3], "synthetic_params": {"num_frames": 8, "max_gap": 2, "num_videos": 7}})
    assert isinstance(synthetic, SyntheticPairs) and len(synthetic) == 7 and synthetic.videos.max_gap == 2
    assert synthetic[0]["source"].shape == (3, SIZE, SIZE)
    held_out = build_dataset({"root_dir": "synthetic:rigid", "frame_shape": [SIZE, SIZE, 3]}, is_train=False)
    assert held_out.videos.split == "test"
    with pytest.raises(FommTeachError, match="synthetic_params"):
        build_dataset({"root_dir": "synthetic:unicorn", "frame_shape": [SIZE, SIZE, 3]})
    write_synthetic_dataset(tmp_path, "rigid", "gif", num_train=2, num_test=1, size=SIZE, num_frames=3)
    params = {"root_dir": str(tmp_path), "frame_shape": [SIZE, SIZE, 3], "id_sampling": False,
              "augmentation_params": {"flip_param": {"horizontal_flip": True, "time_flip": True}}}  # fmt: skip
    real = build_dataset(params)
    assert isinstance(real, FramesDataset) and real[0]["driving"].shape == (3, SIZE, SIZE)


def test_wrong_frame_shape_and_worker_errors_surface_as_fomm_teach_errors(tmp_path):
    write_synthetic_dataset(tmp_path, "rigid", "gif", num_train=2, num_test=1, size=SIZE, num_frames=3)
    wrong = FramesDataset(tmp_path, frame_shape=(SIZE * 2, SIZE * 2, 3))
    with pytest.raises(FommTeachError, match="frame_shape is 64x64"):
        wrong[0]
    (tmp_path / "train" / "rigid00001.gif").write_bytes(b"broken")
    dataset = FramesDataset(tmp_path, frame_shape=(SIZE, SIZE, 3))
    loader = torch.utils.data.DataLoader(dataset, batch_size=2, num_workers=1)
    with pytest.raises(FommTeachError, match="rigid00001.gif"):
        next(iter(loader))
