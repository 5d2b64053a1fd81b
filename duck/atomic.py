"""Outputs that never lose the user's previous file.

* :func:`check_writable` runs BEFORE the work (a training run, a calibration pose, a
  robot run): a path that cannot be written is a one-line :class:`UserError` while
  nothing has happened yet.
* :func:`atomic_output` / :func:`write_text` / :func:`write_bytes` write a temp file in
  the same folder, fsync it, and rename it over the target (then fsync the folder).
  An exception or Ctrl-C before the rename leaves the old file byte-identical and
  removes the temp file.
* :func:`atomic_outputs` does the same for a file and its sidecars as one unit: all
  are written first, then renamed, the main file last, so a reader that keys on the
  main file (``latest_checkpoint``) never sees it without its sidecars.

Standard library only (the runtime uses it on the robot).
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

from duck.errors import UserError


def _nearest_existing(path: Path) -> Path:
    p = path
    while not p.exists() and p != p.parent:
        p = p.parent
    return p


def check_writable(path: str | Path, *, directory: bool = False, what: str = "output") -> Path:
    """Raise :class:`UserError` unless ``path`` (a file, or a folder if ``directory``) can be
    created or replaced. Missing parent folders are fine if they can be created."""
    p = Path(path)
    if str(path).strip() == "":
        raise UserError(f"{what}: empty path")
    if p.exists() or p.is_symlink():
        mode = p.stat().st_mode if p.exists() else 0
        if directory:
            if not stat.S_ISDIR(mode):
                raise UserError(f"{what} {p}: exists and is not a folder")
        elif stat.S_ISDIR(mode):
            raise UserError(f"{what} {p}: is a folder, expected a file name")
        elif not stat.S_ISREG(mode):
            # Renaming over /dev/null or a FIFO would replace the device node itself.
            raise UserError(f"{what} {p}: not a regular file")
        elif not os.access(p, os.W_OK):
            raise UserError(f"{what} {p}: the file is read-only")
    folder = p if directory and p.is_dir() else _nearest_existing(p.parent if not directory else p)
    if not folder.is_dir():
        raise UserError(f"{what} {p}: {folder} is not a folder")
    try:
        fd, probe = tempfile.mkstemp(prefix=".duck-write-probe-", dir=folder)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise UserError(f"{what} {p}: cannot write in {folder} ({exc.strerror or exc})") from None
    return p


def temp_path(path: Path) -> Path:
    """Hidden temp name next to ``path``, keeping its suffix (writers pick formats by suffix)."""
    return path.with_name(f".{path.stem}.tmp{os.getpid()}{path.suffix}")


def fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_outputs(paths: Sequence[str | Path]) -> Iterator[list[Path]]:
    """Yield temp paths for ``paths``; on normal exit fsync and rename them all (in the given
    order: put the main file last). On any exception, Ctrl-C included, remove the temps and
    leave every target as it was."""
    targets = [Path(p) for p in paths]
    for t in targets:
        t.parent.mkdir(parents=True, exist_ok=True)
    temps = [temp_path(t) for t in targets]
    try:
        yield temps
        for tmp in temps:
            if not tmp.is_file():
                raise OSError(f"the writer did not create {tmp}")
            _fsync_file(tmp)
    except BaseException:
        for tmp in temps:
            with contextlib.suppress(OSError):
                tmp.unlink()
        raise
    for tmp, target in zip(temps, targets):
        os.replace(tmp, target)
    for folder in {t.parent for t in targets}:
        fsync_dir(folder)


@contextlib.contextmanager
def atomic_output(path: str | Path) -> Iterator[Path]:
    """One file: ``with atomic_output(out) as tmp: writer(tmp)``."""
    with atomic_outputs([path]) as (tmp,):
        yield tmp


def write_bytes(path: str | Path, data: bytes) -> Path:
    with atomic_output(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def write_text(path: str | Path, text: str) -> Path:
    return write_bytes(path, text.encode())
