"""Where every file lands on disk, and names from the server made safe for every OS.

The tree (design.md §5)::

    {root}/Posts/{post title}/{imageId}.{ext} | {imageId}.txt | {file name}
    {root}/Users/{username}/model_meta_v{versionId}.json | .txt
    {root}/Users/{username}/{model name}/{imageId}.{ext} | {imageId}.txt | {file name}
    {lora_dir}/Users/{username}/{model name}/{file name} | {stem}.json | {stem}.preview.{ext}

Usernames, model names, post titles and file names come from the server and are treated as
hostile: `sanitize_component` / `sanitize_filename` turn any string into one path component that
Windows, macOS and Linux all accept, and `Layout` refuses to hand out a path outside `root` or
`lora_dir` whatever it is given.
"""

from __future__ import annotations

import os
import re
import unicodedata
from pathlib import Path

from civittui.textsafe import UNSAFE_CHARS

__all__ = [
    "CLAIM_SUFFIX_BYTES",
    "IMAGE_SUFFIXES",
    "MAX_COMPONENT_BYTES",
    "MEDIA_SUFFIXES",
    "STILL_SUFFIXES",
    "TITLE_MAX_BYTES",
    "Layout",
    "is_reserved_name",
    "sanitize_component",
    "sanitize_filename",
]

MAX_COMPONENT_BYTES = 120
"""Longest path component we write, in UTF-8 bytes (design.md §5; filesystems allow 255)."""

CLAIM_SUFFIX_BYTES = 14
"""Room kept for the " (1234567890)" the store appends when two titles collide."""

TITLE_MAX_BYTES = MAX_COMPONENT_BYTES - CLAIM_SUFFIX_BYTES
"""Budget of a post title or model name before the store claims it as a folder name."""

# Forbidden on Windows (and ":" / "/" on macOS / Linux); and what is never shown on a terminal
# (`textsafe.UNSAFE_CHARS`: controls, bidi overrides, lone surrogates that UTF-8 cannot encode).
_FORBIDDEN = re.compile(rf'[<>:"/\\|?*{UNSAFE_CHARS}]')

# Windows treats these as devices whatever the case and whatever follows the first dot
# ("con.txt", "NUL.tar.gz"); the superscript digits count too (see CPython ntpath.isreserved).
_RESERVED = frozenset(
    {"CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$"}
    | {f"{dev}{digit}" for dev in ("COM", "LPT") for digit in "123456789\u00b9\u00b2\u00b3"}
)

# A file-name extension we keep when truncating: short and plain ("safetensors", "tar.gz" is
# kept as ".gz", which is enough to keep the type visible).
_EXTENSION = re.compile(r"\.[A-Za-z0-9_-]{1,16}$")

MEDIA_SUFFIXES: dict[str, str] = {
    "image/jpeg": ".jpeg",
    "image/jpg": ".jpeg",
    "image/pjpeg": ".jpeg",
    "image/png": ".png",
    "image/webp": ".webp",
    "image/gif": ".gif",
    "image/avif": ".avif",
    "video/mp4": ".mp4",
    "video/webm": ".webm",
    "audio/mpeg": ".mp3",
}
"""Content-Type -> suffix for images and videos (the URL's name is cosmetic on the CDN)."""

IMAGE_SUFFIXES = (*dict.fromkeys(MEDIA_SUFFIXES.values()), ".jpg", ".bin")
"""Every suffix a downloaded image may have (from its Content-Type), plus legacy `.jpg` and the
`.bin` of an unknown type."""

STILL_SUFFIXES = (
    *dict.fromkeys(s for t, s in MEDIA_SUFFIXES.items() if t.startswith("image/")),
    ".jpg",
)
"""The suffixes of still images (what a thumbnail can show)."""


def is_reserved_name(name: str) -> bool:
    """Tell whether Windows reserves `name` for a device.

    Args:
        name: one path component.

    Returns:
        True for CON, PRN, AUX, NUL, COM1-9, LPT1-9 (any case, with or without an extension).
    """
    stem = name.partition(".")[0].rstrip(" ")
    return stem.upper() in _RESERVED


