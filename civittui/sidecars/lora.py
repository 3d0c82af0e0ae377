"""LoRA placement and the WebUI card: `{lora_dir}/Users/{user}/{model}/` gets the file (hard
link, copy or symlink), the A1111/Forge `{stem}.json` card and `{stem}.preview.{ext}`."""

from __future__ import annotations

import errno
import os
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from civittui.config.values import LORA_LINK_MODES
from civittui.fsio import replace_file, temp_beside
from civittui.htmltext import html_to_text

__all__ = [
    "LORA_LINK_MODES",
    "LORA_TYPES",
    "is_lora_family",
    "place_lora",
    "sd_version",
    "webui_card",
    "write_preview",
]

LORA_TYPES = frozenset({"LORA", "LoCon", "DoRA"})
"""CivitAI model types whose files also go to `lora_dir`."""

_LORA_TYPES_FOLDED = frozenset(t.casefold() for t in LORA_TYPES)
_COPY_CHUNK = 1024 * 1024
# FAT keeps mtimes to 2 s; NTFS to 100 ns: a copy made with copystat may differ by that much.
_MTIME_SLACK_S = 2.0


def is_lora_family(model_type: str | None) -> bool:
    """Tell whether a CivitAI model type is placed in `lora_dir` (LORA, LoCon, DoRA; any case)."""
    return model_type is not None and model_type.casefold() in _LORA_TYPES_FOLDED


_SDXL_FAMILY = ("sdxl", "pony", "illustrious", "noobai")


def sd_version(base_model: str | None) -> str:
    """Map a CivitAI `baseModel` to the A1111 Lora tab's "sd version" (its `SdVersion` enum).

    The WebUI hides a LoRA whose version does not match the loaded checkpoint, so anything it
    cannot load as SD1/SD2/SDXL (Flux, SD 3, Pony V7 on AuraFlow, ...) maps to "Unknown",
    which is always shown.

    Args:
        base_model: e.g. "SD 1.5", "SDXL 1.0", "Pony", "Illustrious", "Flux.1 D".

    Returns:
        "SD1", "SD2", "SDXL" or "Unknown".
    """
    name = (base_model or "").strip().casefold()
    if name.startswith("sd 1"):
        return "SD1"
    if name.startswith("sd 2"):
        return "SD2"
    # "Pony" is SDXL-based; "Pony V7" is not (AuraFlow).
    if name.startswith("sdxl") or name in _SDXL_FAMILY[1:]:
        return "SDXL"
    return "Unknown"


def webui_card(
    version: Mapping[str, Any], model: Mapping[str, Any], *, page_url: str
) -> dict[str, Any]:
    """Build the `{stem}.json` card that the A1111 / Forge Lora tab reads and edits.

    Keys are the ones the WebUI's Lora metadata editor writes (`extensions-builtin/Lora/
    ui_edit_user_metadata.py`): description, sd version, activation text, preferred weight,
    negative text, notes.

    Args:
        version: the model version the file belongs to.
        model: its model.
        page_url: the version's CivitAI page.

    Returns:
        The card; "activation text" joins the version's trained words with ", ", "preferred
        weight" 0 means "use the WebUI default".
    """
    words = [w.strip() for w in version.get("trainedWords") or [] if isinstance(w, str)]
    description = html_to_text(_str(model.get("description")))
    version_notes = html_to_text(_str(version.get("description")))
    if version_notes:
        description = f"{description}\n\n{version_notes}" if description else version_notes
    title = " - ".join(str(x) for x in (model.get("name"), version.get("name")) if x)
    return {
        "description": description,
        "sd version": sd_version(_str(version.get("baseModel"))),
        "activation text": ", ".join(w for w in words if w),
        "preferred weight": 0,
        "negative text": "",
        "notes": f"{title}\n{page_url}" if title else page_url,
    }


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _same_file(a: Path, b: Path) -> bool:
    """Same inode, or same size and mtime (a copy we made), or byte-for-byte equal."""
    try:
        if os.path.samefile(a, b):
            return True
        sa, sb = a.stat(), b.stat()
    except OSError:
        return False
    if sa.st_size != sb.st_size:
        return False
    if abs(sa.st_mtime - sb.st_mtime) <= _MTIME_SLACK_S:
        return True
    with a.open("rb") as fa, b.open("rb") as fb:
        while True:
            ca, cb = fa.read(_COPY_CHUNK), fb.read(_COPY_CHUNK)
            if ca != cb:
                return False
            if not ca:
                return True


