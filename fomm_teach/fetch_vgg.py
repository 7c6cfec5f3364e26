"""``fomm-teach fetch-vgg19``: the ImageNet VGG19 weights of the authors' perceptual loss, on request.

Training never downloads (``train_params.perceptual_backbone: imagenet`` reads the file from
torchvision's cache or ``train_params.vgg19_weights``, see :func:`fomm_teach.losses.load_vgg19_imagenet`).
This command is the explicit opt-in: it fetches torchvision's ``VGG19_Weights.IMAGENET1K_V1``
(548 MB, checked against the hash in its name) into torchvision's cache, or into ``--to FILE``
(e.g. a mounted Google Drive, so that a new Colab runtime need not fetch it again), and says
where the file went. Without network it says, in one line, what to do instead.
"""

from __future__ import annotations

import os
from pathlib import Path

from fomm_teach.errors import FommTeachError


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "fetch-vgg19", help="download the ImageNet VGG19 weights of the perceptual loss (548 MB, once)",
        description="Download torchvision's ImageNet VGG19 weights (VGG19_Weights.IMAGENET1K_V1, 548 MB) for "
                    "perceptual_backbone: imagenet. Training itself never downloads.")
    parser.add_argument("--to", default=None, metavar="FILE", help="file to write (default: torchvision's cache, where training "
                        "looks; elsewhere, name it in train_params.vgg19_weights)")
    parser.add_argument("--no-progress", action="store_true", help="no download progress bar")
    parser.set_defaults(run=run_fetch_vgg19)


def vgg19_url() -> str:
    import torchvision

    return torchvision.models.VGG19_Weights.IMAGENET1K_V1.url


def fetch_vgg19(destination=None, progress: bool = True) -> tuple[Path, bool]:
    """Download the weights to ``destination`` (default: torchvision's cache); return (path, downloaded).

    An existing file is kept (downloaded False). Raises FommTeachError when the download fails.
    """
    import torch

    from fomm_teach.losses import imagenet_vgg19_cache_path

    url = vgg19_url()
    path = Path(destination) if destination else Path(imagenet_vgg19_cache_path())
    if path.is_dir():
        path = path / os.path.basename(url)
    if path.is_file() and path.stat().st_size > 0:
        return path, False
    path.parent.mkdir(parents=True, exist_ok=True)
    hash_prefix = os.path.basename(url).rsplit("-", 1)[-1].split(".")[0]   # vgg19-dcbb9e9d.pth -> dcbb9e9d
    try:
        torch.hub.download_url_to_file(url, str(path), hash_prefix=hash_prefix, progress=progress)
    except Exception as err:   # no network, a proxy, a full disk, a corrupt download (hash mismatch)
        reason = getattr(err, "reason", None) or err
        raise FommTeachError(
            f"could not download the VGG19 weights from {url} ({type(err).__name__}: {reason}). Where there is "
            f"network, run fomm-teach fetch-vgg19 (or fetch that URL) and copy the file to {path}, or name "
            "the copy in train_params.vgg19_weights; or train offline with train_params.perceptual_backbone: "
            "random.") from None
    return path, True


def run_fetch_vgg19(args) -> int:
    path, downloaded = fetch_vgg19(args.to, progress=not args.no_progress)
    where = "" if args.to is None else f"; name it in train_params.vgg19_weights: {path}"
    print(f"{'downloaded' if downloaded else 'already there, kept'}: the ImageNet VGG19 weights are in {path}"
          f"{where}")
    return 0