def _clean(name: str) -> str:
    """NFC, forbidden characters replaced, edges stripped the way Windows would strip them."""
    name = unicodedata.normalize("NFC", name)
    name = _FORBIDDEN.sub("_", name)
    # Windows drops trailing dots and spaces silently, so "a." and "a" would be the same folder;
    # a leading dot hides a folder on Linux and macOS, where a user would never find it.
    return name.lstrip(" .").rstrip(" .")


def _truncate(text: str, max_bytes: int) -> str:
    """Cut `text` to at most `max_bytes` UTF-8 bytes without splitting a character."""
    raw = text.encode("utf-8")
    if len(raw) <= max_bytes:
        return text
    return raw[:max_bytes].decode("utf-8", errors="ignore")


def _unreserve(name: str, max_bytes: int) -> str:
    """Suffix a Windows device name's stem with "_" ("CON.txt" -> "CON_.txt")."""
    if not is_reserved_name(name):
        return name
    head, dot, tail = name.partition(".")
    fixed = f"{head}_{dot}{tail}"
    if len(fixed.encode("utf-8")) > max_bytes:
        # Only reachable with a tiny budget: drop the extension rather than exceed it.
        fixed = _truncate(head, max_bytes - 1) + "_"
    return fixed


def _check_budget(max_bytes: int) -> None:
    if max_bytes < 8:
        raise ValueError(f"max_bytes must be at least 8, got {max_bytes}")


def _finish(name: str, fallback: str, max_bytes: int) -> str:
    """Truncate, re-strip, un-reserve; the fallback (itself sanitized) when nothing is left."""
    name = _truncate(name, max_bytes).rstrip(" .")
    if not name:
        if fallback:
            return sanitize_component(fallback, fallback="", max_bytes=max_bytes)
        return "_"
    return _unreserve(name, max_bytes)


def sanitize_component(name: str, *, fallback: str, max_bytes: int = MAX_COMPONENT_BYTES) -> str:
    """Make one path component that is safe on Windows, macOS and Linux.

    Unicode is kept in NFC (Korean stays Korean); `<>:"/\\|?*` and control characters become
    "_"; leading spaces and trailing dots/spaces are stripped; Windows device names get a "_"
    after their stem; the result is cut to `max_bytes` UTF-8 bytes on a character boundary.
    The function is idempotent: a sanitized name sanitizes to itself.

    Args:
        name: untrusted text from the server (title, username, model name, ...).
        fallback: used when nothing usable is left (empty, ".", ".."); sanitized the same way,
            and "_" if it is unusable too.
        max_bytes: the longest result in UTF-8 bytes (at least 8).

    Returns:
        A non-empty component without separators that stays inside its parent directory.

    Raises:
        ValueError: `max_bytes` is below 8.
    """
    _check_budget(max_bytes)
    return _finish(_clean(name), fallback, max_bytes)


def sanitize_filename(name: str, *, fallback: str, max_bytes: int = MAX_COMPONENT_BYTES) -> str:
    """Like `sanitize_component`, but truncation keeps the file's extension.

    `"x" * 300 + ".safetensors"` becomes `"x" * 108 + ".safetensors"` (120 bytes), so the WebUI
    still recognises the file type.

    Args:
        name: untrusted file name (API `files[].name`, a Content-Disposition filename).
        fallback: used when nothing usable is left; sanitized the same way.
        max_bytes: the longest result in UTF-8 bytes (at least 8).

    Returns:
        A non-empty, safe file name.

    Raises:
        ValueError: `max_bytes` is below 8.
    """
    _check_budget(max_bytes)
    cleaned = _clean(name)
    if len(cleaned.encode("utf-8")) <= max_bytes:
        return _finish(cleaned, fallback, max_bytes)
    match = _EXTENSION.search(cleaned)
    if match is None or match.start() == 0:
        return _finish(cleaned, fallback, max_bytes)
    ext = match.group(0)
    stem = _truncate(cleaned[: match.start()], max_bytes - len(ext)).rstrip(" .")
    if not stem:
        return _finish(cleaned, fallback, max_bytes)
    return _unreserve(stem + ext, max_bytes)


