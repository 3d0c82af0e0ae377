"""The API's JSON at the boundary: raw page items become checked records, or reasons to drop them.

CivitAI's answers are trusted for nothing (a look-alike, a proxy or a bug can send anything).
Every field the engine reads is checked here once, so the crawl, the downloads, the sidecars and
the state never meet an id that is a string, a size that is infinite or a list that is null.
A record that fails is dropped with a reason (counted in the run summary); a bad part of a good
record (one file of a version, one version of a model) is dropped alone.

The checked records stay plain dicts: the fields below are guaranteed, the rest is passed on
untouched (sidecars keep what CivitAI sent).
- image: `id` positive int; `url` non-empty text; `postId` positive int or absent/None;
  `username` text or None; `type` text or absent; `meta` an object or None (`prompt`,
  `negativePrompt` text or None); `modelVersionIds` a list of positive ints (others removed).
- model: `id` positive int; `name` text or None; `type` text; `creator` an object or None with
  `username` text or None; `modelVersions` a list of checked versions.
- version: `id` positive int; `files` a list of checked files; `images` a list of objects;
  `trainedWords` a list of text.
- file: `id` positive int; `name` text or None; `sizeKB` a finite number >= 0 or None;
  `hashes` an object; `downloadUrl` text or None.
Every record is at most `MAX_DEPTH` levels deep.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

__all__ = [
    "MAX_DEPTH",
    "BadRecord",
    "Drop",
    "check_file",
    "check_image",
    "check_model",
    "check_version",
]

Json = dict[str, Any]
Drop = Callable[[str], None]
"""Told the reason of each dropped part of a record (a file of a version...)."""

MAX_DEPTH = 64
"""Levels of nesting a record may have. CivitAI's deepest (image meta with its resources) is
under 10; far deeper values break JSON writers (orjson stops at 254, `json` at the recursion
limit) when the sidecar or the state is written."""

_MAX_ID = 2**63 - 1


class BadRecord(ValueError):
    """A record the engine cannot use; `reason` says why (for the run summary)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _positive_int(value: object) -> bool:
    return type(value) is int and 0 < value <= _MAX_ID


def _text_or_none(value: object) -> bool:
    return value is None or isinstance(value, str)


def _too_deep(value: object, limit: int = MAX_DEPTH) -> bool:
    """Whether `value` nests deeper than `limit` (iterative: no recursion to exhaust)."""
    stack: list[tuple[object, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False


def _object(raw: object, what: str) -> Json:
    if not isinstance(raw, dict):
        raise BadRecord(f"{what} is not an object")
    if _too_deep(raw):
        raise BadRecord(f"{what} record is nested too deeply")
    return raw


def check_image(raw: object) -> Json:
    """A checked image (or video) record from `/images`.

    Raises:
        BadRecord: a field the engine needs is missing or of the wrong kind.
    """
    image = _object(raw, "image")
    _check_image_fields(image)
    _check_prompts(image)
    versions = image.get("modelVersionIds")
    if versions is not None:
        kept = [v for v in versions if _positive_int(v)] if isinstance(versions, list) else []
        if kept != versions:
            image = {**image, "modelVersionIds": kept}
    return image


def _check_image_fields(image: Json) -> None:
    if not _positive_int(image.get("id")):
        raise BadRecord("image id is not a positive whole number")
    url = image.get("url")
    if not isinstance(url, str) or not url:
        raise BadRecord("image url is not text")
    if image.get("postId") is not None and not _positive_int(image["postId"]):
        raise BadRecord("image postId is not a positive whole number")
    if not _text_or_none(image.get("username")):
        raise BadRecord("image username is not text")
    if "type" in image and not isinstance(image["type"], str):
        raise BadRecord("image type is not text")


def _check_prompts(image: Json) -> None:
    """Prompts are text wherever they sit: flat, in `meta`, or in the legacy `meta.meta`."""
    meta = image.get("meta")
    if meta is not None and not isinstance(meta, dict):
        raise BadRecord("image meta is not an object")
    for holder in (image, meta or {}, (meta or {}).get("meta") or {}):
        if not isinstance(holder, dict):
            raise BadRecord("image meta is not an object")
        for key in ("prompt", "negativePrompt"):
            if not _text_or_none(holder.get(key)):
                raise BadRecord(f"image {key} is not text")


def check_file(raw: object) -> Json:
    """A checked file of a model version.

    Raises:
        BadRecord: no usable id, or a size that is not a finite number of KB.
    """
    file = _object(raw, "file")
    if not _positive_int(file.get("id")):
        raise BadRecord("file id is not a positive whole number")
    if not _text_or_none(file.get("name")):
        raise BadRecord("file name is not text")
    size = file.get("sizeKB")
    if size is not None and (
        isinstance(size, bool)
        or not isinstance(size, int | float)
        or not math.isfinite(size)
        or size < 0
    ):
        raise BadRecord("file sizeKB is not a finite size")
    if not _text_or_none(file.get("downloadUrl")):
        raise BadRecord("file downloadUrl is not text")
    hashes = file.get("hashes")
    if hashes is not None and not isinstance(hashes, dict):
        file = {**file, "hashes": {}}
    return file


def check_version(raw: object, drop: Drop) -> Json:
    """A checked model version; its bad files are dropped alone (told to `drop`).

    Raises:
        BadRecord: the version itself is unusable.
    """
    version = _object(raw, "model version")
    if not _positive_int(version.get("id")):
        raise BadRecord("model version id is not a positive whole number")
    if not _text_or_none(version.get("name")):
        raise BadRecord("model version name is not text")
    raw_files = version.get("files")
    files = _kept(raw_files if isinstance(raw_files, list) else [], check_file, drop)
    images = version.get("images")
    words = version.get("trainedWords")
    return {
        **version,
        "files": files,
        "images": [i for i in images if isinstance(i, dict)] if isinstance(images, list) else [],
        "trainedWords": [w for w in words if isinstance(w, str)] if isinstance(words, list) else [],
    }


def check_model(raw: object, drop: Drop) -> Json:
    """A checked model with its checked versions (bad versions and files dropped alone).

    Raises:
        BadRecord: the model itself is unusable.
    """
    model = _object(raw, "model")
    if not _positive_int(model.get("id")):
        raise BadRecord("model id is not a positive whole number")
    if not _text_or_none(model.get("name")):
        raise BadRecord("model name is not text")
    if not isinstance(model.get("type"), str):
        raise BadRecord("model type is not text")
    creator = model.get("creator")
    if creator is not None and (
        not isinstance(creator, dict) or not _text_or_none(creator.get("username"))
    ):
        raise BadRecord("model creator is not an object with a username")
    if not _text_or_none(model.get("mode")):
        raise BadRecord("model mode is not text")
    raw_versions = model.get("modelVersions")
    if not isinstance(raw_versions, list):
        raise BadRecord("model modelVersions is not a list")
    versions = _kept(raw_versions, lambda each: check_version(each, drop), drop)
    return {**model, "modelVersions": versions}


def _kept(raw: list[object], check: Callable[[object], Json], drop: Drop) -> list[Json]:
    """The records of `raw` that `check` accepts; each refused one is told to `drop`."""
    kept: list[Json] = []
    for each in raw:
        try:
            kept.append(check(each))
        except BadRecord as bad:
            drop(bad.reason)
    return kept
