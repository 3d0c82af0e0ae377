"""The last step of a builtin download: hash the rest, check the file, give it its name."""

from __future__ import annotations

from pathlib import Path

from civittui.download.base import DownloadRequest
from civittui.download.builtin import policy
from civittui.download.partfile import (
    PrefixHasher,
    control_path,
    fsync_path,
    part_path,
    read_head,
    remove_quietly,
)
from civittui.download.sniff import extension_for, extension_from_magic, safetensors_header_problem
from civittui.download.verify import size_difference, size_matches
from civittui.errors import DownloadError

__all__ = ["verify_and_rename", "verify_or_remove"]


def verify_or_remove(
    request: DownloadRequest, hasher: PrefixHasher, total: int, content_type: str | None
) -> tuple[Path, str]:
    """`verify_and_rename`; a file that fails verification is deleted (thread)."""
    try:
        return verify_and_rename(request, hasher, total, content_type)
    except DownloadError:
        remove_quietly(part_path(request.dest), control_path(request.dest))
        raise


def verify_and_rename(
    request: DownloadRequest, hasher: PrefixHasher, total: int, content_type: str | None
) -> tuple[Path, str]:
    """Hash what was not hashed in-stream, check size / hash / format, fsync, rename (thread).

    Returns:
        The final path and the lowercase hex SHA256.

    Raises:
        DownloadError: the file is not the one announced.
    """
    part = part_path(request.dest)
    size = part.stat().st_size
    if size != total:
        raise DownloadError(f"size mismatch: expected {total} bytes, got {size}")
    if (
        request.sha256 is None
        and request.expected_size is not None
        and not size_matches(size, request.expected_size)
    ):
        raise DownloadError(f"size mismatch: expected {request.expected_size} bytes, got {size}")
    hasher.catch_up(part, total)
    digest = hasher.hexdigest()
    if request.sha256 is not None and digest != request.sha256.lower():
        differs = size_difference(size, request.expected_size)
        raise DownloadError(
            (f"{differs}: " if differs else "")
            + f"SHA256 mismatch: expected {request.sha256.lower()}, got {digest}"
        )
    head = b""
    if request.check_safetensors or request.pick_extension:
        head = read_head(part, 12)
    if request.check_safetensors:
        _check_safetensors(part, head, total)
    final = request.dest
    if request.pick_extension:
        fallback = extension_from_magic(head) or request.dest.suffix or ".bin"
        final = request.dest.with_suffix(extension_for(content_type, fallback))
    fsync_path(part)
    part.replace(final)
    remove_quietly(control_path(request.dest))
    return final, digest


def _check_safetensors(part: Path, head: bytes, total: int) -> None:
    problem = safetensors_header_problem(head, total)
    if problem == "safetensors header incomplete":
        length = int.from_bytes(head[:8], "little")
        if length + 8 <= policy.SAFETENSORS_PARSE_LIMIT:
            problem = safetensors_header_problem(read_head(part, 8 + length), total)
        elif read_head(part, 9)[8:9] != b"{":
            problem = "not a safetensors file (header is not JSON)"
        else:
            problem = None
    if problem is not None:
        raise DownloadError(f"{problem}: the server did not send the model file")
