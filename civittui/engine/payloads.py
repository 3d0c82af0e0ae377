"""What the crawler reads out of API payloads: names, compact copies, ids the API half-strips."""

from __future__ import annotations

from typing import Any

__all__ = [
    "compact_model",
    "compact_version",
    "image_id_of",
    "model_of_version",
    "same_user",
    "version_creator",
]

Json = dict[str, Any]


def same_user(a: object, b: str) -> bool:
    """Whether `a` is the user name `b` (CivitAI compares names case-insensitively)."""
    return isinstance(a, str) and a.lower() == b.lower()


def compact_model(model: Json) -> Json:
    """The model's own fields, without its versions (which are crawled one by one)."""
    return {k: v for k, v in model.items() if k != "modelVersions"}


def compact_version(version: Json, model_id: object) -> Json:
    """What a file's post-processing needs of its version (WebUI card, preview)."""
    # The WebUI shows png/jpeg/webp/gif previews only: the first still image, not a video.
    images = [i for i in version.get("images") or [] if isinstance(i, dict)]
    first = next((i for i in images if i.get("type", "image") == "image"), None)
    return {
        "id": version.get("id"),
        "modelId": version.get("modelId", model_id),
        "name": version.get("name"),
        "baseModel": version.get("baseModel"),
        "trainedWords": version.get("trainedWords") or [],
        "description": version.get("description"),
        "publishedAt": version.get("publishedAt"),
        "preview": {"id": image_id_of(first), "url": first.get("url")} if first else None,
    }


def version_creator(version: Json) -> str:
    """The creator's name a `/model-versions/{id}` payload carries (newer payloads only)."""
    for holder in (version, version.get("model")):
        creator = holder.get("creator") if isinstance(holder, dict) else None
        name = creator.get("username") if isinstance(creator, dict) else None
        if isinstance(name, str) and name:
            return name
    return ""


def model_of_version(version: Json, model_id: int, username: str) -> Json:
    """A model object built from a `/model-versions/{id}` payload's `model` part."""
    model = version.get("model")
    fields = dict(model) if isinstance(model, dict) else {}
    return {**fields, "id": model_id, "creator": {"username": username}}


def image_id_of(image: Json | None) -> int | None:
    """An image's id; `/models/{id}` strips it, so fall back on the URL's file name."""
    if not image:
        return None
    value = image.get("id")
    if isinstance(value, int):
        return value
    url = image.get("url")
    if isinstance(url, str):
        stem = url.rsplit("/", 1)[-1].split(".", 1)[0]
        if stem.isdigit():
            return int(stem)
    return None
