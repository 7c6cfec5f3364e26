"""The authors' dataset classes (spec section 8.2): ``FramesDataset``, ``DatasetRepeater``,
``PairedDataset``, reading every layout of :mod:`fomm_teach.data.video_io`.

Split rules. If ``root/train`` exists, ``root/test`` must exist too and they are the split.
Otherwise the entries of ``root`` are split 80/20 as the authors' sklearn
``train_test_split(test_size=0.2, random_state=random_seed)`` does (a seeded permutation; the
first ceil(0.2 n) entries are the test set), over the names in natural order (the authors used the
unsorted ``os.listdir``, so their split could change from machine to machine).

id_sampling. Training items are the unique *ids*, the part of each name before the first ``#``
(``id10001#clip#000.mp4`` has id ``id10001``); each item picks one of the id's entries at
random. This works for every layout, including frame folders without the ``.mp4`` suffix the
authors' glob needed.

Items. Training: ``{'source', 'driving'}`` (3, H, W) float32, two frames at sorted random indices
(chosen with replacement, as the authors'), augmented together, plus ``'name'``. Test: the whole
video as ``'video'`` (3, T, H, W) and ``'name'``. The constructor checks the dataset's layout and
raises ``FommTeachError`` (file + fix) for what it can see without decoding; a bad file met later
raises ``FommTeachError`` naming it, as does a training frame whose size is not ``frame_shape``
(the authors' code would fail later, when the DataLoader stacks a batch). ``fomm-teach
check-dataset`` and :func:`fomm_teach.data.check.require_valid_dataset` check every file up front.
"""

from __future__ import annotations

import csv
import math
import os

import numpy as np
import torch

from fomm_teach.data.augmentation import AllAugmentationTransform
from fomm_teach.data.video_io import frame_files, read_video, video_layout, visible_entries
from fomm_teach.errors import FommTeachError

CHECK_HINT = "Run `fomm-teach check-dataset {root}` for a full list of problems."


def train_test_split_names(names: list[str], random_seed: int = 0, test_size: float = 0.2):
    """Split names as sklearn's ``train_test_split(names, test_size, random_state)``: a
    ``RandomState(seed)`` permutation; its first ceil(test_size n) indices are the test set."""
    num_test = math.ceil(test_size * len(names))
    permutation = np.random.RandomState(random_seed).permutation(len(names))
    test = [names[i] for i in permutation[:num_test]]
    train = [names[i] for i in permutation[num_test:]]
    return train, test


def video_id(name: str) -> str:
    """The id of an entry for id_sampling: the part of its name before the first ``#``."""
    return name.split("#")[0]


def dataset_split(root_dir, random_seed=0):
    """Return (train_dir, train_names, test_dir, test_names) by the authors' split rules."""
    root = os.fspath(root_dir)
    if not os.path.isdir(root):
        raise FommTeachError(f"dataset folder {root} does not exist; check dataset_params.root_dir or the path you gave.")
    train_dir, test_dir = os.path.join(root, "train"), os.path.join(root, "test")
    if os.path.isdir(train_dir):
        if not os.path.isdir(test_dir):
            raise FommTeachError(
                f"{root} has a train/ folder but no test/ folder; create {test_dir} with at least one "
                "video, or move the videos out of train/ so that the 80/20 split is used."
            )
        return train_dir, visible_entries(train_dir), test_dir, visible_entries(test_dir)
    train, test = train_test_split_names(visible_entries(root), random_seed)
    return root, train, root, test


