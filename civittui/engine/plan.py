"""Items -> paths: every name civittui writes is decided here, and `check` says, writing nothing,
whether an item is already on disk and verified.

What civittui writes, and where:
- a model or post folder: images `{imageId}.{ext}`, their sidecars `{imageId}.txt`, model files
  (names the creator chose) and download scratch (`.part`, `.part.ranges`, `.aria2`, `.tmp`);
- a user folder: model folders (creator-chosen) and `model_meta_v{v}.json` / `.txt`;
- a LoRA model folder: model files, their WebUI cards `{stem}.json`, previews `{stem}.preview.*`.

A creator-chosen name that has the shape of one of civittui's own gets the claim suffix
(`12.jpeg` -> `12 (fileId).jpeg`), and creator-chosen names are claimed in the state per folder
(case-insensitively, cards and previews included), so two things never share a path. Claims are
written to the state only by a run that holds the root's lock: `status` and `--dry-run` open the
state read-only, so the same planning leaves nothing behind.
"""

from __future__ import annotations

import itertools
import os
import re
import stat
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio

from civittui.config import Config
from civittui.download.verify import sha256_file, size_matches
from civittui.engine.items import FileItem, ImageItem, Item, MetaItem
from civittui.layout import (
    IMAGE_SUFFIXES,
    TITLE_MAX_BYTES,
    Layout,
    sanitize_component,
    sanitize_filename,
)
from civittui.sidecars import is_lora_family, version_meta
from civittui.state import ItemStatus, Store

__all__ = [
    "Done",
    "FolderNames",
    "Planner",
    "check_done",
    "is_own_name",
    "own_path",
]

Json = dict[str, Any]


_MAX_CANDIDATES = 20  # `name (id) n.ext` forms tried before `file-{id}`

_SUFFIXES = "|".join(re.escape(s.lstrip(".")) for s in (*IMAGE_SUFFIXES, ".txt"))
_OWN_NAMES = re.compile(
    rf"\d+\.(?:{_SUFFIXES})|model_meta_v\d+\.(?:json|txt)|.*\.(?:part|ranges|aria2|tmp)",
    re.IGNORECASE,
)
_PREVIEW = re.compile(r"(.*\.preview)\.[^.]*", re.IGNORECASE)


def is_own_name(name: str) -> bool:
    """True when `name` has the shape of a file civittui itself names (image, sidecar, meta,
    download scratch), so a creator-chosen name like it must not be used as given."""
    return _OWN_NAMES.fullmatch(name) is not None


def _suffixed(wanted: str, owner: str, n: int = 1) -> str:
    """`lora.safetensors` -> `lora (3007).safetensors` (n > 1: `lora (3007) 2.safetensors`)."""
    stem, dot, suffix = wanted.rpartition(".")
    if not dot or not stem:
        stem, suffix = wanted, ""
    tag = f" ({owner})" + (f" {n}" if n > 1 else "")
    return sanitize_filename(f"{stem}{tag}{'.' + suffix if suffix else ''}", fallback=wanted)


def _candidates(wanted: str, owner: str) -> Iterator[str]:
    """Names to try for a file, best first; the last ones never end (`file-{id}-{n}`)."""
    yield wanted
    for n in range(1, _MAX_CANDIDATES):
        yield _suffixed(wanted, owner, n)
    yield f"file-{owner}"  # a name like `x.part` keeps its scratch suffix through `_suffixed`
    yield from (f"file-{owner}-{n}" for n in itertools.count(2))


def _lora_slots(name: str) -> tuple[str, str, str] | None:
    """(file, card, preview) names a file takes in a LoRA folder, or None: it cannot be placed
    (a `.json` file is its own card; a `*.preview.*` file is someone's preview)."""
    path = Path(name)
    if path.suffix.casefold() == ".json" or _PREVIEW.fullmatch(name):
        return None
    return name, f"{path.stem}.json", f"{path.stem}.preview"


