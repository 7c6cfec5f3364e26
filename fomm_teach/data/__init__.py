"""Data for the course: synthetic puppets with ground truth, and real datasets in the authors' layouts.

- :mod:`~fomm_teach.data.synthetic`: ``SyntheticVideos`` (render any video of a level, with
  ground-truth affines, masks and joints) and ``SyntheticPairs`` (a training dataset of pairs);
- :mod:`~fomm_teach.data.frames`: ``FramesDataset``, ``DatasetRepeater``, ``PairedDataset`` (the
  authors' dataset classes, reading every layout of the spec);
- :mod:`~fomm_teach.data.augmentation`: the authors' augmentations (flip, jitter, resize, crop);
- :mod:`~fomm_teach.data.check`: ``fomm-teach check-dataset``;
- :mod:`~fomm_teach.data.samples`: sample media that load offline.
"""

from fomm_teach.data.synthetic import SyntheticPairs, SyntheticVideos

__all__ = ["SyntheticPairs", "SyntheticVideos"]
