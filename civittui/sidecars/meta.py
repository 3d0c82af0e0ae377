"""Metadata files: `{imageId}.txt` for an image, `model_meta_v{v}.json` / `.txt` for a version."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from civittui.htmltext import html_to_text
from civittui.redact import has_secret_param, strip_secret_params

__all__ = [
    "human_size",
    "image_sidecar",
    "version_meta",
    "version_meta_text",
    "version_page_url",
]


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
    lines += ["", "Trigger words:", *_word_lines(meta)]
    lines += ["", "Files:"]
    files = [f for f in meta.get("files") or [] if isinstance(f, Mapping)]
    for file in files:
        lines += _file_lines(file)
    if not files:
        lines.append("  (none)")
    tags = [str(t) for t in model.get("tags") or []]
    if tags:
        lines += ["", f"Tags: {', '.join(tags)}"]
    lines += _text_block("Description", model.get("description"))
    lines += _text_block("Version notes", meta.get("description"))
    return "\n".join(lines) + "\n"


def _word_lines(meta: Mapping[str, Any]) -> list[str]:
    words = [w for w in meta.get("trainedWords") or [] if isinstance(w, str) and w.strip()]
    return [f"  {w.strip()}" for w in words] or ["  (none)"]


def _text_block(title: str, html: object) -> list[str]:
    text = html_to_text(html if isinstance(html, str) else None)
    return ["", f"{title}:", *_indent(text)] if text else []


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
