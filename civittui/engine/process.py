"""What happens to one item: finish it if done, else download, verify, post-process, record.

The runner decides *when* (queues, workers, events); this module decides *what*.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import anyio

from civittui.civitai.client import CivitaiClient
from civittui.config import Config
from civittui.download.base import Downloader, DownloadRequest
from civittui.engine.dedupe import link_twin
from civittui.engine.items import FileItem, ImageItem, Item, MetaItem
from civittui.engine.plan import Done, FolderNames, check_done
from civittui.errors import DownloadError, ItemError
from civittui.events import Event, ItemProgress, ItemStarted
from civittui.fsio import batch_sync_available
from civittui.layout import IMAGE_SUFFIXES, Layout
from civittui.prompts.filters import FilterSet
from civittui.redact import Redactor
from civittui.sidecars import (
    image_sidecar,
    place_lora,
    version_meta,
    version_meta_text,
    version_page_url,
    webui_card,
    write_json_atomic,
    write_preview,
    write_text_atomic,
)
from civittui.state import Store

__all__ = ["Done", "ItemProcessor", "ProgressReporter", "original_image_url"]

_PROGRESS_EVERY = 0.1  # s: ~10 updates a second per row is all the eye can use


class ProgressReporter:
    """The `Progress` callback an engine calls; turns bytes into throttled events."""

    def __init__(self, key: str, notify: Callable[[Event], None]) -> None:
        self._key = key
        self._notify = notify
        self._last_emit = 0.0
        self._window: tuple[float, int] = (time.monotonic(), 0)
        self._speed = 0.0

    def __call__(self, done: int, total: int | None, note: str | None = None) -> None:
        now = time.monotonic()
        if now - self._last_emit < _PROGRESS_EVERY and (total is None or done < total):
            return
        since, bytes_then = self._window
        if now - since >= 0.5:
            self._speed = max(0.0, (done - bytes_then) / (now - since))
            self._window = (now, done)
        self._last_emit = now
        self._notify(ItemProgress(self._key, done, total, self._speed, note))


def original_image_url(url: str, media_type: object) -> str:
    """The original-quality URL of a CivitAI image/video (`…/{uuid}/{params}/{name}`)."""
    parts = urlsplit(url)
    segments = parts.path.split("/")
    if len(segments) >= 4 and "=" in segments[-2]:
        segments[-2] = "original=true,quality=100" if media_type == "video" else "original=true"
    return urlunsplit((parts.scheme, parts.netloc, "/".join(segments), parts.query, ""))


class ItemProcessor:
    """Skips, downloads and post-processes items for one run."""

    def __init__(
        self,
        *,
        config: Config,
        store: Store,
        layout: Layout,
        filters: FilterSet,
        client: CivitaiClient,
        images: Downloader,
        files: Downloader,
        redact: Redactor,
    ) -> None:
        self._config = config
        self._store = store
        self._layout = layout
        self._filters = filters
        self._client = client
        self._images = images
        self._files = files
        self._redact = redact
        self._names = FolderNames()

    def new_crawl(self) -> None:
        """Forget the folder listings `check` took: a new crawl looks at the disk again."""
        self._names.forget()

    def use_filters(self, filters: FilterSet) -> None:
        """Write the sidecars of the next images with these lists."""
        self._filters = filters

    # -- already done? ------------------------------------------------------------------------

    async def check(self, item: Item) -> Done | None:
        """The item's verified file when it needs no download (writes nothing: see `finish`)."""
        return await check_done(item, self._store, self._layout, self._names)

    async def finish(self, item: Item, done: Done) -> None:
        """Complete an item `check` found done: LoRA placement and card, a missing sidecar, and
        its record when only the disk knew it; a copy another target fetched is linked here."""
        if done.link_from is not None:
            link_from = done.link_from
            # A hard link (a copy across devices): the same bytes in this target's folder.
            try:
                await anyio.to_thread.run_sync(
                    lambda: place_lora(link_from, done.path, mode="hardlink")
                )
            except OSError:
                return  # the fetched copy stays where it is; `status` shows this one as a gap
        if isinstance(item, FileItem):
            await self._place(item, done.path)
        elif isinstance(item, ImageItem):
            sidecar = self._layout.sidecar_path(Path(item.folder), int(item.image["id"]))
            if not _has_content(sidecar):  # (empty: a power cut before its sync, see `_image`)
                await anyio.to_thread.run_sync(self._write_image_sidecar, item, True)
        if not done.recorded:
            self._record_done(item, done.path, done.size, done.sha256)

    # -- doing it -----------------------------------------------------------------------------

    async def process(
        self,
        item: Item,
        progress: ProgressReporter,
        emit: Callable[[Event], Awaitable[None]],
    ) -> Done:
        """Fetch, verify, post-process and record one item.

        Raises:
            ItemError: any failure, with a reason fit for the failure log.
        """
        try:
            if isinstance(item, ImageItem):
                return await self._image(item, progress, emit)
            if isinstance(item, FileItem):
                return await self._file(item, progress, emit)
            return await anyio.to_thread.run_sync(self._meta, item)
        except OSError as exc:
            where = f" ({exc.filename})" if exc.filename else ""
            raise ItemError(f"disk error: {exc.strerror or exc}{where}") from None
        except ValueError as exc:
            # The layout refused a path outside the mirror: an item recorded under another
            # root (the mirror was moved) or an edited state. One failure, not a traceback.
            raise ItemError(
                f"{exc} (was the mirror moved? queue the target's URL again)", permanent=True
            ) from None

    async def _image(
        self, item: ImageItem, progress: ProgressReporter, emit: Callable[[Event], Awaitable[None]]
    ) -> Done:
        image = item.image
        url = image.get("url")
        if not isinstance(url, str) or not url:
            raise ItemError("the API gave no URL for this image", permanent=True)
        folder = Path(item.folder)
        stem = self._layout.image_stem(folder, int(image["id"]))
        guess = ".mp4" if image.get("type") == "video" else ".jpeg"  # replaced on arrival
        await emit(ItemStarted(item.key, f"{image['id']}", None, self._images.name))
        result = await self._images.download(
            DownloadRequest(
                key=item.key,
                url=original_image_url(url, image.get("type")),
                dest=stem.with_suffix(guess),
                kind="image",
                pick_extension=True,
            ),
            progress,
        )
        # In a thread, or the event loop waits on the disk; where the state's flush syncs a
        # batch at once, without its own fsync (~5 ms with the folder's): that flush syncs it
        # before it writes the record (`Store.flush`).
        later = batch_sync_available()
        sidecar = await anyio.to_thread.run_sync(self._write_image_sidecar, item, not later)
        written = (sidecar,) if later else ()
        return self._record_done(item, result.path, result.size, result.sha256, written)

    def _write_image_sidecar(self, item: ImageItem, fsync: bool) -> Path:
        meta = item.image.get("meta")
        meta = meta if isinstance(meta, dict) else {}
        if isinstance(meta.get("meta"), dict):  # the wrapped {id, meta} shape
            meta = meta["meta"]
        prompt = meta.get("prompt")
        negative = meta.get("negativePrompt")
        filtered = self._filters.sidecar_block(
            prompt if isinstance(prompt, str) else None,
            negative if isinstance(negative, str) else None,
        )
        path = self._layout.sidecar_path(Path(item.folder), int(item.image["id"]))
        sidecar = image_sidecar(item.image, filtered=filtered)
        try:
            write_json_atomic(path, sidecar, fsync=fsync)
        except FileNotFoundError:  # the image's folder, removed since its download
            path.parent.mkdir(parents=True, exist_ok=True)
            write_json_atomic(path, sidecar, fsync=fsync)
        return path

    async def _file(
        self, item: FileItem, progress: ProgressReporter, emit: Callable[[Event], Awaitable[None]]
    ) -> Done:
        download_url = item.file.get("downloadUrl")
        if not isinstance(download_url, str) or not download_url:
            download_url = f"/api/download/models/{item.version.get('id')}"

        async def resolve() -> str:
            return await self._client.resolve_download(download_url)

        dest = self._layout.file_path(Path(item.folder), item.name)
        twin = await link_twin(self._store, item, dest)
        if twin is not None:  # the same bytes are already in the library
            await self._place(item, twin.path)
            return self._record_done(item, twin.path, twin.size, twin.sha256)
        await emit(ItemStarted(item.key, item.name, item.size, self._files.name))
        url = await resolve()
        try:
            result = await self._files.download(
                DownloadRequest(
                    key=item.key,
                    url=url,
                    dest=dest,
                    kind="file",
                    expected_size=item.size,
                    sha256=item.sha256,
                    check_safetensors=item.name.lower().endswith(".safetensors"),
                    refresh_url=resolve,
                ),
                progress,
            )
        except DownloadError as exc:
            raise DownloadError(
                self._redact(exc.reason), http_status=exc.http_status, permanent=exc.permanent
            ) from None
        await self._place(item, result.path)
        return self._record_done(item, result.path, result.size, result.sha256)

    async def _place(self, item: FileItem, path: Path) -> None:
        """LoRA placement + WebUI card + preview (idempotent; after verification only)."""
        if not item.lora_folder or self._config.lora_link == "off":
            return
        folder = Path(item.lora_folder)
        dest = folder / path.name
        card_path = dest.with_suffix(".json")
        if dest.exists() and card_path.exists():
            return
        folder.mkdir(parents=True, exist_ok=True)
        await anyio.to_thread.run_sync(lambda: place_lora(path, dest, mode=self._config.lora_link))
        page = version_page_url(
            item.model.get("id"), item.version.get("id"), site=self._config.api_base
        )
        card = webui_card(item.version, item.model, page_url=page)
        await anyio.to_thread.run_sync(write_json_atomic, card_path, card)
        preview = item.version.get("preview")
        if isinstance(preview, dict) and isinstance(preview.get("id"), int):
            await self._preview(item, preview, dest.with_suffix(""))

    async def _preview(self, item: FileItem, preview: dict[str, Any], dest_stem: Path) -> None:
        stem = Path(item.folder) / str(preview["id"])
        for suffix in IMAGE_SUFFIXES:
            if stem.with_suffix(suffix).is_file():
                write_preview(stem.with_suffix(suffix), dest_stem)
                return
        url = preview.get("url")
        if not isinstance(url, str):
            return
        try:
            await self._images.download(
                DownloadRequest(
                    key=f"preview:{item.key}",
                    url=original_image_url(url, "image"),
                    dest=Path(f"{dest_stem}.preview.jpeg"),
                    kind="image",
                    pick_extension=True,
                ),
                lambda done, total, note=None: None,
            )
        except ItemError:
            return  # a missing preview never fails the model file

    def _meta(self, item: MetaItem) -> Done:
        json_path, text_path = self._layout.meta_paths(item.username, int(item.version["id"]))
        meta = version_meta(item.version, item.model)
        json_path.parent.mkdir(parents=True, exist_ok=True)
        write_json_atomic(json_path, meta)
        page = version_page_url(
            item.model.get("id"), item.version.get("id"), site=self._config.api_base
        )
        write_text_atomic(text_path, version_meta_text(meta, page_url=page))
        return self._record_done(item, json_path, json_path.stat().st_size, None)

    def _record_done(
        self, item: Item, path: Path, size: int, sha256: str | None, written: tuple[Path, ...] = ()
    ) -> Done:
        self._store.mark_done(
            item.key,
            target=item.target,
            name=path.name,
            path=str(path),
            size=size,
            sha256=sha256,
            written=written,
        )
        return Done(path, size)


def _has_content(path: Path) -> bool:
    try:
        return path.stat().st_size > 0
    except OSError:
        return False
