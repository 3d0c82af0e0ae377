"""The files written beside downloads: image metadata, model metadata, WebUI cards, LoRA copies.

All of it runs after a download is verified (design.md §8) and is pure file work: no network.

- `image_sidecar` -> `{imageId}.txt` (JSON: the API's metadata, original and filtered prompt).
- `version_meta` / `version_meta_text` -> `model_meta_v{v}.json` / `.txt`.
- `webui_card`, `place_lora`, `write_preview` -> `{lora_dir}/Users/{user}/{model}/`: the file
  (hard link, copy or symlink), the A1111/Forge `{stem}.json` card and `{stem}.preview.{ext}`.
- `write_json_atomic` / `write_text_atomic` (from `atomicio`) and `html_to_text` (from
  `htmltext`) are re-exported here, so the engine needs one import.
"""

from __future__ import annotations

import errno
import os
import re
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from civittui.fsio import replace_file, temp_beside, write_json_atomic, write_text_atomic
from civittui.htmltext import html_to_text
from civittui.redact import has_secret_param, strip_secret_params

__all__ = [
    "LORA_LINK_MODES",
    "LORA_TYPES",
    "html_to_text",
    "human_size",
    "image_sidecar",
    "is_lora_family",
    "place_lora",
    "sd_version",
    "version_meta",
    "version_meta_text",
    "version_page_url",
    "webui_card",
    "write_json_atomic",
    "write_preview",
    "write_text_atomic",
]

LORA_TYPES = frozenset({"LORA", "LoCon", "DoRA"})
"""CivitAI model types whose files also go to `lora_dir`."""

LORA_LINK_MODES = ("hardlink", "copy", "symlink", "off")
"""Accepted values of the `lora_link` setting."""

_LORA_TYPES_FOLDED = frozenset(t.casefold() for t in LORA_TYPES)
_COPY_CHUNK = 1024 * 1024
# FAT keeps mtimes to 2 s; NTFS to 100 ns: a copy made with copystat may differ by that much.
_MTIME_SLACK_S = 2.0


# --------------------------------------------------------------------------------------------
# Image metadata


def _flat_meta(meta: Any) -> dict[str, Any] | None:
    """The generation data as a flat dict; unwraps the legacy `{id, meta}` shape."""
    if not isinstance(meta, Mapping):
        return None
    if "meta" in meta and set(meta) <= {"id", "meta"}:
        return _flat_meta(meta["meta"])
    return dict(meta)


def _mapping(value: Any) -> Mapping[str, Any]:
    """`value` if it is a JSON object, else an empty one (API fields can be null or odd)."""
    return value if isinstance(value, Mapping) else {}


def _text_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def image_sidecar(image: Mapping[str, Any], *, filtered: Mapping[str, Any]) -> dict[str, Any]:
    """Build the `{imageId}.txt` JSON object of design.md §5.

    Args:
        image: one item of `/api/v1/images` (with `withMeta=true&flatMeta=true`).
        filtered: the prompt filter's result: `{prompt, removed: {category: [tokens]}, filters}`.

    Returns:
        `id, postId, url, username, createdAt, width, height, nsfwLevel, baseModel,
        modelVersionIds, meta, prompt, negativePrompt, filtered` (absent values are None).
    """
    meta = _flat_meta(image.get("meta"))
    return {
        "id": image.get("id"),
        "postId": image.get("postId"),
        "url": image.get("url"),
        "username": image.get("username"),
        "createdAt": image.get("createdAt"),
        "width": image.get("width"),
        "height": image.get("height"),
        "nsfwLevel": image.get("nsfwLevel"),
        "baseModel": image.get("baseModel"),
        "modelVersionIds": list(image.get("modelVersionIds") or []),
        "meta": meta,
        "prompt": _text_or_none(meta.get("prompt")) if meta else None,
        "negativePrompt": _text_or_none(meta.get("negativePrompt")) if meta else None,
        "filtered": dict(filtered),
    }


# --------------------------------------------------------------------------------------------
# Model-version metadata


# A whole string that is one URL; prose (descriptions) that mentions a URL is left alone.
_URL = re.compile(r"https?://\S+\Z", re.IGNORECASE)


