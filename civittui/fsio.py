"""The one atomic writer: a crash leaves either a file's old content or all of the new, never half.

Temp file in the destination's folder (same filesystem, so the rename is atomic), optionally
fsync, `os.replace`, then fsync of the folder on POSIX so the rename itself survives a power cut.
Every writer of state, config, sidecars, meta files, lists and control files goes through here.
A writer of many small files skips the per-file fsync and has `sync_files` make a batch durable.
"""

from __future__ import annotations

import ctypes
import functools
import json
import os
import re
import sys
import threading
import time
import uuid
from collections.abc import Callable, Collection, Iterable
from pathlib import Path
from typing import Any

import orjson

__all__ = [
    "batch_sync_available",
    "fsync_dir",
    "replace_file",
    "sweep_stale_temps",
    "sync_files",
    "temp_beside",
    "write_bytes_atomic",
    "write_json_atomic",
    "write_text_atomic",
]


_RUN = uuid.uuid4().hex[:8]
"""This process's mark in its temp names: a sweep never takes a temp of the running process."""
_TEMP_NAME = re.compile(r"\..+\.([0-9a-f]{8})([0-9a-f]{8})?\.tmp", re.DOTALL)
_STALE_AFTER = 60.0
"""Seconds a foreign temp must be untouched before it is taken for a leftover: a second
process writing into a shared `lora_dir` has a fresh one at most for the length of a copy."""
_swept: set[Path] = set()
_swept_lock = threading.Lock()


def temp_beside(path: Path) -> Path:
    """A unique hidden temp name next to `path` (`.{name}.{16 hex}.tmp`).

    The first temp a process makes in a folder also removes that folder's stale temps (see
    `sweep_stale_temps`): a kill -9 between writing a temp and renaming it leaves one behind.
    """
    folder = path.parent
    with _swept_lock:
        first = folder not in _swept
        _swept.add(folder)
    if first:
        sweep_stale_temps(folder)
    return path.with_name(f".{path.name}.{_RUN}{uuid.uuid4().hex[:8]}.tmp")


def sweep_stale_temps(folder: Path, *, older_than: float = _STALE_AFTER) -> int:
    """Delete temps our atomic writes left in `folder` (another process's, unchanged a while).

    Only names of our own pattern are touched (`.{name}.{8 or 16 hex}.tmp`), never one of the
    running process. Errors are ignored: a sweep must never fail the write that triggered it.

    Returns:
        How many were removed.
    """
    removed = 0
    now = time.time()
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return 0
    for entry in entries:
        match = _TEMP_NAME.fullmatch(entry.name)
        if match is None or (match.group(2) is not None and match.group(1) == _RUN):
            continue
        try:
            if entry.is_dir(follow_symlinks=False):
                continue
            if now - entry.stat(follow_symlinks=False).st_mtime < older_than:
                continue
            os.unlink(entry.path)
        except OSError:
            continue
        removed += 1
    return removed


def replace_file(src: Path, dest: Path) -> None:
    """`os.replace(src, dest)`, retried briefly when refused.

    On Windows a reader holding `dest` open (indexer, antivirus, an editor) makes the rename fail
    with PermissionError for a moment; network shares do the same elsewhere. A refusal that lasts
    longer than the retries (~0.75 s) is raised.
    """
    for delay in (0.05, 0.1, 0.2, 0.4):
        try:
            os.replace(src, dest)
        except PermissionError:
            time.sleep(delay)
        else:
            return
    os.replace(src, dest)


