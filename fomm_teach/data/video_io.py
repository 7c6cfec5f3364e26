"""Read and write videos in every on-disk layout of the authors' datasets (spec section 8.1).

A *video* is one entry of a dataset folder, in one of these layouts:

- a **folder of frames** (``.png``/``.jpg``/...), read in natural numeric order
  (``2.png`` before ``10.png``; the authors' code used the lexicographic ``os.listdir`` order);
- a **PNG/JPEG strip**: one image holding all frames side by side along the width, (H, N*W, 3);
  the frame width W comes from ``frame_shape`` (the only use of ``frame_shape`` in reading);
- a **video file**: ``.mp4``, ``.gif``, ``.mov`` (read with imageio).

Frames come back as float32 numpy arrays (T, H, W, 3) in [0, 1]: grey images are made RGB, alpha
is dropped, 8- and 16-bit integers are scaled by their maximum. Any problem raises
``FommTeachError`` naming the file and the fix.

For animation (``fomm-teach animate``, chapter 07) the same module reads a source image and a
driving video of any size, brings both to the model's frame size in one way (:func:`fit_frames`:
centre crop to a square, then an antialiased resize), and writes the result as ``.mp4`` (at the
driving video's frame rate, with its audio track when it has one), ``.gif`` or a PNG strip, into a
temporary file that is renamed only once complete (:func:`write_animation`).
"""

from __future__ import annotations

import os
import re
import subprocess
import warnings
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from fomm_teach.errors import FommTeachError

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp")
STRIP_EXTENSIONS = (".png", ".jpg", ".jpeg")
VIDEO_EXTENSIONS = (".mp4", ".gif", ".mov")
LAYOUTS = ("folder", "png", "mp4", "gif")


def natural_key(name: str):
    """Sort key that orders embedded numbers by value: frame2 < frame10."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", name)]


def visible_entries(folder) -> list[str]:
    """Names in ``folder`` in natural order, without hidden files (``.DS_Store``, ``.ipynb_checkpoints``)."""
    return sorted((name for name in os.listdir(folder) if not name.startswith(".")), key=natural_key)


def frame_files(folder) -> list[str]:
    """Image files of a frame folder, in natural numeric order (full paths)."""
    return [os.path.join(folder, name) for name in visible_entries(folder) if name.lower().endswith(IMAGE_EXTENSIONS)]


def video_layout(path) -> str | None:
    """``'folder'``, ``'strip'`` or ``'video'`` for a dataset entry, ``None`` if it is none of them."""
    path = Path(path)
    if path.is_dir():
        return "folder"
    suffix = path.suffix.lower()
    if suffix in STRIP_EXTENSIONS:
        return "strip"
    if suffix in VIDEO_EXTENSIONS:
        return "video"
    return None


def to_float_rgb(image: np.ndarray, source) -> np.ndarray:
    """An image (H, W[, C]) of any integer or float type -> float32 (H, W, 3) in [0, 1]."""
    image = np.asarray(image)
    if image.dtype == np.uint8:
        image = image.astype(np.float32) / 255.0
    elif image.dtype == np.uint16:
        image = image.astype(np.float32) / 65535.0
    elif image.dtype == bool or np.issubdtype(image.dtype, np.floating):
        image = image.astype(np.float32)
    else:
        raise FommTeachError(f"{source}: pixel type {image.dtype} is not supported; save it as 8-bit RGB PNG.")
    if image.ndim == 2:
        image = image[:, :, None]
    if image.ndim != 3 or image.shape[-1] not in (1, 2, 3, 4):
        raise FommTeachError(f"{source}: an image of shape {image.shape} is not a picture; expected (H, W, 3).")
    if image.shape[-1] in (1, 2):  # grey (+ alpha)
        image = np.repeat(image[:, :, :1], 3, axis=-1)
    return np.ascontiguousarray(image[:, :, :3])


def read_image(path) -> np.ndarray:
    """One image file -> float32 (H, W, 3) in [0, 1]."""
    import imageio.v3 as iio

    try:
        image = iio.imread(path)
    except Exception as err:  # imageio raises many types for broken files
        raise FommTeachError(f"{path}: cannot read this image ({decoder_message(err)}); re-export it or delete it.") from None
    return to_float_rgb(image, path)


def decode_video_file(path) -> list[np.ndarray]:
    """Decode every frame of an .mp4/.gif/.mov file with imageio; decoder errors propagate."""
    import imageio.v2 as iio2

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return iio2.mimread(path, memtest=False)


def container_metadata(path) -> dict | None:
    """What imageio's reader says of a video file (fps, duration, ...), or None if it cannot open it.

    An unreadable file is reported by the decoder itself, when its frames are read.
    """
    import imageio.v2 as iio2

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            reader = iio2.get_reader(path)
            meta = reader.get_meta_data()
            reader.close()
    except Exception:  # imageio and its plugins raise many types for broken files
        return None
    return meta


def expected_frame_count(path) -> int | None:
    """Frames an .mp4/.mov container announces (duration x fps), or None when it does not say.

    A file cut short after its index (``-movflags +faststart``) still decodes, just with fewer
    frames than this; comparing the two finds it.
    """
    if Path(path).suffix.lower() not in (".mp4", ".mov"):
        return None
    meta = container_metadata(path) or {}
    fps, duration = meta.get("fps"), meta.get("duration")
    if not fps or not duration or duration == float("inf"):
        return None
    return round(fps * duration)


def decoder_message(err: Exception) -> str:
    """The first line of a decoder's error (ffmpeg appends its whole log)."""
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


