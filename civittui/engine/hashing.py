"""Find model files under folders and hash them at disk speed, off the event loop.

Reads are big (4 MiB into one reused buffer) and `hashlib` releases the GIL while it digests
them, so several threads hash several files at once as fast as the disk gives bytes.
"""

from __future__ import annotations

import hashlib
import os
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import anyio

__all__ = ["MODEL_SUFFIXES", "LocalFile", "hash_files", "scan_model_files", "sha256_of"]

MODEL_SUFFIXES = (".safetensors", ".ckpt", ".pt", ".bin", ".pth")
_CHUNK = 4 * 1024 * 1024
_THREADS = 4


@dataclass(slots=True)
class LocalFile:
    """A model file found on disk."""

    path: Path
    size: int
    mtime_ns: int
    sha256: str | None = None
    cached: bool = False
    """Its hash came from the cache (nothing was read)."""


def scan_model_files(folders: Iterable[Path]) -> list[LocalFile]:
    """Model files under `folders` (recursive; hidden folders and our `.civittui` skipped),
    each once even when two folders overlap."""
    found: dict[Path, LocalFile] = {}
    for folder in folders:
        for dirpath, dirnames, filenames in os.walk(folder):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            for name in sorted(filenames):
                if not name.lower().endswith(MODEL_SUFFIXES):
                    continue
                path = Path(dirpath, name).absolute()
                try:
                    stat = path.stat()
                except OSError:
                    continue
                if path.is_file() and path not in found:
                    found[path] = LocalFile(path, stat.st_size, stat.st_mtime_ns)
    return list(found.values())


def sha256_of(
    path: Path, progress: Callable[[int], None] | None = None, buffer: bytearray | None = None
) -> str:
    """Lower-case hex SHA256 of a file, read in big chunks into one (reusable) buffer."""
    digest = hashlib.sha256()
    buffer = buffer if buffer is not None else bytearray(_CHUNK)
    view = memoryview(buffer)
    with path.open("rb", buffering=0) as fh:
        while n := fh.readinto(buffer):
            digest.update(view[:n])
            if progress is not None:
                progress(n)
    return digest.hexdigest()


async def hash_files(
    files: list[LocalFile],
    *,
    threads: int = _THREADS,
    progress: Callable[[int], None] | None = None,
    on_error: Callable[[LocalFile, OSError], None] | None = None,
) -> None:
    """Fill in `sha256` of each file that has none, in `threads` worker threads.

    Each worker takes the next file from a shared queue and keeps its own buffer, so a folder
    of small files costs no per-file thread hand-off or allocation. `progress` and `on_error`
    are called from the workers.
    """
    todo = deque(f for f in files if f.sha256 is None)

    def worker() -> None:
        buffer = bytearray(_CHUNK)
        while True:
            try:
                file = todo.popleft()  # atomic: workers never take the same file
            except IndexError:
                return
            try:
                file.sha256 = sha256_of(file.path, progress, buffer)
            except OSError as exc:
                if on_error is not None:
                    on_error(file, exc)

    limiter = anyio.CapacityLimiter(max(1, threads))
    async with anyio.create_task_group() as tg:
        for _ in range(min(max(1, threads), len(todo))):
            tg.start_soon(partial(anyio.to_thread.run_sync, worker, limiter=limiter))
