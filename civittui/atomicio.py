"""Write files so a crash leaves either the old content or all of the new, never half.

Temp file in the destination's folder (same filesystem, so the rename is atomic), fsync,
`os.replace`, then fsync of the folder on POSIX so the rename itself survives a power cut.
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
import uuid
from pathlib import Path
from typing import Any

__all__ = [
    "replace_file",
    "sweep_stale_temps",
    "temp_beside",
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
    """`os.replace(src, dest)`, retried briefly on Windows.

    There a reader holding `dest` open (indexer, antivirus) makes the rename fail with
    PermissionError for a moment; elsewhere the error is raised at once.
    """
    for delay in (0.05, 0.1, 0.2, 0.4):
        try:
            os.replace(src, dest)
        except PermissionError:
            if os.name != "nt":
                raise
            time.sleep(delay)
        else:
            return
    os.replace(src, dest)


def _fsync_dir(folder: Path) -> None:
    # Makes the rename itself durable on POSIX; Windows cannot open a directory this way.
    if os.name == "nt":
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_bytes_atomic(path: Path, data: bytes) -> None:
    tmp = temp_beside(path)
    # os.open with 0o666 honours the umask, as a plain open() would (mkstemp forces 0600).
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    fd = os.open(tmp, flags, 0o666)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        replace_file(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def write_text_atomic(path: Path, text: str) -> None:
    """Write `text` as UTF-8 so that `path` holds either its old content or all of the new.

    Args:
        path: the destination; its folder must exist.
        text: written as is ("\\n" stays "\\n" on Windows too).

    Raises:
        OSError: the folder is missing or not writable (no temp file is left behind).
    """
    _write_bytes_atomic(Path(path), text.encode("utf-8"))


def write_json_atomic(path: Path, data: Any) -> None:
    """Write `data` as pretty UTF-8 JSON (non-ASCII kept readable), atomically.

    Serialization happens before anything touches the disk, so unserializable data leaves the
    old file as it was.

    Args:
        path: the destination; its folder must exist.
        data: anything `json.dumps` accepts.

    Raises:
        TypeError, ValueError: `data` is not JSON-serializable (nothing written).
        OSError: the write failed (no temp file is left behind).
    """
    text = json.dumps(data, ensure_ascii=False, indent=2) + "\n"
    write_text_atomic(path, text)
