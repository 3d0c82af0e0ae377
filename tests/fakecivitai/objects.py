"""Objects a fake CDN serves: bytes in memory, files on disk, or generated on the fly."""

from __future__ import annotations

import hashlib
import random
import struct
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

CHUNK = 64 * 1024
_HEAD = 16  # every generated chunk starts with (seed, chunk index): no two chunks are equal
_POOL_SIZE = 1 << 20
_pool: bytes | None = None
_pool_lock = threading.Lock()
_sha_cache: dict[tuple[int, int], str] = {}
_MASK = (1 << 64) - 1


def _random_pool() -> bytes:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = random.Random(0xC1717A1).randbytes(_POOL_SIZE + CHUNK)
        return _pool


def generated_chunk(seed: int, index: int) -> bytes:
    """Return chunk ``index`` (64 KiB) of the generated object for ``seed``.

    Chunks are slices of one random pool at offsets derived from (seed, index), prefixed by
    (seed, index), so content is deterministic, cheap, and never periodic (a misplaced
    segment changes the digest).
    """
    pool = _random_pool()
    mixed = ((seed & _MASK) * 0x9E3779B97F4A7C15 + (index + 1) * 0xBF58476D1CE4E5B9) & _MASK
    mixed ^= mixed >> 29
    offset = (mixed * 0x94D049BB133111EB & _MASK) % _POOL_SIZE
    return struct.pack("<QQ", seed & _MASK, index) + pool[offset : offset + CHUNK - _HEAD]


def iter_generated(seed: int, start: int, count: int, piece: int) -> Iterator[bytes]:
    """Yield ``count`` bytes of the generated object from ``start`` in pieces of ~``piece``."""
    end = start + count
    buf = bytearray()
    index = start // CHUNK
    pos = index * CHUNK
    while pos < end:
        chunk = generated_chunk(seed, index)
        lo = max(start - pos, 0)
        hi = min(end - pos, CHUNK)
        buf += chunk[lo:hi]
        if len(buf) >= piece:
            yield bytes(buf)
            buf.clear()
        index += 1
        pos += CHUNK
    if buf:
        yield bytes(buf)


def generated_sha256(seed: int, size: int) -> str:
    """SHA-256 hex of a generated object, computed by streaming once and cached."""
    key = (seed, size)
    cached = _sha_cache.get(key)
    if cached is None:
        digest = hashlib.sha256()
        for piece in iter_generated(seed, 0, size, 1 << 20):
            digest.update(piece)
        cached = digest.hexdigest()
        _sha_cache[key] = cached
    return cached


@dataclass
class StoredObject:
    """One object: exactly one of ``data``, ``path`` or ``seed`` says where its bytes come from."""

    size: int
    content_type: str
    data: bytes | None = None
    path: Path | None = None
    seed: int | None = None
    digest: str | None = None

    def sha256(self) -> str:
        """Hex SHA-256 of the content (computed once)."""
        if self.digest is None:
            if self.data is not None:
                self.digest = hashlib.sha256(self.data).hexdigest()
            elif self.seed is not None:
                self.digest = generated_sha256(self.seed, self.size)
            else:
                assert self.path is not None
                digest = hashlib.sha256()
                with self.path.open("rb") as fh:
                    while block := fh.read(1 << 20):
                        digest.update(block)
                self.digest = digest.hexdigest()
        return self.digest

    def iter_bytes(self, start: int, count: int, piece: int) -> Iterator[bytes]:
        """Yield ``count`` bytes from ``start`` in pieces of at most about ``piece`` bytes."""
        if self.data is not None:
            view = memoryview(self.data)
            for pos in range(start, start + count, piece):
                yield bytes(view[pos : min(pos + piece, start + count)])
        elif self.seed is not None:
            yield from iter_generated(self.seed, start, count, piece)
        else:
            assert self.path is not None
            with self.path.open("rb") as fh:
                fh.seek(start)
                left = count
                while left > 0:
                    block = fh.read(min(piece, left))
                    if not block:
                        return
                    left -= len(block)
                    yield block

    def read(self) -> bytes:
        """The whole content (meant for small objects)."""
        return b"".join(self.iter_bytes(0, self.size, 1 << 20))
