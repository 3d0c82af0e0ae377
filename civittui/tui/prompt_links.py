"""What a saved prompt links to: its model version's trigger words and CivitAI page.

Read from the image's sidecar (`modelVersionIds`) and the `model_meta_v{v}.json` files civittui
wrote beside the model's images; no network.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from civittui.sidecars import version_page_url
from civittui.textsafe import display_text
from civittui.tui.opener import SITE

__all__ = ["page_url", "trigger_words"]


def _read(path: Path) -> dict[str, Any] | None:
    try:
        doc = orjson.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return None
    return doc if isinstance(doc, dict) else None


def _version_meta(sidecar: Path, root: Path) -> dict[str, Any] | None:
    """The metadata of the model version the image was made with, if it is on disk.

    `model_meta_v{v}.json` lives in `Users/{creator}/` (design §5): the model folder's parent
    for the model's own images, any creator's folder for an image posted elsewhere.
    """
    doc = _read(sidecar) or {}
    ids = [v for v in doc.get("modelVersionIds") or [] if isinstance(v, int)]
    for version_id in ids:
        name = f"model_meta_v{version_id}.json"
        places = [sidecar.parent / name, sidecar.parent.parent / name]
        places += sorted((root / "Users").glob(f"*/{name}"))
        for path in places:
            meta = _read(path)
            if meta is not None:
                return meta
    return None


def trigger_words(sidecar: Path, root: Path) -> list[str]:
    """The trigger words (`trainedWords`) of the image's model version; [] when unknown."""
    meta = _version_meta(sidecar, root) or {}
    words = meta.get("trainedWords") or []
    # Server text: controls and bidi overrides go before it reaches a clipboard or a toast.
    safe = (display_text(w).strip() for w in words if isinstance(w, str))
    return [w for w in safe if w]


def page_url(sidecar: Path, root: Path, image_id: int) -> str:
    """The model version's page when its metadata is on disk, else the image's page."""
    meta = _version_meta(sidecar, root) or {}
    model_id, version_id = meta.get("modelId"), meta.get("id")
    if isinstance(model_id, int) and isinstance(version_id, int):
        return version_page_url(model_id, version_id, site=SITE)
    return f"{SITE}/images/{int(image_id)}"
