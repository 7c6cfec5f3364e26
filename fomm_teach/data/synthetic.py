"""Synthetic videos of articulated puppets, rendered on the fly, with exact ground truth.

Quick use::

    videos = SyntheticVideos("windmill", size=64, num_frames=32, max_gap=8, seed=0)
    clip = videos.video(3)            # clip["frames"]: (T, 3, 64, 64) in [0, 1], plus ground truth
    data = SyntheticPairs(videos)     # a Dataset of {'source', 'driving', ...} like FramesDataset

Video ``index`` of a ``SyntheticVideos`` is a pure function of (level, seed, split, index): its
identity and its motion come from two ``torch.Generator`` streams seeded from those numbers, so the
same seed gives the same video on any machine, in any order, in any DataLoader worker.

Ground-truth convention. All frame coordinates are the normalised (x, y) grid of
``make_coordinate_grid`` (``fomm_teach.keypoints``, also used by ``fomm_teach.motion``):
x = 2j/(W-1) - 1 for column j, y = 2i/(H-1) - 1 for row i, the ``align_corners=True`` convention;
matrices act on column vectors (x, y, 1).

- ``affine`` (T, P, 2, 3): for part k at frame t, the map from the part's *rest-pose* frame
  coordinates to its frame coordinates at t, A_k(t) = M_k(t) M_k(rest)^-1. A pixel z of the driving
  frame that shows part k came from the source position A_k(src) A_k(drv)^-1 z: this is the backward
  map that FOMM's first-order motion approximates around a keypoint
  (T(z) = p_s + J_s J_d^-1 (z - p_d), with J = the 2x2 block of A and p = A applied to a rest point).
- ``masks`` (T, P, H, W): the visible weight of each part after depth compositing (zero where an
  occluder covers it); ``background_mask`` (T, H, W) = 1 - masks.sum(1). P is fixed per level
  (rigid 1, windmill 4, puppet 10); a windmill with two limbs has ``identity['present'][3] == 0``
  and an all-zero mask for the missing one (its affine and joint are still defined).
- ``joints`` (T, P, 2): each part's joint (where it hangs on its parent; for the root, its centre);
  ``centers`` (T, P, 2): each part's shape centre. Both in frame coordinates, (x, y).
- In FOMM's keypoint format (:func:`ground_truth_keypoints`): ``value`` = ``centers`` and
  ``jacobian`` = the 2x2 block of ``affine``. Then FOMM's first-order motion of part k,
  p_s + J_s J_d^-1 (z - p_d), equals A_k(src) A_k(drv)^-1 z exactly (the translation parts cancel).
- ``depth_order`` (P,): part indices from back to front; ``identity``: the identity parameters;
  ``pose`` (T, 4+P): the pose coordinates (layout in :mod:`fomm_teach.data.render`).
"""

from __future__ import annotations

import hashlib

import torch

from fomm_teach.data import puppets
from fomm_teach.data.render import render

SPLITS = ("train", "test")


def stream_generator(seed: int, split: str, index: int, stream: str) -> torch.Generator:
    """A CPU generator for one random stream of one video, seeded from all four names.

    The seed is a hash, so nearby indices give unrelated streams and no two (split, index, stream)
    share one.
    """
    digest = hashlib.sha256(f"fomm_teach/{seed}/{split}/{index}/{stream}".encode()).digest()
    return torch.Generator(device="cpu").manual_seed(int.from_bytes(digest[:8], "little") >> 1)


def stack_dicts(items: list[dict]) -> dict:
    """Stack per-video dicts of tensors along a new first axis; ``parent`` (shared) is kept once."""
    stacked = {key: torch.stack([item[key] for item in items]) for key in items[0] if key != "parent"}
    if "parent" in items[0]:
        stacked["parent"] = items[0]["parent"]
    return stacked


def _to_device(batch: dict, device) -> dict:
    return {key: value.to(device) for key, value in batch.items()}