class Planner:
    """Folder and file names for one run, claimed in the state (stable across runs)."""

    def __init__(self, config: Config, store: Store, layout: Layout) -> None:
        self._config = config
        self._store = store
        self._layout = layout
        self._model_folders: dict[tuple[str, str], str] = {}

    def model_dir_name(self, username: str, model: Json) -> tuple[str, str]:
        """(sanitized user, claimed model folder name): the same in root and in lora_dir."""
        user = sanitize_component(username, fallback="unknown-user")
        owner = str(model.get("id"))
        wanted = sanitize_component(
            str(model.get("name") or ""), fallback=f"model-{owner}", max_bytes=TITLE_MAX_BYTES
        )
        if is_own_name(wanted):  # a model named `model_meta_v12.json` beside that file
            wanted = f"{wanted} ({owner})"
        return user, self._store.claim_dir(f"Users/{user}", owner, wanted)

    def model_folder(self, username: str, model: Json) -> str:
        # Asked once per image: a model's claim never changes (see `Store.claim_dir`).
        key = (username, str(model.get("id")))
        folder = self._model_folders.get(key)
        if folder is None:
            folder = str(self._layout.model_dir(*self.model_dir_name(username, model)))
            self._model_folders[key] = folder
        return folder

    def lora_folder(self, username: str, model: Json) -> str | None:
        if not is_lora_family(model.get("type")) or self._config.lora_link == "off":
            return None
        folder = self._layout.lora_model_dir(*self.model_dir_name(username, model))
        return str(folder) if folder is not None else None

    def post_dir_name(self, post_id: int, title: object) -> str:
        wanted = sanitize_component(
            title if isinstance(title, str) else "",
            fallback=str(post_id),
            max_bytes=TITLE_MAX_BYTES,
        )
        return self._store.claim_dir("Posts", str(post_id), wanted)

    def file_names(
        self, folder: str, lora_folder: str | None, files: Sequence[Json]
    ) -> dict[int, tuple[str, str | None]]:
        """file id -> (its name in `folder`, the LoRA folder it is placed in or None).

        The primary file claims first, so it keeps CivitAI's name whatever order the API lists
        a version's files in; the others get `name (fileId).ext`, the same on every run.
        """
        ordered = sorted(
            (f for f in files if isinstance(f, dict) and isinstance(f.get("id"), int)),
            key=lambda f: (f.get("primary") is not True, f["id"]),
        )
        return {f["id"]: self._file_name(folder, lora_folder, f) for f in ordered}

    def _file_name(
        self, folder: str, lora_folder: str | None, file: Json
    ) -> tuple[str, str | None]:
        owner = str(file["id"])
        scope = f"files:{folder}"
        wanted = sanitize_filename(str(file.get("name") or ""), fallback=f"file-{owner}")
        held = self._store.claimed(scope, owner)
        if held is not None:
            # Older states held `{wanted} ({owner})` for a file named `{stem} ({owner}).{ext}`.
            name = _suffixed(wanted, owner) if held.startswith(f"{wanted} ({owner})") else held
            return name, self._place_in(lora_folder, owner, name)
        for name in _candidates(wanted, owner):
            if not is_own_name(name) and self._store.claim_names([(scope, owner, name)]):
                return name, self._place_in(lora_folder, owner, name)
        raise AssertionError("unreachable: _candidates never ends")

    def _place_in(self, lora_folder: str | None, owner: str, name: str) -> str | None:
        """`lora_folder` once the file, its card and its preview names are claimed there."""
        slots = _lora_slots(name) if lora_folder is not None else None
        if lora_folder is None or slots is None:
            return None
        scope = f"files:{lora_folder}"
        file, card, preview = slots
        claims = [(scope, owner, file), (scope, f"{owner}:card", card)]
        claims.append((scope, f"{owner}:preview", preview))
        return lora_folder if self._store.claim_names(claims) else None


# -- is it done? (reads only) -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Done:
    """An item on disk and verified."""

    path: Path
    size: int
    recorded: bool = True
    """The state already says so (else the finishing step records it)."""
    sha256: str | None = None
    link_from: Path | None = None
    """The verified copy another target fetched: finishing links (or copies) it to `path`."""