def _copy_atomic(src: Path, dest: Path) -> None:
    tmp = temp_beside(dest)
    try:
        shutil.copyfile(src, tmp)
        with tmp.open("rb+") as fh:
            os.fsync(fh.fileno())
        # Keep the source's mtime: the next run recognises the copy by size + mtime.
        shutil.copystat(src, tmp)
        replace_file(tmp, dest)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _link_atomic(src: Path, dest: Path, *, symbolic: bool) -> None:
    tmp = temp_beside(dest)
    try:
        if symbolic:
            os.symlink(os.path.abspath(src), tmp)
        else:
            os.link(src, tmp)
        replace_file(tmp, dest)
    except BaseException:
        if tmp.is_symlink() or tmp.exists():
            tmp.unlink()
        raise


def place_lora(src: Path, dest: Path, *, mode: str) -> str:
    """Put a verified LoRA-family file at `dest` in the WebUI's Lora folder.

    Idempotent: an existing `dest` that is the same file (same inode, or same size and mtime,
    or same bytes) is kept; a different one is replaced atomically.

    Args:
        src: the verified file under `root`.
        dest: where the WebUI should find it (folders are created).
        mode: "hardlink" (falls back to a copy across devices or where links are unsupported),
            "copy", "symlink" (falls back to a copy where not permitted, e.g. Windows without
            developer mode) or "off".

    Returns:
        What happened: "hardlink", "copy", "symlink", "exists" or "off".

    Raises:
        ValueError: unknown mode.
        OSError: `src` is missing or `dest` cannot be written (no temp file is left behind).
    """
    if mode not in LORA_LINK_MODES:
        raise ValueError(f"lora_link must be one of {', '.join(LORA_LINK_MODES)}, got {mode!r}")
    if mode == "off":
        return "off"
    src, dest = Path(src), Path(dest)
    if not src.is_file():
        raise FileNotFoundError(errno.ENOENT, "LoRA source file is missing", str(src))
    if dest.exists() and _same_file(src, dest):
        return "exists"
    dest.parent.mkdir(parents=True, exist_ok=True)
    if mode in ("hardlink", "symlink"):
        try:
            _link_atomic(src, dest, symbolic=mode == "symlink")
        except (OSError, NotImplementedError):
            # EXDEV (other disk), EPERM / WinError 1314 (no symlink privilege), FAT/exFAT
            # without links, EMLINK: a copy is what the user still needs.
            pass
        else:
            return mode
    _copy_atomic(src, dest)
    return "copy"


def write_preview(image_path: Path, dest_stem: Path) -> Path:
    """Place the version's first image as `{dest_stem}.preview.{ext}` for the WebUI card.

    Args:
        image_path: a downloaded image (its suffix, from Content-Type, gives the extension).
        dest_stem: the LoRA file's path without its suffix, in `lora_dir`.

    Returns:
        The preview's path (hard-linked when possible, else copied; kept if already there).

    Raises:
        ValueError: the image file has no suffix.
        OSError: the image is missing or the preview cannot be written.
    """
    image_path, dest_stem = Path(image_path), Path(dest_stem)
    ext = image_path.suffix.lower()
    if not ext:
        raise ValueError(f"preview image has no file suffix: {image_path.name}")
    dest = dest_stem.with_name(f"{dest_stem.name}.preview{ext}")
    place_lora(image_path, dest, mode="hardlink")
    return dest