class SyntheticVideos:
    """An unlimited, indexable collection of synthetic videos of one curriculum level.

    level: ``rigid``, ``windmill`` or ``puppet``; size: frame side in pixels; num_frames: video
    length T; max_gap: largest |t_source - t_driving| of a training pair (default: T - 1);
    seed and split (``train``/``test``) choose disjoint, reproducible collections.
    """

    def __init__(self, level="windmill", size=64, num_frames=32, max_gap=None, seed=0, split="train", device="cpu"):
        self.level = puppets.check_level(level)
        if split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
        if num_frames < 2 or size < 8:
            raise ValueError(f"need num_frames >= 2 and size >= 8, got {num_frames} and {size}")
        self.size, self.num_frames, self.seed, self.split = int(size), int(num_frames), int(seed), split
        self.max_gap = num_frames - 1 if max_gap is None else int(max_gap)
        self.device = torch.device(device)
        self.part_names = puppets.PART_NAMES[self.level]

    def __repr__(self):
        return (
            f"SyntheticVideos({self.level!r}, size={self.size}, num_frames={self.num_frames}, "
            f"max_gap={self.max_gap}, seed={self.seed}, split={self.split!r})"
        )

    # --- random parameters -------------------------------------------------------------------
    def identity(self, index: int) -> dict:
        """Identity parameters of video ``index`` (tensors with the P parts first)."""
        return puppets.sample_identity(self.level, stream_generator(self.seed, self.split, index, "identity"))

    def motion(self, index: int) -> dict:
        """Motion parameters (sinusoid coefficients) of video ``index``."""
        return puppets.sample_motion(self.level, stream_generator(self.seed, self.split, index, "motion"))

    def pair_times(self, index: int, generator: torch.Generator | None = None) -> tuple[int, int]:
        """Frame times (t_source, t_driving) with |t_source - t_driving| <= max_gap.

        t_source is uniform over the video, t_driving uniform over the frames within max_gap of it.
        Without a generator the times are fixed by (seed, split, index).
        """
        g = generator or stream_generator(self.seed, self.split, index, "pair")
        t_source = int(torch.randint(self.num_frames, (), generator=g))
        low, high = max(0, t_source - self.max_gap), min(self.num_frames - 1, t_source + self.max_gap)
        t_driving = int(torch.randint(low, high + 1, (), generator=g))
        return t_source, t_driving

    # --- rendering ---------------------------------------------------------------------------
    def render(self, identities: list[dict], poses: torch.Tensor) -> dict:
        """Render N identities in poses (N, T, 4+P): see :func:`fomm_teach.data.render.render`."""
        identity = _to_device(stack_dicts(identities), self.device)
        result = render(identity, poses.to(self.device), self.size)
        result["depth_order"] = identity["depth"].argsort(dim=1, stable=True)  # (N, P)
        return result

    def poses(self, index: int, times=None) -> torch.Tensor:
        """Poses (T, 4+P) of video ``index`` at the given frame times (default: 0 .. T-1)."""
        times = torch.arange(self.num_frames) if times is None else torch.as_tensor(times)
        times = times.to(torch.float32)
        motion = stack_dicts([self.motion(index)])
        return puppets.evaluate_motion(motion, times[None])[0]  # (T, 4+P)

    def video(self, index: int, times=None, motion_index: int | None = None) -> dict:
        """Frames (T, 3, S, S) in [0, 1] of video ``index`` with its ground truth (module docstring).

        ``motion_index`` moves identity ``index`` with the motion of another video (default: its own),
        e.g. to make several clips of one identity.
        """
        times = torch.arange(self.num_frames) if times is None else torch.as_tensor(times)
        identity = self.identity(index)
        pose = self.poses(index if motion_index is None else motion_index, times)
        result = {key: value[0] for key, value in self.render([identity], pose[None]).items()}
        result.update(identity=identity, pose=pose, times=times, name=self.name(index))
        return result

    def batch(self, indices, times: torch.Tensor) -> dict:
        """Render several videos at once: indices (N,), times (N, T) -> frames (N, T, 3, S, S), ...

        The fast path for training: one vectorised call for a whole batch of pairs.
        """
        indices = [int(i) for i in indices]
        motion = stack_dicts([self.motion(i) for i in indices])
        poses = puppets.evaluate_motion(motion, torch.as_tensor(times, dtype=torch.float32))
        return self.render([self.identity(i) for i in indices], poses)

    def pairs(self, indices, generator: torch.Generator | None = None) -> dict:
        """A batch of training pairs: ``source``/``driving`` (N, 3, S, S) and their ground truth.

        Ground-truth keys are prefixed: ``source_affine``, ``driving_masks``, ... (see
        :meth:`pair_item`), plus ``depth_order`` (N, P) and ``source_time``/``driving_time`` (N,).
        """
        times = torch.tensor([self.pair_times(int(i), generator) for i in indices])  # (N, 2)
        rendered = self.batch(indices, times)
        return _split_pair(rendered, times)

    def cross_identity(self, source_index: int, driving_index: int, times=None) -> dict:
        """Identity B (video ``source_index``) moved by the motion of A (video ``driving_index``).

        The exact target of FOMM's relative motion transfer: B starts in its own first pose and
        takes A's pose *changes*, pose_target(t) = pose_B(0) + pose_A(t) - pose_A(0) (translations,
        log scales and angles add). Returns ``source`` (3, S, S) = B at its frame 0, ``driving``
        (T, 3, S, S) = A's video, ``target`` (T, 3, S, S), and ``target_*``/``driving_*`` ground
        truth (affine, masks, joints, centers).
        """
        times = torch.arange(self.num_frames) if times is None else torch.as_tensor(times)
        pose_a = self.poses(driving_index, times)  # (T, 4+P)
        pose_a0 = self.poses(driving_index, [0])  # (1, 4+P)
        pose_b0 = self.poses(source_index, [0])  # (1, 4+P)
        pose_target = pose_b0 + pose_a - pose_a0  # (T, 4+P)
        rendered = self.render(
            [self.identity(source_index), self.identity(source_index), self.identity(driving_index)],
            torch.stack([pose_b0.expand_as(pose_a), pose_target, pose_a]),
        )  # every value (3, T, ...)
        out = {"source": rendered["frames"][0, 0], "target": rendered["frames"][1], "driving": rendered["frames"][2]}
        for key in ("affine", "masks", "background_mask", "joints", "centers"):
            out["source_" + key] = rendered[key][0, 0]
            out["target_" + key] = rendered[key][1]
            out["driving_" + key] = rendered[key][2]
        out["target_pose"], out["driving_pose"] = pose_target, pose_a
        return out

    def name(self, index: int) -> str:
        return f"{self.level}-{self.split}-{self.seed}-{index:06d}"