def fsync_dir(folder: Path) -> None:
    """Make a rename inside `folder` durable, where the OS allows it; never raises.

    By the time this runs the rename has happened and readers see the new file, so a failure
    here must not report the write as failed. Windows cannot open a folder for fsync (NTFS
    journals the rename itself) and some network or FUSE file systems refuse it: both are
    skipped quietly, and the file is then as durable as that file system makes renames.
    """
    flags = getattr(os, "O_DIRECTORY", None)
    if os.name == "nt" or flags is None:
        return
    try:
        fd = os.open(folder, os.O_RDONLY | flags)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_bytes_atomic(
    path: Path, data: bytes | Iterable[bytes], *, fsync: bool = True, mode: int = 0o666
) -> None:
    """Replace `path` with `data` so a reader or a crash sees the old file or the new one, whole.

    Args:
        path: the destination; its folder must exist.
        data: the new content, or its pieces (written as they are produced).
        fsync: flush the data and the rename to the disk. Without it a power cut may lose the
            new content, but a reader still never sees half a file: bulk rewrites skip it.
        mode: the new file's permission bits (the umask applies, as for `open`).

    Raises:
        OSError: the folder is missing or not writable (no temp file is left behind).
    """
    path = Path(path)
    tmp = temp_beside(path)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    fd = os.open(tmp, flags, mode)
    try:
        with os.fdopen(fd, "wb") as fh:
            for chunk in [data] if isinstance(data, bytes) else data:
                fh.write(chunk)
            if fsync:
                fh.flush()
                os.fsync(fh.fileno())
        replace_file(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    if fsync:
        fsync_dir(path.parent)


def write_text_atomic(path: Path, text: str, *, fsync: bool = True, mode: int = 0o666) -> None:
    """Write `text` as UTF-8 with `write_bytes_atomic` ("\\n" stays "\\n" on Windows too)."""
    write_bytes_atomic(Path(path), text.encode("utf-8"), fsync=fsync, mode=mode)


def write_json_atomic(path: Path, data: Any, *, fsync: bool = True) -> None:
    """Write `data` as pretty UTF-8 JSON (non-ASCII kept readable), atomically.

    Serialization happens before anything touches the disk, so unserializable data leaves the
    old file as it was.

    Raises:
        TypeError, ValueError: `data` is not JSON-serializable (nothing written).
        OSError: the write failed (no temp file is left behind).
    """
    try:
        # json.dumps encodes in pure Python once it indents (~0.1 ms a sidecar, GIL held).
        raw = orjson.dumps(data, option=orjson.OPT_INDENT_2 | orjson.OPT_APPEND_NEWLINE)
    except TypeError:  # what orjson refuses (int keys, huge ints) json.dumps may still write
        raw = (json.dumps(data, ensure_ascii=False, indent=2) + "\n").encode("utf-8")
    write_bytes_atomic(Path(path), raw, fsync=fsync)


def sync_files(paths: Collection[Path]) -> None:
    """Make files written with `fsync=False`, and the renames that named them, durable.

    Each fsync commits the file system's journal (~4 ms on ext4, whatever the file's size), so
    a thousand small files a second cannot each have their own: on Linux one `syncfs` per file
    system holding them writes them all at once; elsewhere each file and each folder is synced
    once. A file (or folder) removed since is skipped.

    Raises:
        OSError: the file system reported a write error.
    """
    if not paths:
        return
    folders = {path.parent for path in paths}
    syncfs = _syncfs()
    if syncfs is not None:
        devices: dict[int, Path] = {}
        for folder in folders:
            try:
                devices.setdefault(os.stat(folder).st_dev, folder)
            except FileNotFoundError:
                continue
        for folder in devices.values():
            fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
            try:
                if syncfs(fd) != 0:
                    err = ctypes.get_errno()
                    raise OSError(err, os.strerror(err), str(folder))
            finally:
                os.close(fd)
        return
    # Windows flushes a file only through a handle open for writing.
    flags = os.O_RDWR | getattr(os, "O_BINARY", 0) if os.name == "nt" else os.O_RDONLY
    for path in paths:
        try:
            fd = os.open(path, flags)
        except FileNotFoundError:
            continue
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    for folder in folders:
        fsync_dir(folder)


def batch_sync_available() -> bool:
    """Whether `sync_files` syncs a batch at once (Linux). Elsewhere it syncs file by file,
    through a second open that a reader holding the file may refuse (Windows): a writer of
    small files does better to fsync each one as it writes it."""
    return _syncfs() is not None


@functools.cache
def _syncfs() -> Callable[[int], int] | None:
    """Linux's `syncfs(2)` (Python does not wrap it), or None."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        call: Callable[[int], int] = ctypes.CDLL(None, use_errno=True).syncfs
    except (OSError, AttributeError):
        return None
    return call
