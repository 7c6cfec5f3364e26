"""The output folder of a training run: checked before anything is written, never another run's.

A run folder holds ``config.yaml``, ``log.txt`` (one line per epoch), ``train-vis/`` and the
checkpoints ``%08d-checkpoint.pth.tar``. :func:`fomm_teach.train.train` calls, in this order:

1. :func:`check_run_folder` before it writes anything: a fresh run refuses a folder that already
   holds a run (checkpoints or log lines); a resume refuses a folder that holds *another* run, or
   one whose later checkpoints it would overwrite; the folder must be writable and outside the
   installed package (the shipped model lives there).
2. :func:`prepare_run_folder` once every check (config, checkpoint, data) has passed: creates the
   folder, removes temporary files a killed run left, writes ``config.yaml`` atomically and drops
   the log lines of the epochs that will run again, so that a resumed epoch is logged once.

:func:`resume_folder` picks where ``fomm-teach train --resume CKPT`` continues without ``--out``:
the checkpoint's own run folder, or None when the file is not in one (the shipped model, a
downloaded checkpoint): then the run goes to a new folder.
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

from fomm_teach.checkpoint import remove_stale_temporaries
from fomm_teach.errors import FommTeachError

CHECKPOINT_NAME = re.compile(r"^(\d{8})-checkpoint\.pth\.tar$")   # the authors' '%08d-checkpoint.pth.tar'
LOG_LINE = re.compile(r"^(\d{8})\) ")


def run_checkpoints(folder) -> list[Path]:
    """The checkpoints ``%08d-checkpoint.pth.tar`` in ``folder``, oldest first (none if it is no folder)."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    return sorted(path for path in folder.iterdir() if CHECKPOINT_NAME.match(path.name))


def logged_epochs(folder) -> list[int]:
    """The epochs that ``folder/log.txt`` has a line for (empty if there is no log)."""
    log = Path(folder) / "log.txt"
    if not log.is_file():
        return []
    with open(log, encoding="utf-8", errors="replace") as file:
        return [int(match.group(1)) for match in map(LOG_LINE.match, file) if match]


def check_run_folder(out_dir, resume=None) -> None:
    """Raise ``FommTeachError`` unless a run (or the resume of ``resume``) may write into ``out_dir``.

    Writes nothing. See the module docstring for the rules.
    """
    out_dir = Path(out_dir)
    _check_writable(out_dir)
    if _inside_package(out_dir):
        raise FommTeachError(f"output folder {out_dir} is inside the installed fomm_teach package; "
                             "choose a folder of your own (--out DIR).")
    checkpoints, epochs = run_checkpoints(out_dir), logged_epochs(out_dir)
    holds_run = bool(checkpoints or epochs)
    what = (f"checkpoints up to {checkpoints[-1].name}" if checkpoints else f"a log of {len(epochs)} epoch(s)")
    if resume is None:
        if holds_run:
            how = f"resume it with --resume {checkpoints[-1]}" if checkpoints else "delete the folder"
            raise FommTeachError(f"output folder {out_dir} already holds a run ({what}); {how}, "
                                 "or choose another output folder (--out DIR).")
        return
    resume = Path(resume)
    own = resume.parent.resolve() == out_dir.resolve()
    if not own and holds_run:
        raise FommTeachError(f"output folder {out_dir} already holds another run ({what}), not the run of "
                             f"{resume}; give --out a new folder to continue {resume.name} there.")
    if own:
        later = [path for path in checkpoints if path.name > resume.name] if CHECKPOINT_NAME.match(resume.name) else []
        if later:
            raise FommTeachError(
                f"{out_dir} holds later checkpoints than {resume.name} (up to {later[-1].name}); resuming "
                f"from {resume.name} here would overwrite them. Resume from {later[-1]}, or give --out a new "
                f"folder to continue from {resume.name} there.")


def prepare_run_folder(out_dir, config_text: str, start_epoch: int) -> None:
    """Create ``out_dir`` (and ``train-vis/``), write ``config.yaml``, keep the log lines before ``start_epoch``.

    Call it only after every check has passed: this is where the run starts writing.
    """
    out_dir = Path(out_dir)
    (out_dir / "train-vis").mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(out_dir)
    for stale in out_dir.glob(".*.txt.*.tmp"):
        stale.unlink(missing_ok=True)
    for stale in out_dir.glob(".*.yaml.*.tmp"):
        stale.unlink(missing_ok=True)
    atomic_write_text(out_dir / "config.yaml", config_text)
    log = out_dir / "log.txt"
    if log.is_file():
        with open(log, encoding="utf-8", errors="replace") as file:
            lines = file.readlines()
        kept = [line for line in lines if (match := LOG_LINE.match(line)) and int(match.group(1)) < start_epoch
                and line.endswith("\n")]
        if kept != lines:
            atomic_write_text(log, "".join(kept))


def resume_folder(resume) -> Path | None:
    """The folder where a resume of ``resume`` continues by default: its run folder, or None.

    A run folder is one that ``fomm-teach train`` wrote: the checkpoint is named ``%08d-checkpoint.pth.tar``
    and has ``config.yaml`` and ``log.txt`` beside it. A folder inside the installed package (the
    shipped model) or one that cannot be written is never a run's own.
    """
    folder = Path(resume).parent
    if not (CHECKPOINT_NAME.match(Path(resume).name) and (folder / "config.yaml").is_file()
            and (folder / "log.txt").is_file()):
        return None
    if _inside_package(folder) or not os.access(folder, os.W_OK):
        return None
    return folder


def atomic_write_text(path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and a rename: a kill leaves the old file or the new."""
    path = Path(path)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            file.write(text)
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _check_writable(out_dir: Path) -> None:
    """Raise unless ``out_dir`` is a folder that can be written, or can be created as one."""
    if out_dir.exists() and not out_dir.is_dir():
        raise FommTeachError(f"output folder {out_dir} is a file, not a folder; choose a folder (--out DIR).")
    existing = out_dir
    while not existing.exists():
        if existing.parent == existing:
            break
        existing = existing.parent
    if not existing.is_dir():
        raise FommTeachError(f"output folder {out_dir} cannot be created: {existing} is a file, not a folder.")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise FommTeachError(f"output folder {out_dir} cannot be written: no write permission in {existing}, "
                             "or a read-only file system. Choose another folder (--out DIR).")


def _inside_package(folder: Path) -> bool:
    package = Path(__file__).resolve().parent
    try:
        Path(folder).resolve().relative_to(package)
    except ValueError:
        return False
    return True
