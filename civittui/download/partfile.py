"""The `.part` file of a download, its `.part.ranges` control file, and hashing it back.

Blocking functions: call them from a worker thread (`anyio.to_thread.run_sync`).

A `.part` without a control file holds a contiguous prefix of the object (one stream wrote it).
A control file is written *before* a `.part` is preallocated to full size, and removed only
after the `.part` is renamed or deleted, so a preallocated (sparse) `.part` is never mistaken
for a prefix.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path

from civittui.fsio import write_text_atomic

__all__ = [
    "ControlData",
    "PartWriter",
    "PrefixHasher",
    "control_path",
    "fsync_path",
    "part_path",
    "read_control",
    "read_head",
    "remove_quietly",
    "write_control",
]

_O_BINARY = getattr(os, "O_BINARY", 0)  # Windows: no newline translation
_READ_BLOCK = 1 << 20
_MAX_IOV = 512
"""Buffers per `pwritev` (the system's limit is 1024 or more)."""
CONTROL_VERSION = 1


def part_path(dest: Path) -> Path:
    """`model.safetensors` -> `model.safetensors.part`."""
    return dest.with_name(dest.name + ".part")


def control_path(dest: Path) -> Path:
    """`model.safetensors` -> `model.safetensors.part.ranges`."""
    return dest.with_name(dest.name + ".part.ranges")


@dataclass(slots=True)
class ControlData:
    """What a control file records about a segmented `.part`."""

    total: int
    done: list[tuple[int, int]] = field(default_factory=list)
    """Completed half-open byte intervals."""
    sha256: str | None = None
    """The expected digest the download was started for (a different one means a new file)."""
    content_type: str | None = None


def read_control(path: Path) -> ControlData | None:
    """Read a control file.

    Args:
        path: the `.part.ranges` file.

    Returns:
        Its data, or None when it is missing, unreadable or not ours.
    """
    try:
        raw = json.loads(path.read_bytes())
        if raw.get("version") != CONTROL_VERSION:
            return None
        total = int(raw["total"])
        done = [(int(a), int(b)) for a, b in raw.get("done", [])]
        sha = raw.get("sha256")
        ctype = raw.get("content_type")
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return None
    if total < 0 or any(not 0 <= a <= b <= total for a, b in done):
        return None
    return ControlData(
        total,
        done,
        sha if isinstance(sha, str) else None,
        ctype if isinstance(ctype, str) else None,
    )


def write_control(path: Path, data: ControlData) -> None:
    """Write a control file atomically (`civittui.fsio`).

    Args:
        path: the `.part.ranges` file.
        data: what to record.
    """
    payload = {
        "version": CONTROL_VERSION,
        "total": data.total,
        "done": [list(i) for i in data.done],
        "sha256": data.sha256,
        "content_type": data.content_type,
    }
    # Rewritten often, so not fsynced; atomic so a resume never reads half of one.
    write_text_atomic(path, json.dumps(payload, separators=(",", ":")), fsync=False)


def remove_quietly(*paths: Path) -> None:
    """Delete files that may not exist."""
    for path in paths:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def fsync_path(path: Path) -> None:
    """Flush a file's data to the disk."""
    fd = os.open(path, os.O_RDWR | _O_BINARY)  # Windows cannot flush a read-only handle
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def read_head(path: Path, count: int) -> bytes:
    """The first `count` bytes of a file (fewer if it is shorter)."""
    with path.open("rb") as fh:
        return fh.read(count)


class PartWriter:
    """Writes at given offsets of the `.part`: `os.pwrite` where it exists, else seek + write.

    Each connection has its own writer, so seek + write (Windows) never races another range.
    The file is opened (created if missing) by the first call that needs it, in whichever
    thread makes it, so making a writer on the event loop costs no system call.

    Args:
        path: the `.part` file.
    """

    def __init__(self, path: Path) -> None:
        self._path = path
        self._fd = -1
        self._closed = False

    def _handle(self) -> int:
        if self._fd < 0:
            if self._closed:
                raise ValueError("write to a closed PartWriter")
            self._fd = os.open(self._path, os.O_RDWR | os.O_CREAT | _O_BINARY, 0o644)
        return self._fd

    def write_at(self, offset: int, data: bytes | bytearray | memoryview) -> None:
        """Write all of `data` at `offset`."""
        fd = self._handle()
        view = memoryview(data)
        while view:
            if hasattr(os, "pwrite"):
                written = os.pwrite(fd, view, offset)
            else:  # Windows
                os.lseek(fd, offset, os.SEEK_SET)
                written = os.write(fd, view)
            view = view[written:]
            offset += written

    def write_chunks_at(self, offset: int, chunks: list[bytes]) -> None:
        """Write `chunks` one after another from `offset` (one `pwritev` where it exists)."""
        if len(chunks) > _MAX_IOV:  # many tiny reads (a slow server): one buffer
            chunks = [b"".join(chunks)]
        if len(chunks) == 1 or not hasattr(os, "pwritev"):
            for chunk in chunks:
                self.write_at(offset, chunk)
                offset += len(chunk)
            return
        written = os.pwritev(self._handle(), chunks, offset)
        for chunk in chunks:  # a short write (rare on a file): the rest one chunk at a time
            if written < len(chunk):
                self.write_at(offset + written, memoryview(chunk)[written:])
            written = max(written - len(chunk), 0)
            offset += len(chunk)

    def truncate(self, size: int) -> None:
        """Set the file's size (a sparse preallocation when growing)."""
        os.ftruncate(self._handle(), size)

    def size(self) -> int:
        """Current size of the file."""
        return os.fstat(self._handle()).st_size

    def close(self) -> None:
        """Close the descriptor (idempotent); a writer that never wrote still leaves the file
        (an empty body is an empty file)."""
        if self._closed:
            return
        self._handle()
        os.close(self._fd)
        self._fd = -1
        self._closed = True


class PrefixHasher:
    """SHA256 of a file that is assembled out of order, advanced over its contiguous prefix.

    Bytes at `offset` can be fed from memory as they are written (`update`), or read back from
    the file (`catch_up`). `busy` marks that a thread is using the hasher: whoever `claim`ed
    it (from any thread) clears it.
    """

    def __init__(self) -> None:
        self._hash = hashlib.sha256()
        self.offset = 0
        self.busy = False
        self._lock = threading.Lock()

    def reset(self) -> None:
        """Start over at offset 0."""
        self._hash = hashlib.sha256()
        self.offset = 0

    def claim(self, offset: int) -> bool:
        """Reserve the hasher for bytes starting at `offset`; False if not next or busy."""
        with self._lock:
            if self.busy or offset != self.offset:
                return False
            self.busy = True
            return True

    def update(self, data: bytes | bytearray | memoryview) -> None:
        """Hash bytes that sit at `offset` (from a thread that claimed the hasher)."""
        self._hash.update(data)
        self.offset += len(data)

    def catch_up(self, path: Path, upto: int) -> None:
        """Hash the file from `offset` to `upto`, reading it back in 1 MiB blocks.

        Raises:
            OSError: the file is shorter than `upto` or cannot be read.
        """
        if upto <= self.offset:
            return
        fd = os.open(path, os.O_RDONLY | _O_BINARY)
        try:
            os.lseek(fd, self.offset, os.SEEK_SET)
            while self.offset < upto:
                block = os.read(fd, min(_READ_BLOCK, upto - self.offset))
                if not block:
                    raise OSError(f"{path.name} ended at byte {self.offset}, expected {upto}")
                self.update(block)
        finally:
            os.close(fd)

    def hexdigest(self) -> str:
        """Lowercase hex digest of the bytes hashed so far."""
        return self._hash.hexdigest()
