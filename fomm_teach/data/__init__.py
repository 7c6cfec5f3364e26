"""Data for the course: synthetic puppets with ground truth, and real datasets in the authors' layouts.

- :mod:`~fomm_teach.data.synthetic`: ``SyntheticVideos`` (render any video of a level, with
  ground-truth affines, masks and joints) and ``SyntheticPairs`` (a training dataset of pairs);
- :mod:`~fomm_teach.data.frames`: ``FramesDataset``, ``DatasetRepeater``, ``PairedDataset`` (the
  authors' dataset classes, reading every layout of the spec);
- :mod:`~fomm_teach.data.augmentation`: the authors' augmentations (flip, jitter, resize, crop);
- :mod:`~fomm_teach.data.factory`: ``build_dataset(dataset_params)``, real or ``synthetic:LEVEL``;
- :mod:`~fomm_teach.data.video_io`: read and write every on-disk layout;
- :mod:`~fomm_teach.data.check`: ``fomm-teach check-dataset``;
- :mod:`~fomm_teach.data.samples`: sample media that load offline.
"""

from fomm_teach.data.factory import build_dataset
from fomm_teach.data.frames import DatasetRepeater, FramesDataset, PairedDataset
from fomm_teach.data.synthetic import SyntheticBatches, SyntheticPairs, SyntheticVideos, ground_truth_keypoints
from fomm_teach.data.synthetic_disk import write_synthetic_dataset
from fomm_teach.data.video_io import read_video, write_video

__all__ = [
    "DatasetRepeater",
    "FramesDataset",
    "PairedDataset",
    "SyntheticBatches",
    "SyntheticPairs",
    "SyntheticVideos",
    "build_dataset",
    "ground_truth_keypoints",
    "read_video",
    "write_synthetic_dataset",
    "write_video",
]