class FramesDataset(torch.utils.data.Dataset):
    """Videos of a dataset folder in the authors' layouts (module docstring), same arguments as the
    authors' class. ``generator`` (ours) fixes the frame choice and augmentation for tests."""

    def __init__(
        self,
        root_dir,
        frame_shape=(256, 256, 3),
        id_sampling=False,
        is_train=True,
        random_seed=0,
        pairs_list=None,
        augmentation_params=None,
        generator=None,
    ):
        self.root_dir, self.frame_shape = os.fspath(root_dir), tuple(frame_shape)
        self.id_sampling, self.is_train, self.pairs_list = id_sampling, is_train, pairs_list
        self.generator = generator
        train_dir, train_names, test_dir, test_names = dataset_split(self.root_dir, random_seed)
        self.folder, names = (train_dir, train_names) if is_train else (test_dir, test_names)
        split = "train" if is_train else "test"
        if not names:
            raise FommTeachError(
                f"{self.root_dir}: the {split} split is empty; add videos to {self.folder}. "
                + CHECK_HINT.format(root=self.root_dir)
            )
        unknown = [name for name in names if video_layout(os.path.join(self.folder, name)) is None]
        if unknown:
            shown = ", ".join(unknown[:5]) + (" ..." if len(unknown) > 5 else "")
            raise FommTeachError(
                f"{self.folder}: {len(unknown)} entries are not videos ({shown}); a video is a folder of "
                "frames, a horizontal PNG strip, or an .mp4/.gif/.mov file. Move the others out. "
                + CHECK_HINT.format(root=self.root_dir)
            )
        self.videos = names
        if id_sampling and is_train:
            self.entries_by_id: dict[str, list[str]] = {}
            for name in names:
                self.entries_by_id.setdefault(video_id(name), []).append(name)
            self.videos = sorted(self.entries_by_id)
        self.transform = AllAugmentationTransform(**augmentation_params) if is_train and augmentation_params else None

    def __len__(self):
        return len(self.videos)

    def _random_index(self, high: int) -> int:
        return int(torch.randint(high, (), generator=self.generator))

    def __getitem__(self, index):
        name = self.videos[index]
        if self.id_sampling and self.is_train:
            choices = self.entries_by_id[name]
            name = choices[self._random_index(len(choices))]
        path = os.path.join(self.folder, name)
        if not self.is_train:
            video = read_video(path, self.frame_shape)  # (T, H, W, 3)
            return {"video": torch.from_numpy(video).permute(3, 0, 1, 2), "name": name}  # (3, T, H, W)
        count = len(frame_files(path)) if os.path.isdir(path) else None
        if count is None:
            video = read_video(path, self.frame_shape)  # (T, H, W, 3)
            count = len(video)
        if count < 2:
            raise FommTeachError(f"{path}: {count} frame(s); a training video needs at least 2. Remove it.")
        pair = sorted(self._random_index(count) for _ in range(2))  # with replacement, as the authors'
        frames = read_video(path, self.frame_shape, pair) if os.path.isdir(path) else video[pair]
        clip = torch.from_numpy(frames).permute(0, 3, 1, 2)  # (2, 3, H, W)
        if self.transform is not None:
            clip = self.transform(clip, self.generator)
        if tuple(clip.shape[-2:]) != self.frame_shape[:2]:  # would break batching in the DataLoader
            raise FommTeachError(
                f"{path}: training frames are {clip.shape[-2]}x{clip.shape[-1]} but frame_shape is "
                f"{self.frame_shape[0]}x{self.frame_shape[1]}; resize the videos, set frame_shape to their "
                "size, or add augmentation_params.crop_param. " + CHECK_HINT.format(root=self.root_dir)
            )
        return {"source": clip[0].contiguous(), "driving": clip[1].contiguous(), "name": name}


class DatasetRepeater(torch.utils.data.Dataset):
    """``num_repeats`` passes over a dataset as one epoch: length x num_repeats, index modulo length."""

    def __init__(self, dataset, num_repeats=100):
        self.dataset, self.num_repeats = dataset, num_repeats

    def __len__(self):
        return self.num_repeats * len(self.dataset)

    def __getitem__(self, index):
        return self.dataset[index % len(self.dataset)]


class PairedDataset(torch.utils.data.Dataset):
    """(driving, source) pairs of test videos for animation, as the authors' ``PairedDataset``.

    With a pairs CSV (columns ``distance, source, driving, frame``) the rows whose source and driving
    are both test videos are used, the first ``number_of_pairs`` of them. Otherwise numpy seeded
    with ``seed`` draws ``number_of_pairs`` distinct index pairs from the m x m grid,
    m = min(number_of_pairs, len(dataset)). Items: ``driving_video``, ``source_video``, names.
    """

    def __init__(self, initial_dataset, number_of_pairs, seed=0):
        self.initial_dataset = initial_dataset
        pairs_list = getattr(initial_dataset, "pairs_list", None)
        if pairs_list is None:
            size = min(number_of_pairs, len(initial_dataset))
            rng = np.random.RandomState(seed)
            chosen = rng.choice(size * size, size=min(size * size, number_of_pairs), replace=False)
            self.pairs = [(int(i) // size, int(i) % size) for i in chosen]
        else:
            if not os.path.isfile(pairs_list):
                raise FommTeachError(f"pairs list {pairs_list} does not exist; fix dataset_params.pairs_list or remove it.")
            position = {name: i for i, name in enumerate(initial_dataset.videos)}
            with open(pairs_list, newline="") as handle:
                rows = [row for row in csv.DictReader(handle) if row["source"] in position and row["driving"] in position]
            self.pairs = [(position[row["driving"]], position[row["source"]]) for row in rows[:number_of_pairs]]

    def __len__(self):
        return len(self.pairs)

    def __getitem__(self, index):
        driving, source = self.pairs[index]
        first, second = self.initial_dataset[driving], self.initial_dataset[source]
        return {
            "driving_video": first["video"],
            "source_video": second["video"],
            "driving_name": first["name"],
            "source_name": second["name"],
        }
