"""The units of work a crawl yields: images, model files, version metadata.

Each item is JSON-serialisable (`to_spec` / `item_from_spec`) so a failure can be retried later
from the state alone, without crawling its target again.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

__all__ = ["FileItem", "ImageItem", "Item", "MetaItem", "item_from_spec"]

Json = dict[str, Any]


@dataclass(frozen=True, slots=True)
class ImageItem:
    """One image (or video) of a post, plus its metadata sidecar."""

    key: str
    target: str
    image: Json
    """The API's image object (url, postId, username, meta, …)."""
    folder: str
    """Directory the image and `{imageId}.txt` go to."""

    @property
    def name(self) -> str:
        return f"{self.image.get('id')}"

    def to_spec(self) -> Json:
        return {"type": "image", **asdict(self)}


@dataclass(frozen=True, slots=True)
class FileItem:
    """One file of a model version (LoRA, checkpoint, training data…)."""

    key: str
    target: str
    file: Json
    """The API's file object: name, sizeKB, hashes, downloadUrl, type."""
    version: Json
    """Compact version: id, name, baseModel, trainedWords, description, preview image."""
    model: Json
    """Compact model: id, name, type, description."""
    username: str
    folder: str
    lora_folder: str | None
    """Where the LoRA-family file is placed too (None: not a LoRA or no lora_dir)."""
    dest_name: str | None = None
    """The name on disk when it differs from the API's (two versions, one file name)."""

    @property
    def name(self) -> str:
        return self.dest_name or str(self.file.get("name") or f"file-{self.file.get('id')}")

    @property
    def size(self) -> int | None:
        size_kb = self.file.get("sizeKB")
        return round(float(size_kb) * 1024) if isinstance(size_kb, int | float) else None

    @property
    def sha256(self) -> str | None:
        hashes = self.file.get("hashes")
        value = hashes.get("SHA256") if isinstance(hashes, dict) else None
        return value.lower() if isinstance(value, str) and len(value) == 64 else None

    def to_spec(self) -> Json:
        return {"type": "file", **asdict(self)}


@dataclass(frozen=True, slots=True)
class MetaItem:
    """`model_meta_v{v}.json` and `.txt` of one version."""

    key: str
    target: str
    version: Json
    """The version as the API served it."""
    model: Json
    """Its model's fields (without the versions list)."""
    username: str

    @property
    def name(self) -> str:
        return f"model_meta_v{self.version.get('id')}"

    def to_spec(self) -> Json:
        return {"type": "meta", **asdict(self)}


Item = ImageItem | FileItem | MetaItem


def item_from_spec(spec: Json) -> Item:
    """Rebuild an item from `to_spec()` output (as kept in the state for retries).

    Raises:
        ValueError: the spec is not one civittui wrote.
    """
    fields = {k: v for k, v in spec.items() if k != "type"}
    kind = spec.get("type")
    try:
        if kind == "image":
            return ImageItem(**fields)
        if kind == "file":
            return FileItem(**fields)
        if kind == "meta":
            return MetaItem(**fields)
    except TypeError as exc:
        raise ValueError(f"bad item spec: {exc}") from None
    raise ValueError(f"bad item spec type: {kind!r}")
