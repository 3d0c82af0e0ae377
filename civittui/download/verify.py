"""Checks on a file another program delivered: SHA256, size, a plausible safetensors header.

The builtin downloader hashes while streaming; the external engines (IDM, aria2) hand over a
finished file, so these helpers read it back once, in a worker thread.
"""

from __future__ import annotations

import hashlib
import json
import struct
from dataclasses import dataclass
from pathlib import Path

import anyio
import anyio.to_thread

from civittui.errors import DownloadError

__all__ = ["SIZE_TOLERANCE", "Verified", "sha256_file", "size_matches", "verify_delivered"]

SIZE_TOLERANCE = 1024
"""Bytes of slack on an announced size: the API's `sizeKB` is a float of bytes/1024. The one
constant for every size comparison (downloader, on-disk checks, external engines)."""

_CHUNK = 1024 * 1024
_SAFETENSORS_MAX_HEADER = 100 * 1024 * 1024  # the format's own limit on the JSON header


@dataclass(frozen=True, slots=True)
class Verified:
    """What a delivered file turned out to be."""

    size: int
    sha256: str
    """Lowercase hex."""


def sha256_file(path: Path) -> str:
    """Hash a file in 1 MiB chunks (memory stays flat whatever the size).

    Args:
        path: the file to read.

    Returns:
        The lowercase hex SHA256 of its bytes.

    Raises:
        OSError: the file cannot be read.
    """
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def size_matches(actual: int, expected: int | None, tolerance: int = SIZE_TOLERANCE) -> bool:
    """True when `actual` is within `tolerance` bytes of `expected` (or nothing was expected)."""
    return expected is None or abs(actual - expected) <= tolerance


def size_difference(actual: int, expected: int | None) -> str | None:
    """`got 262,144 bytes of 228,588,904` when the sizes differ (beyond tolerance), else None.

    Put before a hash mismatch: a body hundreds of times too short is an error page or a cut
    transfer, which the digests alone do not say.
    """
    if size_matches(actual, expected):
        return None
    return f"got {actual:,} bytes of {expected:,}"


def _looks_like_safetensors(path: Path) -> bool:
    """A safetensors file starts with a little-endian u64 header length, then a JSON object."""
    with path.open("rb") as fh:
        head = fh.read(8)
        if len(head) != 8:
            return False
        (length,) = struct.unpack("<Q", head)
        if not 2 <= length <= _SAFETENSORS_MAX_HEADER:
            return False
        header = fh.read(length)
    if len(header) != length:
        return False
    try:
        return isinstance(json.loads(header), dict)
    except (ValueError, RecursionError):  # a header nested thousands deep is not one
        return False


def _verify_sync(
    path: Path,
    name: str,
    expected_sha256: str | None,
    expected_size: int | None,
    check_safetensors: bool,
) -> Verified:
    try:
        size = path.stat().st_size
        differs = size_difference(size, expected_size)
        if differs:
            raise DownloadError(f"{name}: {differs}")
        if check_safetensors and not expected_sha256 and not _looks_like_safetensors(path):
            raise DownloadError(f"{name} is not a safetensors file (an error page?)")
        digest = sha256_file(path)
    except OSError as exc:
        raise DownloadError(f"cannot read {name}: {exc.strerror or exc}") from None
    if expected_sha256 and digest != expected_sha256.lower():
        raise DownloadError(
            f"SHA256 mismatch for {name}: expected {expected_sha256.lower()[:16]}…, "
            f"got {digest[:16]}…"
        )
    return Verified(size=size, sha256=digest)


async def verify_delivered(
    path: Path,
    *,
    expected_sha256: str | None,
    expected_size: int | None,
    check_safetensors: bool = False,
    delete_on_failure: bool = True,
) -> Verified:
    """Verify a file an external program put at `path`; a bad file is deleted.

    Args:
        path: the delivered file.
        expected_sha256: hex digest from the API (any case), or None.
        expected_size: bytes the API announced (±`SIZE_TOLERANCE`), or None.
        check_safetensors: without a known hash, reject a body that is not safetensors.
        delete_on_failure: remove the file when it does not verify, so nothing bad keeps
            the final name.

    Returns:
        The file's size and lowercase SHA256.

    Raises:
        DownloadError: unreadable, wrong size, not safetensors, or SHA256 mismatch.
    """
    try:
        return await anyio.to_thread.run_sync(
            _verify_sync, path, path.name, expected_sha256, expected_size, check_safetensors
        )
    except DownloadError:
        if delete_on_failure:
            await anyio.Path(path).unlink(missing_ok=True)
        raise