def own_path(item: Item, layout: Layout, fetched: Path) -> Path | None:
    """Where this item's target keeps it (`fetched`: where it is on disk), or None for items
    every target shares (version metadata)."""
    if isinstance(item, FileItem):
        return layout.file_path(Path(item.folder), item.name)
    if isinstance(item, ImageItem):
        return layout.image_stem(Path(item.folder), int(item.image["id"])).with_suffix(
            fetched.suffix
        )
    return None


class FolderNames:
    """The names in each folder, listed once and kept until `forget` (a new crawl).

    A first run checks every image it is given against the disk: a set lookup per image
    instead of a stat per possible suffix. A name missing from a listing that appears later
    in the same crawl is one this run wrote, for an item it already routed (each key once per
    run), so it is never asked about.
    """

    def __init__(self) -> None:
        self._names: dict[Path, frozenset[str]] = {}

    def forget(self) -> None:
        self._names.clear()

    def __call__(self, folder: Path) -> frozenset[str]:
        names = self._names.get(folder)
        if names is None:
            try:
                with os.scandir(folder) as entries:
                    names = frozenset(entry.name for entry in entries)
            except OSError:
                names = frozenset()  # not made yet: nothing in it is done
            self._names[folder] = names
        return names


async def check_done(
    item: Item, store: Store, layout: Layout, names: FolderNames | None = None
) -> Done | None:
    """The item's verified file when it needs no download; writes nothing (`names`: listings
    to reuse, see `FolderNames`).

    An item another target recorded (a post's image, then its model) is done at this target's
    own path, linked from the other one by `ItemProcessor.finish`: each target has its layout.
    """
    if isinstance(item, MetaItem):
        return _meta_unchanged(item, layout)
    record = store.item(item.key)
    if record is not None and record.status == ItemStatus.DONE and record.path:
        path = Path(record.path)
        try:
            size = path.stat().st_size
        except OSError:
            size = -1  # vanished: fetch again
        if size >= 0 and (record.size is None or size == record.size):
            try:
                own = own_path(item, layout, path)
            except ValueError:
                own = None  # a folder outside the mirror: the process step says so if fetched
            if own is None or own == path:
                return Done(path, size)
            if _has_size(own, size):
                return Done(own, size)  # linked on an earlier run
            return Done(own, size, link_from=path)
    # Not recorded (state lost or older than the files): trust only what verifies on disk.
    if isinstance(item, FileItem):
        return await _file_on_disk(item, layout)
    return _image_on_disk(item, layout, names or FolderNames())


def _has_size(path: Path, size: int) -> bool:
    try:
        return path.stat().st_size == size
    except OSError:
        return False


async def _file_on_disk(item: FileItem, layout: Layout) -> Done | None:
    path = layout.file_path(Path(item.folder), item.name)
    try:
        size = path.stat().st_size
    except OSError:
        return None
    if not size_matches(size, item.size):  # `sizeKB` is rounded: within SIZE_TOLERANCE
        return None
    digest = await anyio.to_thread.run_sync(sha256_file, path)
    if item.sha256 and digest != item.sha256:
        return None
    return Done(path, size, recorded=False, sha256=digest)


def _image_on_disk(item: ImageItem, layout: Layout, names: FolderNames) -> Done | None:
    stem = layout.image_stem(Path(item.folder), int(item.image["id"]))
    present = names(stem.parent)
    for suffix in IMAGE_SUFFIXES:
        if stem.name + suffix not in present:
            continue
        # Only a verified, complete image ever gets its final name (atomic rename), so one
        # that exists is done.
        path = stem.with_suffix(suffix)
        try:
            found = path.stat()
        except OSError:
            continue  # removed since the listing
        if stat.S_ISREG(found.st_mode) and found.st_size > 0:
            return Done(path, found.st_size, recorded=False)
    return None


def _meta_unchanged(item: MetaItem, layout: Layout) -> Done | None:
    json_path, _ = layout.meta_paths(item.username, int(item.version["id"]))
    try:
        import orjson

        on_disk = orjson.loads(json_path.read_bytes())
    except (OSError, ValueError):
        return None
    if on_disk != version_meta(item.version, item.model):
        return None
    return Done(json_path, json_path.stat().st_size)