def _scrub(value: Any) -> Any:
    """Deep copy of API data with any URL's secret parameters (`token`...) removed."""
    if isinstance(value, Mapping):
        return {k: _scrub(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_scrub(v) for v in value]
    if isinstance(value, str) and _URL.match(value) and has_secret_param(value):
        return strip_secret_params(value)
    return value


def version_meta(version: Mapping[str, Any], model: Mapping[str, Any]) -> dict[str, Any]:
    """Build `model_meta_v{v}.json`: the version as served, plus its model under `"model"`.

    Args:
        version: a model version (from `/models`, `/models/{id}` or `/model-versions/{id}`).
        model: its model (a `/models` item); its `modelVersions` list is left out, as each
            version has its own file.

    Returns:
        A deep copy of `version` with `modelId` set and `model` holding the version's own
        `model` object merged with every field of `model`; any `token` URL parameter removed.
    """
    data: dict[str, Any] = {k: _scrub(v) for k, v in version.items()}
    model_fields = {k: _scrub(v) for k, v in model.items() if k != "modelVersions"}
    data["model"] = {**_mapping(data.get("model")), **model_fields}
    if data.get("modelId") is None and model.get("id") is not None:
        data["modelId"] = model["id"]
    return data


def version_page_url(model_id: Any, version_id: Any, *, site: str = "https://civitai.com") -> str:
    """The CivitAI page of one version: `{site}/models/{model}?modelVersionId={version}`."""
    return f"{site.rstrip('/')}/models/{model_id}?modelVersionId={version_id}"


def human_size(size: int) -> str:
    """`1536` -> `"1.5 KiB"`; binary units, one decimal from KiB up."""
    if size < 1024:
        return f"{size} B"
    value = float(size)
    for unit in ("KiB", "MiB", "GiB", "TiB"):
        value /= 1024
        if value < 1024 or unit == "TiB":
            break
    return f"{value:.1f} {unit}"


def _file_size(file: Mapping[str, Any]) -> int | None:
    size_kb = file.get("sizeKB")
    if isinstance(size_kb, int | float) and not isinstance(size_kb, bool):
        return round(size_kb * 1024)
    return None


def _indent(text: str, prefix: str = "  ") -> list[str]:
    return [prefix + line if line else "" for line in text.splitlines()]


def version_meta_text(meta: Mapping[str, Any], *, page_url: str) -> str:
    """Render `model_meta_v{v}.txt`, the human-readable twin of `version_meta`.

    Args:
        meta: the result of `version_meta`.
        page_url: the version's CivitAI page (see `version_page_url`).

    Returns:
        Model, version, type, base model, creator, published date, page URL, trigger words,
        files (size in human units and bytes, SHA256), tags and descriptions as plain text.
    """
    model = _mapping(meta.get("model"))
    lines = _head_lines(meta, model, page_url)
    words = [w for w in meta.get("trainedWords") or [] if isinstance(w, str) and w.strip()]
    lines += ["", "Trigger words:"]
    lines += [f"  {w.strip()}" for w in words] or ["  (none)"]
    lines += ["", "Files:"]
    files = [f for f in meta.get("files") or [] if isinstance(f, Mapping)]
    for file in files:
        lines += _file_lines(file)
    if not files:
        lines.append("  (none)")
    tags = [str(t) for t in model.get("tags") or []]
    if tags:
        lines += ["", f"Tags: {', '.join(tags)}"]
    for title, html in (
        ("Description", model.get("description")),
        ("Version notes", meta.get("description")),
    ):
        text = html_to_text(html if isinstance(html, str) else None)
        if text:
            lines += ["", f"{title}:", *_indent(text)]
    return "\n".join(lines) + "\n"


def _head_lines(meta: Mapping[str, Any], model: Mapping[str, Any], page_url: str) -> list[str]:
    creator = _mapping(model.get("creator"))
    lines = [
        f"Model:       {model.get('name', '')} (id {meta.get('modelId', model.get('id', ''))})",
        f"Version:     {meta.get('name', '')} (id {meta.get('id', '')})",
        f"Type:        {model.get('type', '')}",
        f"Base model:  {meta.get('baseModel', '')}",
    ]
    if creator.get("username"):
        lines.append(f"Creator:     {creator['username']}")
    lines.append(f"Published:   {meta.get('publishedAt') or meta.get('createdAt') or ''}")
    lines.append(f"Page:        {page_url}")
    if model.get("mode"):
        lines.append(f"Mode:        {model['mode']}")
    return lines


def _file_lines(file: Mapping[str, Any]) -> list[str]:
    lines = [f"  {file.get('name', '')}" + ("  [primary]" if file.get("primary") else "")]
    size = _file_size(file)
    if size is not None:
        lines.append(f"    Size:    {human_size(size)} ({size} bytes)")
    hashes = _mapping(file.get("hashes"))
    lines.append(f"    SHA256:  {hashes.get('SHA256') or '(not given)'}")
    info = _mapping(file.get("metadata"))
    kind = ", ".join(str(v) for v in (file.get("type"), info.get("format"), info.get("fp")) if v)
    if kind:
        lines.append(f"    Kind:    {kind}")
    return lines


# --------------------------------------------------------------------------------------------
# LoRA placement and the WebUI card


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