def _lexical(path: Path) -> str:
    # Lexical, not `resolve()`: a user may symlink a folder inside root to another disk on
    # purpose; what must never happen is a name climbing out with ".." or an absolute path.
    return os.path.normcase(os.path.abspath(path))


def _require_component(name: str, what: str) -> str:
    """Accept only names that are already sanitized single components."""
    if not name or sanitize_component(name, fallback="") != name:
        raise ValueError(f"{what} is not a sanitized path component: {name!r}")
    return name


def _require_id(value: int, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{what} must be a non-negative integer, got {value!r}")
    return value


class Layout:
    """Paths of the mirror under `root` (and `lora_dir` for LoRA-family files).

    Args:
        root: the mirror's root directory.
        lora_dir: the WebUI's Lora folder, or None when LoRA files are not placed.
    """

    def __init__(self, root: Path, lora_dir: Path | None) -> None:
        self.root = Path(root)
        self.lora_dir = Path(lora_dir) if lora_dir is not None else None

    def post_dir(self, dir_name: str) -> Path:
        """`{root}/Posts/{dir_name}`; `dir_name` is already sanitized and claimed.

        Raises:
            ValueError: `dir_name` is not a sanitized single component.
        """
        return self.ensure_inside(self.root / "Posts" / _require_component(dir_name, "post folder"))

    def user_dir(self, username: str) -> Path:
        """`{root}/Users/{username}`, the username sanitized here."""
        name = sanitize_component(username, fallback="unknown-user")
        return self.ensure_inside(self.root / "Users" / name)

    def model_dir(self, username: str, model_dir_name: str) -> Path:
        """`{root}/Users/{username}/{model_dir_name}`; the model part is already claimed.

        Raises:
            ValueError: `model_dir_name` is not a sanitized single component.
        """
        name = _require_component(model_dir_name, "model folder")
        return self.ensure_inside(self.user_dir(username) / name)

    def meta_paths(self, username: str, version_id: int) -> tuple[Path, Path]:
        """`model_meta_v{version_id}.json` and `.txt` in the user's folder."""
        user = self.user_dir(username)
        v = _require_id(version_id, "version id")
        return user / f"model_meta_v{v}.json", user / f"model_meta_v{v}.txt"

    def lora_model_dir(self, username: str, model_dir_name: str) -> Path | None:
        """`{lora_dir}/Users/{username}/{model_dir_name}`, or None without a `lora_dir`."""
        if self.lora_dir is None:
            return None
        user = sanitize_component(username, fallback="unknown-user")
        name = _require_component(model_dir_name, "model folder")
        return self.ensure_inside(self.lora_dir / "Users" / user / name)

    def image_stem(self, folder: Path, image_id: int) -> Path:
        """`folder/{image_id}`; the suffix comes from the response's Content-Type later."""
        return self.ensure_inside(folder / str(_require_id(image_id, "image id")))

    def sidecar_path(self, folder: Path, image_id: int) -> Path:
        """`folder/{image_id}.txt`, the image's metadata JSON."""
        return self.ensure_inside(folder / f"{_require_id(image_id, 'image id')}.txt")

    def file_path(self, folder: Path, file_name: str, *, fallback: str = "model_file") -> Path:
        """`folder/{file_name}` with the name sanitized (extension kept when truncating)."""
        return self.ensure_inside(folder / sanitize_filename(file_name, fallback=fallback))

    def ensure_inside(self, path: Path) -> Path:
        """Return `path` unchanged if it lies under `root` or `lora_dir`.

        Args:
            path: a path built from sanitized parts.

        Returns:
            The same path.

        Raises:
            ValueError: the path, normalized, is outside both directories (a hostile name got
                through; nothing may be written there).
        """
        target = _lexical(path)
        for base in (self.root, self.lora_dir):
            if base is None:
                continue
            top = _lexical(base)
            if target == top or target.startswith(top.rstrip(os.sep) + os.sep):
                return path
        raise ValueError(f"refusing a path outside the mirror: {path}")
