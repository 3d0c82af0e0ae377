"""`civittui adopt`: identify the model files a person already has, and take them into the library.

Files are hashed (cached by path, size and mtime in the state), looked up 100 SHA256s a call
with `POST /api/v1/model-versions/by-hash`, and their models' creators read 100 models a call
from `/models?ids=` (the by-hash body has no creator; civitai/civitai `getModelVersionApiSelect`
selects only the model's name, type, nsfw, poi and mode). Each known file gets what `get`
writes (WebUI card and preview beside it when absent, `model_meta_v{id}` under its creator) and
is recorded done with its SHA256, so `get` links it instead of downloading it.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import orjson

from civittui.atomicio import write_json_atomic, write_text_atomic
from civittui.civitai.client import BY_HASH_BATCH, CivitaiClient
from civittui.civitai.gate import ApiGate
from civittui.config import Config
from civittui.download.base import DownloadRequest
from civittui.download.builtin import BuiltinDownloader
from civittui.engine.crawl import compact_model, compact_version
from civittui.engine.hashing import LocalFile, hash_files, scan_model_files
from civittui.engine.process import original_image_url
from civittui.errors import ApiError, ItemError
from civittui.layout import Layout
from civittui.sidecars import version_meta, version_meta_text, version_page_url, webui_card
from civittui.store import ItemStatus, Store

__all__ = ["AdoptReport", "Adopted", "Adopter", "Unknown"]

Json = dict[str, Any]
Progress = Callable[[str, int, int], None]
"""(phase, done, total): phase "hash" counts bytes, "identify" hashes, "write" files."""

NOT_ON_CIVITAI = "not on CivitAI"
AUTOV2_ONLY = "only an AutoV2 match"
DELETED = "deleted"
_PREVIEW_SUFFIXES = (".png", ".jpeg", ".jpg", ".webp", ".gif")


@dataclass(slots=True)
class Adopted:
    """A file CivitAI knows."""

    path: str
    sha256: str
    file_id: int
    version_id: int
    model_id: int
    creator: str
    model: str
    version: str
    wrote: list[str] = field(default_factory=list)
    """What adopt wrote for it (card, preview, meta); empty in a dry run."""


@dataclass(slots=True)
class Unknown:
    """A file CivitAI does not know, and why."""

    path: str
    sha256: str
    reason: str
    detail: str = ""


@dataclass(slots=True)
class AdoptReport:
    """What one adopt run found and did."""

    dry_run: bool = False
    scanned: int = 0
    hashed: int = 0
    """Files read and hashed (the rest came from the cache)."""
    hashed_bytes: int = 0
    hash_seconds: float = 0.0
    adopted: list[Adopted] = field(default_factory=list)
    unknown: list[Unknown] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    api_calls: int = 0
    seconds: float = 0.0


class Adopter:
    """One adopt run over some folders.

    Args:
        config: effective configuration.
        store: the open state (read-only for a dry run: nothing is written anywhere).
        dry_run: identify and list only.
        progress: told how far each phase is.
        gate: the API gate to share (the app's engine's); default: a new one.
    """

    def __init__(
        self,
        config: Config,
        store: Store,
        *,
        dry_run: bool = False,
        progress: Progress | None = None,
        gate: ApiGate | None = None,
    ) -> None:
        self._config = config
        self._store = store
        self._dry_run = dry_run
        self._progress = progress or (lambda phase, done, total: None)
        self._layout = Layout(config.root, config.lora_dir)
        self._gate = gate
        self._images: BuiltinDownloader

    async def run(self, folders: Sequence[Path]) -> AdoptReport:
        """Scan, hash, identify and (unless dry) write and record.

        Raises:
            ApiError: CivitAI could not be asked (after retries).
        """
        started = time.monotonic()
        report = AdoptReport(dry_run=self._dry_run)
        files = await anyio.to_thread.run_sync(scan_model_files, list(folders))
        report.scanned = len(files)
        # The cache keeps only files still there (a renamed file would linger forever).
        prefixes = tuple(os.path.join(Path(f).absolute(), "") for f in folders)
        self._store.prune_hashes(prefixes, {str(f.path) for f in files})
        await self._hash(files, report)
        hashed = [f for f in files if f.sha256 is not None]
        gate = self._gate or ApiGate(
            self._config.rate,
            cooldown_until=self._store.cooldown_until(),
            on_cooldown=None if self._dry_run else self._store.set_cooldown_until,
        )
        calls_before = gate.calls
        client = CivitaiClient(self._config, gate)
        self._images = BuiltinDownloader(self._config.download)
        try:
            known, models = await self._identify(client, hashed)
            for file in hashed:
                assert file.sha256 is not None
                match = known.get(file.sha256)
                model = models.get(match[0].get("modelId")) if match else None  # type: ignore[arg-type]
                if match is None:
                    report.unknown.append(await self._why_unknown(client, file))
                elif model is None:
                    report.unknown.append(
                        Unknown(
                            str(file.path),
                            file.sha256,
                            DELETED,
                            f"its model {match[0].get('modelId')} is no longer listed",
                        )
                    )
                else:
                    report.adopted.append(await self._adopt(file, match, model))
                self._progress("write", len(report.adopted) + len(report.unknown), len(hashed))
        finally:
            await client.aclose()
            await self._images.aclose()
        report.api_calls = gate.calls - calls_before
        report.seconds = round(time.monotonic() - started, 3)
        if not self._dry_run:
            await anyio.to_thread.run_sync(self._store.flush)
        return report

    # -- hashing ------------------------------------------------------------------------------

    async def _hash(self, files: list[LocalFile], report: AdoptReport) -> None:
        for file in files:
            file.sha256 = self._store.cached_hash(str(file.path), file.size, file.mtime_ns)
            file.cached = file.sha256 is not None
        todo = [f for f in files if f.sha256 is None]
        total = sum(f.size for f in todo)
        done = [0]
        lock = threading.Lock()

        def step(n: int) -> None:  # from the hashing threads
            with lock:
                done[0] += n

        def failed(file: LocalFile, exc: OSError) -> None:
            with lock:
                report.errors.append(f"{file.path}: cannot read ({exc.strerror or exc})")

        began = time.monotonic()
        async with anyio.create_task_group() as tg:

            async def tell() -> None:
                while True:
                    self._progress("hash", done[0], total)
                    await anyio.sleep(0.1)

            tg.start_soon(tell)
            await hash_files(todo, progress=step, on_error=failed)
            tg.cancel_scope.cancel()
        self._progress("hash", done[0], total)
        report.hash_seconds = round(time.monotonic() - began, 3)
        for file in todo:
            if file.sha256 is not None:
                report.hashed += 1
                report.hashed_bytes += file.size
                self._store.remember_hash(str(file.path), file.size, file.mtime_ns, file.sha256)

    # -- asking CivitAI -----------------------------------------------------------------------

    async def _identify(
        self, client: CivitaiClient, files: list[LocalFile]
    ) -> tuple[dict[str, tuple[Json, Json]], dict[int, Json]]:
        """SHA256 -> (version body, file) for the files CivitAI knows; model id -> model."""
        shas = list(dict.fromkeys(f.sha256 for f in files if f.sha256))
        known: dict[str, tuple[Json, Json]] = {}
        for start in range(0, len(shas), BY_HASH_BATCH):
            batch = shas[start : start + BY_HASH_BATCH]
            wanted = set(batch)
            for body in await client.versions_by_hash(batch):
                for file in body.get("files") or []:
                    hashes = file.get("hashes") if isinstance(file, dict) else None
                    sha = hashes.get("SHA256") if isinstance(hashes, dict) else None
                    if isinstance(sha, str) and sha.lower() in wanted:
                        known.setdefault(sha.lower(), (body, file))
            self._progress("identify", min(start + BY_HASH_BATCH, len(shas)), len(shas))
        model_ids = sorted(
            {int(b["modelId"]) for b, _ in known.values() if isinstance(b.get("modelId"), int)}
        )
        models: dict[int, Json] = {}
        async for page in client.models_by_ids(model_ids):
            for model in page:
                if isinstance(model.get("id"), int):
                    models[model["id"]] = model
        for model_id in model_ids:
            if model_id not in models:  # hidden from listings (nsfw setting), or gone
                try:
                    models[model_id] = await client.model(model_id)
                except ApiError:
                    continue
        return known, models

    async def _why_unknown(self, client: CivitaiClient, file: LocalFile) -> Unknown:
        assert file.sha256 is not None
        path, sha = str(file.path), file.sha256
        record = self._store.file_with_sha256(sha)
        if record is not None:  # CivitAI knew it once: this library recorded it
            return Unknown(path, sha, DELETED, f"it was {record.key} on CivitAI")
        # The single-hash route matches every hash type (civitai-api.md §4.2): a hit on the
        # first 10 hex digits alone is another file that only shares the AutoV2 hash.
        other = await client.version_by_hash(sha[:10])
        if other is not None:
            model = other.get("model") if isinstance(other.get("model"), dict) else {}
            name = f"{model.get('name')} - {other.get('name')}"  # type: ignore[union-attr]
            return Unknown(path, sha, AUTOV2_ONLY, f"{name} (version {other.get('id')})")
        return Unknown(path, sha, NOT_ON_CIVITAI)

    # -- writing ------------------------------------------------------------------------------

    async def _adopt(self, file: LocalFile, match: tuple[Json, Json], model: Json) -> Adopted:
        body, api_file = match
        assert file.sha256 is not None
        version_id = int(body["id"])
        version = next(
            (
                v
                for v in model.get("modelVersions") or []
                if isinstance(v, dict) and v.get("id") == version_id
            ),
            body,
        )
        creator = str((model.get("creator") or {}).get("username") or "")
        adopted = Adopted(
            path=str(file.path),
            sha256=file.sha256,
            file_id=int(api_file["id"]),
            version_id=version_id,
            model_id=int(model["id"]),
            creator=creator,
            model=str(model.get("name") or ""),
            version=str(version.get("name") or ""),
        )
        if self._dry_run:
            return adopted
        small = compact_version(version, model["id"])
        compact = compact_model(model)
        page = version_page_url(model["id"], version_id, site=self._config.api_base)
        card = file.path.with_suffix(".json")
        if not card.exists():  # never a user's own card
            card_model = {k: compact.get(k) for k in ("id", "name", "type", "description")}
            await anyio.to_thread.run_sync(
                write_json_atomic, card, webui_card(small, card_model, page_url=page)
            )
            adopted.wrote.append("card")
        if await self._preview(file.path, small.get("preview")):
            adopted.wrote.append("preview")
        if creator:
            if await anyio.to_thread.run_sync(self._meta, creator, version, compact, page):
                adopted.wrote.append("meta")
        key = f"file:{adopted.file_id}"
        record = self._store.item(key)
        on_disk = record is not None and record.status == ItemStatus.DONE and record.path
        if not (on_disk and Path(str(record.path)).is_file()):  # type: ignore[union-attr]
            self._store.mark_done(
                key,
                target=None,
                name=file.path.name,
                path=str(file.path),
                size=file.size,
                sha256=file.sha256,
            )
        return adopted

    def _meta(self, creator: str, version: Json, model: Json, page: str) -> bool:
        """Write `model_meta_v{id}.json/.txt` unless they already say the same."""
        json_path, text_path = self._layout.meta_paths(creator, int(version["id"]))
        meta = version_meta(version, model)
        if _same_json(json_path, meta) and text_path.exists():
            return False  # a second adopt rewrites nothing
        json_path.parent.mkdir(parents=True, exist_ok=True)
        write_json_atomic(json_path, meta)
        write_text_atomic(text_path, version_meta_text(meta, page_url=page))
        self._store.mark_done(
            f"meta:{version['id']}",
            target=None,
            name=json_path.name,
            path=str(json_path),
            size=json_path.stat().st_size,
            sha256=None,
        )
        return True

    async def _preview(self, path: Path, preview: object) -> bool:
        """`{stem}.preview.{ext}` from the version's first image, unless one is there."""
        stem = path.with_suffix("")
        if any(stem.with_name(f"{stem.name}.preview{s}").exists() for s in _PREVIEW_SUFFIXES):
            return False
        url = preview.get("url") if isinstance(preview, dict) else None
        if not isinstance(url, str):
            return False
        try:
            await self._images.download(
                DownloadRequest(
                    key=f"preview:{path.name}",
                    url=original_image_url(url, "image"),
                    dest=stem.with_name(f"{stem.name}.preview.jpeg"),
                    kind="image",
                    pick_extension=True,
                ),
                lambda done, total, note=None: None,
            )
        except ItemError:
            return False  # a missing preview never fails the adoption
        return True


def _same_json(path: Path, data: Json) -> bool:
    try:
        return bool(orjson.loads(path.read_bytes()) == data)
    except (OSError, ValueError):
        return False
