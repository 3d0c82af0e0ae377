"""Saved prompts for the Prompts pane, read from the `{imageId}.txt` sidecars under the root.

Reading runs in a thread worker; this module holds no Textual code.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import orjson

from civittui.layout import STILL_SUFFIXES
from civittui.prompts.tools import iter_sidecars
from civittui.textsafe import display_text

__all__ = [
    "PromptEntry",
    "entry_from_sidecar",
    "insert_newest_first",
    "load_prompts",
    "read_sidecars",
    "search",
]


@dataclass(frozen=True, slots=True)
class PromptEntry:
    """One saved image's prompt and generation settings."""

    image_id: int
    post_id: int | None
    username: str
    created_at: str
    """ISO 8601 as CivitAI gave it (sorts by time as text)."""
    width: int | None
    height: int | None
    prompt: str
    negative: str
    meta: Mapping[str, object] = field(default_factory=dict)
    """The API's generation data (seed, steps, sampler, cfgScale, …)."""
    sidecar: Path | None = None
    """The `{imageId}.txt` file."""
    search_text: str = ""
    """Lower-cased text a search matches against."""

    def image_path(self) -> Path | None:
        """The saved image beside the sidecar, if there is one (touches the disk)."""
        if self.sidecar is None:
            return None
        for ext in STILL_SUFFIXES:
            candidate = self.sidecar.with_suffix(ext)
            if candidate.is_file():
                return candidate
        return None


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def entry_from_sidecar(path: Path | None, doc: Mapping[str, object]) -> PromptEntry | None:
    """A `PromptEntry` from a parsed sidecar, or None when it holds no image id.

    Args:
        path: where the sidecar lives (None for entries built in memory).
        doc: the sidecar's JSON object.
    """
    image_id = _int(doc.get("id"))
    if image_id is None:
        return None
    meta = doc.get("meta")
    meta = meta if isinstance(meta, dict) else {}
    # Sidecars hold server text as-is; the pane shows it, so it is made safe here, once.
    prompt = display_text(_text(doc.get("prompt")) or _text(meta.get("prompt")), multiline=True)
    negative = _text(doc.get("negativePrompt")) or _text(meta.get("negativePrompt"))
    negative = display_text(negative, multiline=True)
    username = display_text(_text(doc.get("username")))
    return PromptEntry(
        image_id=image_id,
        post_id=_int(doc.get("postId")),
        username=username,
        created_at=display_text(_text(doc.get("createdAt"))),
        width=_int(doc.get("width")),
        height=_int(doc.get("height")),
        prompt=prompt,
        negative=negative,
        meta=meta,
        sidecar=path,
        search_text=f"{image_id} {username} {prompt}".lower(),
    )


def load_prompts(root: Path, *, cancelled: Callable[[], bool] = lambda: False) -> list[PromptEntry]:
    """Entries of every image metadata file under `root`, newest first (`createdAt`, then id).

    Unreadable or malformed files are skipped (`civittui refilter` reports them).

    Args:
        root: the download root.
        cancelled: polled between files; True stops early (the worker was cancelled).
    """
    entries: list[PromptEntry] = []
    for path in iter_sidecars(root):
        if cancelled():
            break
        entry = _read(path)
        if entry is not None:
            entries.append(entry)
    entries.sort(key=_order, reverse=True)
    return entries


def read_sidecars(paths: Iterable[Path]) -> list[PromptEntry]:
    """Entries of these sidecar files (missing or malformed ones are skipped)."""
    return [entry for path in paths if (entry := _read(path)) is not None]


def _read(path: Path) -> PromptEntry | None:
    try:
        doc = orjson.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return None
    return entry_from_sidecar(path, doc) if isinstance(doc, dict) else None


def _order(entry: PromptEntry) -> tuple[str, int]:
    return (entry.created_at, entry.image_id)


def insert_newest_first(
    entries: list[PromptEntry], new: Iterable[PromptEntry], known: set[int]
) -> list[int]:
    """Put `new` into `entries` (newest first) in place; an image already listed is replaced.

    Args:
        entries: the listed entries, newest first.
        new: entries to add.
        known: the image ids in `entries` (kept up to date here; a scan per tick costs too much
            at 100k prompts).

    Returns:
        The ids of the images that were not listed before.
    """
    added: list[int] = []
    for entry in new:
        if entry.image_id in known:  # rare: the same image again (a retry, another target)
            at = next(i for i, e in enumerate(entries) if e.image_id == entry.image_id)
            entries[at] = entry
            continue
        key = _order(entry)
        low, high = 0, len(entries)
        while low < high:  # binary search in a descending list
            middle = (low + high) // 2
            if _order(entries[middle]) > key:
                low = middle + 1
            else:
                high = middle
        entries.insert(low, entry)
        known.add(entry.image_id)
        added.append(entry.image_id)
    return added


def search(entries: list[PromptEntry], query: str) -> list[PromptEntry]:
    """The entries whose id, username or prompt contain every word of `query` (any case)."""
    words = query.lower().split()
    if not words:
        return entries
    return [e for e in entries if all(word in e.search_text for word in words)]