def read_video_file(path) -> np.ndarray:
    """An .mp4/.gif/.mov file -> float32 (T, H, W, 3)."""
    try:
        frames = decode_video_file(path)
    except Exception as err:  # imageio and its plugins raise many types for broken files
        raise FommTeachError(
            f"{path}: unreadable or truncated video ({decoder_message(err)}). Re-encode it "
            "(e.g. ffmpeg -i in.mp4 -c:v libx264 -pix_fmt yuv420p out.mp4) or delete it."
        ) from None
    return _stack(path, [to_float_rgb(frame, path) for frame in frames])


def _stack(path, frames: list[np.ndarray]) -> np.ndarray:
    sizes = sorted({frame.shape[:2] for frame in frames})
    if len(sizes) > 1:
        raise FommTeachError(f"{path}: frames have different sizes {sizes}; resize them all to one size.")
    if not frames:
        raise FommTeachError(f"{path}: no frames; a video needs at least 2 frames.")
    return np.stack(frames)  # (T, H, W, 3)


def split_strip(image: np.ndarray, frame_width: int, path) -> np.ndarray:
    """A horizontal strip (H, N*W, 3) -> frames (N, H, W, 3)."""
    height, width = image.shape[:2]
    if width % frame_width:
        raise FommTeachError(
            f"{path}: a PNG strip of width {width} is not a whole number of {frame_width}-pixel frames; "
            "frames must lie side by side along the width, each frame_shape[1] wide (check frame_shape)."
        )
    frames = image.reshape(height, width // frame_width, frame_width, 3)  # (H, N, W, 3)
    return np.ascontiguousarray(frames.transpose(1, 0, 2, 3))  # (N, H, W, 3)


def read_video(path, frame_shape=(256, 256, 3), frame_indices=None) -> np.ndarray:
    """Read one dataset entry in any layout -> float32 (T, H, W, 3) in [0, 1].

    ``frame_indices`` (folder layout only) reads just those frames, as the authors' training
    items do for frame folders; other layouts are decoded whole and then indexed.
    """
    layout = video_layout(path)
    if layout == "folder":
        files = frame_files(path)
        if not files:
            raise FommTeachError(f"{path}: this folder holds no image frames (.png/.jpg); add frames or remove it.")
        if frame_indices is not None:
            files = [files[i] for i in frame_indices]
        return _stack(path, [read_image(name) for name in files])
    if layout == "strip":
        video = split_strip(read_image(path), frame_shape[1], path)
    elif layout == "video":
        video = read_video_file(path)
    else:
        raise FommTeachError(
            f"{path}: not a video. Use a folder of frames, a horizontal PNG strip, or .mp4/.gif/.mov; "
            "move other files out of the dataset folder."
        )
    return video if frame_indices is None else video[list(frame_indices)]


def _to_uint8(frames) -> np.ndarray:
    """(T, H, W, 3) or (T, 3, H, W) float in [0, 1] (numpy or torch) -> uint8 (T, H, W, 3)."""
    frames = np.asarray(frames.detach().cpu() if hasattr(frames, "detach") else frames, dtype=np.float32)
    if frames.shape[1] == 3 and frames.shape[-1] != 3:
        frames = frames.transpose(0, 2, 3, 1)  # (T, H, W, 3)
    return (np.clip(frames, 0, 1) * 255 + 0.5).astype(np.uint8)


def write_video(path, frames, layout: str | None = None, fps: float = 25.0) -> Path:
    """Write frames (T, H, W, 3) or (T, 3, H, W) in [0, 1] in one layout; returns the written path.

    layout: ``folder`` (a folder of ``0000000.png`` ...), ``png`` (a horizontal strip), ``mp4`` or
    ``gif``; by default it follows the suffix of ``path`` (no suffix: a folder). A folder may carry
    a ``.mp4`` suffix, as the authors' id_sampling datasets name their frame folders.
    """
    import imageio.v2 as iio2
    import imageio.v3 as iio

    path = Path(path)
    layout = layout or {".png": "png", ".mp4": "mp4", ".gif": "gif"}.get(path.suffix.lower(), "folder")
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {LAYOUTS}, got {layout!r}")
    images = _to_uint8(frames)
    path.parent.mkdir(parents=True, exist_ok=True)
    if layout == "folder":
        path.mkdir(exist_ok=True)
        for index, image in enumerate(images):
            iio.imwrite(path / f"{index:07d}.png", image)
    elif layout == "png":
        iio.imwrite(path, np.concatenate(list(images), axis=1))  # (H, T*W, 3)
    elif layout == "mp4":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            iio2.mimwrite(path, list(images), fps=fps, macro_block_size=1, quality=9)
    else:
        iio2.mimwrite(path, list(images), duration=1000.0 / fps, loop=0)
    return path


# --- animation inputs and outputs (chapter 07) ---------------------------------------------------

ANIMATION_EXTENSIONS = (".mp4", ".gif", ".png")   # what write_animation writes, chosen by extension


def fit_frames(frames: torch.Tensor, size: int) -> torch.Tensor:
    """(N, 3, H, W) of any size or aspect -> (N, 3, size, size): the centred square crop, resized.

    The crop keeps the middle min(H, W) rows and columns; the resize is bilinear with antialiasing
    (align_corners=False), then clamped to [0, 1]. Source and driving frames go through the same.
    """
    height, width = frames.shape[-2:]
    side = min(height, width)
    top, left = (height - side) // 2, (width - side) // 2
    square = frames[..., top:top + side, left:left + side]                                      # (N, 3, side, side)
    if side == size:
        return square.contiguous()
    resized = F.interpolate(square, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
    return resized.clamp(0, 1)                                                                   # (N, 3, size, size)


def video_frame_rate(path) -> float | None:
    """Frames per second of an .mp4/.mov/.gif file as its container states it, or None."""
    if video_layout(path) != "video":
        return None
    meta = container_metadata(path) or {}
    if meta.get("fps"):
        return float(meta["fps"])
    if meta.get("duration"):  # a GIF: milliseconds per frame
        return 1000.0 / float(meta["duration"])
    return None


def read_animation_input(path, role: str) -> tuple[np.ndarray, float | None]:
    """A source image or a driving video for ``fomm-teach animate`` -> (frames (T, H, W, 3), fps or None).

    role: 'source' (one image: .png/.jpg/.bmp) or 'driving' (.mp4/.gif/.mov, a folder of frames, or a
    horizontal PNG strip of square frames). Raises FommTeachError naming the file and the fix.
    """
    path = Path(path)
    if not path.exists():
        raise FommTeachError(f"--{role} {path}: no such file or folder.")
    layout = video_layout(path)
    if role == "source":
        if layout == "video" or layout == "folder":
            raise FommTeachError(f"--source {path}: is a {'video' if layout == 'video' else 'folder'}; "
                                 "give one image (.png, .jpg); pick a frame with e.g. ffmpeg -i in.mp4 -frames:v 1 frame.png.")
        if path.suffix.lower() not in IMAGE_EXTENSIONS:
            raise FommTeachError(f"--source {path}: not an image file (.png, .jpg, .jpeg, .bmp).")
        return read_image(path)[None], None
    if layout is None:
        raise FommTeachError(f"--driving {path}: not a video; give an .mp4/.gif/.mov file, a folder of frames, "
                             "or a horizontal PNG strip.")
    if layout == "strip":
        image = read_image(path)
        height, width = image.shape[:2]
        if width % height:
            raise FommTeachError(f"--driving {path}: an image {width}×{height} is not a strip of square frames side by "
                                 "side (its width must be a multiple of its height); give a video, a folder of "
                                 "frames or such a strip.")
        frames = split_strip(image, height, path)  # square frames side by side
    else:
        frames = read_video(path)
    if len(frames) < 2:
        raise FommTeachError(f"--driving {path}: has {len(frames)} frame; a driving video needs at least 2.")
    return frames, video_frame_rate(path)


def has_audio(path) -> bool:
    """Whether a video file has an audio stream (asks the ffmpeg that imageio-ffmpeg ships)."""
    import imageio_ffmpeg

    if video_layout(path) != "video":
        return False
    probe = subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-i", str(path)],
                           capture_output=True, text=True, check=False)
    return any("Audio:" in line for line in probe.stderr.splitlines() if "Stream #" in line)


def _mux_audio(video_path: Path, audio_from: Path, out_path: Path) -> None:
    """Copy ``video_path``'s picture and ``audio_from``'s first audio track into ``out_path`` (AAC)."""
    import imageio_ffmpeg

    command = [imageio_ffmpeg.get_ffmpeg_exe(), "-y", "-v", "error", "-i", str(video_path), "-i", str(audio_from),
               "-map", "0:v:0", "-map", "1:a:0", "-c:v", "copy", "-c:a", "aac", "-shortest", str(out_path)]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise FommTeachError(f"{audio_from}: could not copy its audio track ({decoder_message(RuntimeError(result.stderr))}).")


def write_animation(path, frames, fps: float = 25.0, audio_from=None) -> Path:
    """Write frames (T, 3, H, W) or (T, H, W, 3) in [0, 1] to ``path`` by its extension, atomically.

    ``.mp4`` (at ``fps``; with ``audio_from``'s audio track when that video has one), ``.gif`` or
    ``.png`` (a horizontal strip). Everything is written to a temporary file beside ``path`` and
    renamed at the end, so a failed or interrupted run leaves no half-written file behind.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in ANIMATION_EXTENSIONS:
        raise FommTeachError(f"{path}: unknown output type {suffix or '(none)'}; use .mp4, .gif or .png (a strip).")
    layout = {".mp4": "mp4", ".gif": "gif", ".png": "png"}[suffix]
    partial = path.with_name(f".{path.stem}.partial{os.getpid()}{suffix}")
    with_audio = partial.with_name(f".{path.stem}.audio{os.getpid()}{suffix}")
    try:
        write_video(partial, frames, layout=layout, fps=fps)
        if layout == "mp4" and audio_from is not None and has_audio(audio_from):
            _mux_audio(partial, Path(audio_from), with_audio)
            os.replace(with_audio, partial)
        os.replace(partial, path)
    finally:
        for leftover in (partial, with_audio):
            leftover.unlink(missing_ok=True)
    return path
