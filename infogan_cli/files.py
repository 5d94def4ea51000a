"""Atomic file writes: a crash, a kill or a full disk never leaves a half-written file in place.

Light on imports (no torch) so that commands which only read or plot stay fast.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path


def atomic_write(path: Path, write: Callable[[str], None]) -> Path:
    """Call ``write(temporary_path)``, fsync the result, then rename it over ``path``.

    The temporary file lives in the same folder (so the rename is atomic) and is removed on any
    failure, leaving the previous ``path`` untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        os.chmod(tmp_name, 0o666 & ~_current_umask())  # mkstemp makes 0600; give the usual mode
        write(tmp_name)
        with open(tmp_name, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        try:
            os.unlink(tmp_name)
        except FileNotFoundError:
            pass
        raise
    _fsync_dir(path.parent)
    return path


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    def write(tmp_name: str) -> None:
        with open(tmp_name, "wb") as handle:
            handle.write(data)

    return atomic_write(Path(path), write)


def atomic_link(source: Path, target: Path) -> Path:
    """Make ``target`` the same file as ``source`` (a hard link; a copy where links are not
    supported), replacing ``target`` atomically. Safe because we never modify files in place."""

    def link(tmp_name: str) -> None:
        os.unlink(tmp_name)
        try:
            os.link(source, tmp_name)
        except OSError:
            shutil.copyfile(source, tmp_name)

    return atomic_write(Path(target), link)


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
