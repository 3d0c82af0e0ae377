"""`civittui dataset`: a kohya/OneTrainer-style training folder from what the mirror holds.

Each saved still image of the chosen targets is hard linked (copied across devices) into the
folder as `{imageId}.{ext}`, beside a plain `{imageId}.txt` caption: the filtered prompt from
its sidecar (`filtered.prompt`), optionally after the trigger words of the version the image
belongs to. Videos and animations are left out, and so are images without a prompt (an empty
caption teaches a trainer nothing about the image); the summary counts both.

Which version an image belongs to, from the mirror alone: the version whose showcase lists it,
else the versions of its folder's model that its generation data names (`modelVersionIds`),
else the only version of its folder's model. The summary counts images left without one.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from civittui.prompt_syntax import tokenize
from civittui.sidecars import place_lora
from civittui.store import ItemStatus, Store

__all__ = ["DatasetSummary", "build_dataset", "format_summary"]

Json = dict[str, Any]

STILL_SUFFIXES = frozenset({".png", ".jpeg", ".jpg", ".webp"})
"""What trainers read as images (kohya: png, jpg, webp); a gif or video is not one."""
VIDEO_SUFFIXES = frozenset({".mp4", ".webm", ".mov", ".m4v"})
SUMMARY_NAME = "_summary.txt"
_TOP = 20


@dataclass(slots=True)
class DatasetSummary:
    """What went into the folder, and what did not and why."""

    out: str
    images: int = 0
    """Images linked with a caption."""
    with_trigger: int = 0
    """Captions that start with trigger words."""
    videos: int = 0
    """Videos left out."""
    not_still: int = 0
    """Other non-still files left out (gif, unknown)."""
    no_prompt: int = 0
    """Images left out: no (filtered) prompt to caption them with."""
    missing: int = 0
    """Recorded images whose file or sidecar is gone."""
    no_version: int = 0
    """With `--trigger`: images whose version could not be told (captioned without)."""
    tokens_min: int = 0
    tokens_max: int = 0
    tokens_mean: float = 0.0
    distinct_tokens: int = 0
    top_tokens: list[tuple[str, int]] = field(default_factory=list)


@dataclass(slots=True)
class _Versions:
    """What the `model_meta_v*.json` files say: trigger words, models and showcases."""

    words: dict[int, list[str]] = field(default_factory=dict)
    of_model: dict[int, list[int]] = field(default_factory=dict)
    showcase: dict[int, int] = field(default_factory=dict)
    folder_model: dict[Path, int] = field(default_factory=dict)


def _read_json(path: Path) -> Json | None:
    try:
        data = orjson.loads(path.read_bytes())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _image_id(image: object) -> int | None:
    if not isinstance(image, dict):
        return None
    if isinstance(image.get("id"), int):
        return int(image["id"])
    url = image.get("url")
    stem = url.rsplit("/", 1)[-1].split(".", 1)[0] if isinstance(url, str) else ""
    return int(stem) if stem.isdigit() else None


def _load_versions(root: Path, store: Store) -> _Versions:
    found = _Versions()
    users = root / "Users"
    for meta_path in sorted(users.glob("*/model_meta_v*.json")) if users.is_dir() else []:
        meta = _read_json(meta_path)
        if meta is None or not isinstance(meta.get("id"), int):
            continue
        version = int(meta["id"])
        words = meta.get("trainedWords")
        found.words[version] = [w.strip() for w in words or [] if isinstance(w, str) and w.strip()]
        model = meta.get("modelId")
        if isinstance(model, int):
            found.of_model.setdefault(model, []).append(version)
            # The model's folder is the name the state claimed for it in the user's folder.
            user = meta_path.parent
            name = store.claimed(f"Users/{user.name}", str(model))
            if name:
                found.folder_model[user / name] = model
        for image in meta.get("images") or []:
            image_id = _image_id(image)
            if image_id is not None:
                found.showcase[image_id] = version
    return found


def _versions_of(image_id: int, sidecar: Json, folder: Path, known: _Versions) -> list[int]:
    if image_id in known.showcase:
        return [known.showcase[image_id]]
    model = known.folder_model.get(folder)
    named = [v for v in sidecar.get("modelVersionIds") or [] if isinstance(v, int)]
    mine = known.of_model.get(model, []) if model is not None else []
    if model is not None:
        named = [v for v in named if v in mine]
    else:
        named = [v for v in named if v in known.words]
    if named:
        return named
    return list(mine) if len(mine) == 1 else []


def _caption_of(sidecar: Json) -> str | None:
    filtered = sidecar.get("filtered")
    prompt = filtered.get("prompt") if isinstance(filtered, dict) else None
    if not isinstance(prompt, str):
        return None
    caption = " ".join(prompt.split())  # one line: trainers read the first
    return caption or None


def _image_paths(store: Store, targets: Iterable[str] | None) -> Iterator[tuple[int, Path]]:
    """(image id, path) of every image recorded done, of `targets` (None: all), once each."""
    seen: set[int] = set()
    if targets is None:
        records = store.items(status=ItemStatus.DONE)
    else:
        keys: list[str] = []
        for target in targets:
            keys += [r.key for r in store.items(target=target)]
            keys += sorted(store.members(target))
        records = (r for r in (store.item(k) for k in keys if k.startswith("image:")) if r)
    for record in records:
        if record.kind != "image" or record.status is not ItemStatus.DONE or not record.path:
            continue
        if record.id not in seen:
            seen.add(record.id)
            yield record.id, Path(record.path)


def build_dataset(
    root: Path,
    store: Store,
    out: Path,
    *,
    targets: Iterable[str] | None = None,
    trigger: bool = False,
) -> DatasetSummary:
    """Fill `out` with images and captions; write `out/_summary.txt`.

    Args:
        root: the mirror's root.
        store: its state (read only: which images are saved, of which target).
        out: the training folder (created).
        targets: target keys to take images of; None: every saved image.
        trigger: start each caption with the trigger words of the image's version.

    Returns:
        The summary (also written to `out/_summary.txt`).

    Raises:
        OSError: `out` cannot be made or written.
    """
    out.mkdir(parents=True, exist_ok=True)
    known = _load_versions(root, store) if trigger else _Versions()
    summary = DatasetSummary(out=str(out))
    lengths: list[int] = []
    counts: Counter[str] = Counter()
    for image_id, path in _image_paths(store, targets):
        suffix = path.suffix.lower()
        if suffix in VIDEO_SUFFIXES:
            summary.videos += 1
            continue
        if suffix not in STILL_SUFFIXES:
            summary.not_still += 1
            continue
        sidecar = _read_json(path.with_suffix(".txt"))
        if sidecar is None or not path.is_file():
            summary.missing += 1
            continue
        caption = _caption_of(sidecar)
        if caption is None:
            summary.no_prompt += 1
            continue
        if trigger:
            versions = _versions_of(image_id, sidecar, path.parent, known)
            words = list(dict.fromkeys(w for v in versions for w in known.words.get(v, [])))
            if not versions:
                summary.no_version += 1
            if words:
                caption = f"{', '.join(words)}, {caption}"
                summary.with_trigger += 1
        place_lora(path, out / f"{image_id}{suffix}", mode="hardlink")
        (out / f"{image_id}.txt").write_text(caption + "\n", "utf-8")
        tokens = [t.normalized for t in tokenize(caption)]
        lengths.append(len(tokens))
        counts.update(t for t in tokens if t)
        summary.images += 1
    if lengths:
        summary.tokens_min, summary.tokens_max = min(lengths), max(lengths)
        summary.tokens_mean = round(sum(lengths) / len(lengths), 1)
    summary.distinct_tokens = len(counts)
    summary.top_tokens = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:_TOP]
    (out / SUMMARY_NAME).write_text(format_summary(summary) + "\n", "utf-8")
    return summary


def format_summary(summary: DatasetSummary) -> str:
    """The summary as lines for a person (what `_summary.txt` holds)."""
    lines = [f"{summary.images} image(s) with captions in {summary.out}"]
    if summary.with_trigger or summary.no_version:
        lines.append(f"{summary.with_trigger} caption(s) start with trigger words")
    left = [
        (summary.videos, "video(s) left out (not still images)"),
        (summary.not_still, "other file(s) left out (gif or unknown kind)"),
        (summary.no_prompt, "image(s) left out: no prompt to caption them with"),
        (summary.missing, "image(s) left out: file or sidecar gone (run `status`)"),
        (summary.no_version, "image(s) without trigger words: their version is not known"),
    ]
    lines += [f"{count} {what}" for count, what in left if count]
    if summary.images:
        lines.append(
            f"tokens per caption: min {summary.tokens_min}, mean {summary.tokens_mean}, "
            f"max {summary.tokens_max}; {summary.distinct_tokens} distinct"
        )
        lines.append("most used tokens:")
        lines += [f"  {count:>6}  {token}" for token, count in summary.top_tokens]
    return "\n".join(lines)