def ground_truth_keypoints(affine: torch.Tensor, centers: torch.Tensor) -> dict:
    """Ground truth as FOMM keypoints: ``{'value': centers (..., P, 2), 'jacobian': (..., P, 2, 2)}``.

    affine (..., P, 2, 3) and centers (..., P, 2) from a video or a pair (e.g. ``driving_affine``).
    """
    return {"value": centers, "jacobian": affine[..., :2, :2]}


def _split_pair(rendered: dict, times: torch.Tensor) -> dict:
    """Rendered (N, 2, ...) values -> ``source``/``driving`` and prefixed ground truth (N, ...)."""
    out = {"source": rendered["frames"][:, 0], "driving": rendered["frames"][:, 1]}
    for key in ("affine", "masks", "background_mask", "joints", "centers"):
        out["source_" + key] = rendered[key][:, 0]
        out["driving_" + key] = rendered[key][:, 1]
    out["depth_order"] = rendered["depth_order"]
    out["source_time"], out["driving_time"] = times[:, 0], times[:, 1]
    return out


class SyntheticPairs(torch.utils.data.Dataset):
    """A map-style dataset over ``num_videos`` synthetic videos, shaped like ``FramesDataset``.

    Training (``is_train=True``): item i is a pair of frames of video i at a time gap of at most
    ``videos.max_gap``: ``{'source': (3, S, S), 'driving': (3, S, S), 'name': str}`` plus, with
    ``ground_truth=True``, ``source_affine`` (P, 2, 3), ``source_masks`` (P, S, S), ``source_joints``,
    ``source_centers`` (P, 2), the same for ``driving_``, ``depth_order`` (P,) and the two times.
    The pair's times come from a stream seeded by (seed, split, index), so item i is always the same
    pair; with ``resample=True`` they are drawn from torch's global generator instead (then
    ``torch.manual_seed`` and the DataLoader's per-worker seeds decide them). No augmentation: the
    ground truth would no longer match.
    Test (``is_train=False``): ``{'video': (3, T, S, S), 'name'}`` and, with ground truth,
    ``affine`` (T, P, 2, 3), ``masks``, ``joints``, ``centers``, ``depth_order``.
    """

    def __init__(self, videos: SyntheticVideos, num_videos=10_000, is_train=True, ground_truth=True, resample=False):
        self.videos, self.num_videos, self.is_train = videos, int(num_videos), is_train
        self.ground_truth, self.resample = ground_truth, resample

    def __len__(self):
        return self.num_videos

    def __getitem__(self, index):
        if not 0 <= index < self.num_videos:
            raise IndexError(f"index {index} out of range for {self.num_videos} synthetic videos")
        if self.is_train:
            generator = torch.default_generator if self.resample else None
            times = torch.tensor([self.videos.pair_times(index, generator)])  # (1, 2)
            item = {key: value[0] for key, value in _split_pair(self.videos.batch([index], times), times).items()}
            if not self.ground_truth:
                item = {"source": item["source"], "driving": item["driving"]}
        else:
            clip = self.videos.video(index)
            item = {"video": clip["frames"].permute(1, 0, 2, 3)}  # (3, T, S, S)
            if self.ground_truth:
                item.update({key: clip[key] for key in ("affine", "masks", "background_mask", "joints", "centers", "depth_order")})
        item["name"] = self.videos.name(index)
        return item


class SyntheticBatches(torch.utils.data.IterableDataset):
    """Endless batches of training pairs, each rendered in one vectorised call (the fast path).

    Batch b holds videos ``first_index + b * batch_size`` onwards, with their per-index pair times,
    as returned by :meth:`SyntheticVideos.pairs`. Use it with ``DataLoader(batches, batch_size=None)``;
    with several workers, worker w renders batches w, w + num_workers, ... so none is repeated.
    ``num_batches=None`` never stops.
    """

    def __init__(self, videos: SyntheticVideos, batch_size: int, num_batches: int | None = None, first_index: int = 0):
        self.videos, self.batch_size, self.num_batches, self.first_index = videos, batch_size, num_batches, first_index

    def __iter__(self):
        worker = torch.utils.data.get_worker_info()
        batch, step = (worker.id, worker.num_workers) if worker is not None else (0, 1)
        while self.num_batches is None or batch < self.num_batches:
            start = self.first_index + batch * self.batch_size
            yield self.videos.pairs(range(start, start + self.batch_size))
            batch += step
