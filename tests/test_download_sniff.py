"""Telling real files from error pages, and picking an image's extension from its type."""

from __future__ import annotations

import json
import struct

import pytest

from civittui.download.sniff import (
    extension_for,
    extension_from_magic,
    looks_like_error_page,
    safetensors_header_problem,
)


@pytest.mark.parametrize(
    ("content_type", "suffix"),
    [
        ("image/jpeg", ".jpeg"),
        ("image/png", ".png"),
        ("image/webp; charset=binary", ".webp"),
        ("IMAGE/GIF", ".gif"),
        ("video/mp4", ".mp4"),
        ("video/webm", ".webm"),
        ("application/octet-stream", ".keep"),
        (None, ".keep"),
    ],
)
def test_extension_for(content_type: str | None, suffix: str) -> None:
    assert extension_for(content_type, ".keep") == suffix


def test_extension_from_magic() -> None:
    assert extension_from_magic(b"\x89PNG\r\n\x1a\n....") == ".png"
    assert extension_from_magic(b"\xff\xd8\xff\xe0") == ".jpeg"
    assert extension_from_magic(b"RIFF\x00\x00\x00\x00WEBPVP8 ") == ".webp"
    assert extension_from_magic(b"\x00\x00\x00\x18ftypisom") == ".mp4"
    assert extension_from_magic(b"hello") is None


def test_error_pages() -> None:
    assert looks_like_error_page("text/html; charset=utf-8", b"") == "HTML page"
    assert looks_like_error_page("application/json", b"{}") == "JSON document"
    assert looks_like_error_page("application/octet-stream", b"  <!DOCTYPE html><html>") == (
        "HTML page"
    )
    assert looks_like_error_page("application/octet-stream", b"\x00\x01binary") is None


def _safetensors(header: object) -> bytes:
    raw = json.dumps(header).encode()
    return struct.pack("<Q", len(raw)) + raw + b"\x00" * 16


def test_safetensors_header() -> None:
    good = _safetensors({"w": {"dtype": "F16", "shape": [2, 4], "data_offsets": [0, 16]}})
    assert safetensors_header_problem(good, len(good)) is None
    html = b"<!DOCTYPE html><html><body>Sign in</body></html>"
    assert safetensors_header_problem(html, len(html)) is not None
    not_json = struct.pack("<Q", 4) + b"\xff\xfe\x00\x01" + b"\x00" * 8
    assert "not JSON" in (safetensors_header_problem(not_json, len(not_json)) or "")
    array = _safetensors([1, 2])
    assert "JSON object" in (safetensors_header_problem(array, len(array)) or "")
