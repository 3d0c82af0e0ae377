"""What a response body really is: extension from Content-Type, error pages, safetensors headers."""

from __future__ import annotations

import json
import struct

from civittui.layout import MEDIA_SUFFIXES

__all__ = [
    "EXTENSIONS",
    "SAFETENSORS_MAX_HEADER",
    "extension_for",
    "extension_from_magic",
    "looks_like_error_page",
    "media_type",
    "safetensors_header_problem",
]

EXTENSIONS: dict[str, str] = {**MEDIA_SUFFIXES, "audio/mpeg": ".mp3"}
"""Content-Type -> suffix for images and videos (the URL's name is cosmetic on the CDN)."""

SAFETENSORS_MAX_HEADER = 100 * 1024 * 1024
"""The safetensors reference implementation refuses headers above 100 MB."""

_ERROR_TYPES = ("text/html", "application/xhtml+xml", "application/json", "text/json")
_HTML_STARTS = (b"<!doctype html", b"<html", b"<head", b"<body")


def media_type(content_type: str | None) -> str:
    """`text/html; charset=utf-8` -> `text/html` (lower case, empty when missing)."""
    return (content_type or "").split(";", 1)[0].strip().lower()


def extension_for(content_type: str | None, fallback: str) -> str:
    """The file suffix for a Content-Type.

    Args:
        content_type: the response's Content-Type header (may be None).
        fallback: suffix to keep when the type is unknown (e.g. the request's, or `.bin`).

    Returns:
        A suffix with its leading dot.
    """
    return EXTENSIONS.get(media_type(content_type), fallback)


def looks_like_error_page(content_type: str | None, head: bytes) -> str | None:
    """Whether a body that should be a file is an HTML page or a JSON error instead.

    Args:
        content_type: the response's Content-Type header.
        head: the first bytes of the body (a few hundred are enough; may be empty).

    Returns:
        `"HTML page"` / `"JSON document"` when it is one, else None.
    """
    kind = media_type(content_type)
    if kind in ("text/html", "application/xhtml+xml"):
        return "HTML page"
    if kind in _ERROR_TYPES:
        return "JSON document"
    start = head.lstrip()[:64].lower()
    if start.startswith(_HTML_STARTS):
        return "HTML page"
    return None


def safetensors_header_problem(head: bytes, total: int) -> str | None:
    """Check that a file starts like safetensors: 8-byte little-endian length, then a JSON object.

    Args:
        head: the first `8 + header length` bytes of the file (more is fine).
        total: the file's size.

    Returns:
        None when the header parses, else what is wrong (for a failure reason).
    """
    if len(head) < 8 or total < 8:
        return "too short to be a safetensors file"
    (length,) = struct.unpack("<Q", head[:8])
    if length < 2 or length > SAFETENSORS_MAX_HEADER or 8 + length > total:
        return "not a safetensors file (bad header length)"
    if len(head) < 8 + length:
        return "safetensors header incomplete"
    try:
        header = json.loads(head[8 : 8 + length].decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return "not a safetensors file (header is not JSON)"
    except RecursionError:
        # A real header is two levels deep; thousands of levels crashed every rerun.
        return "not a safetensors file (header nested too deeply)"
    if not isinstance(header, dict):
        return "not a safetensors file (header is not a JSON object)"
    return None


_MAGIC: tuple[tuple[int, bytes, str], ...] = (
    (0, b"\x89PNG\r\n\x1a\n", ".png"),
    (0, b"\xff\xd8\xff", ".jpeg"),
    (0, b"GIF8", ".gif"),
    (8, b"WEBP", ".webp"),
    (4, b"ftyp", ".mp4"),
    (0, b"\x1a\x45\xdf\xa3", ".webm"),
)


def extension_from_magic(head: bytes) -> str | None:
    """The suffix for an image/video recognised by its first bytes (12 are enough), or None."""
    for offset, magic, suffix in _MAGIC:
        if head[offset : offset + len(magic)] == magic:
            return suffix
    return None
