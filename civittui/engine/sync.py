"""`civittui sync`: bring recorded targets up to date at the cost of one page per listing.

The engine's normal crawl and routing do the work; the crawler's image listings (newest first:
the creator's, and each version's gallery, design.md §6) pass through `until_known`, which hands
on only images the state does not hold as done and stops after the first page holding one it
does. Model listings are read whole (a creator's models rarely fill a page of 100): a new post
on an old version still needs that version among the creator's, to be placed.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterable
from datetime import UTC, datetime
from typing import Any

from civittui.civitai.client import CivitaiClient
from civittui.civitai.urls import Target
from civittui.config import Config
from civittui.engine.crawl import Crawler, CrawlStats, PageFilter
from civittui.engine.items import FileItem, ImageItem, Item, MetaItem
from civittui.layout import Layout
from civittui.store import ItemStatus, Store

__all__ = ["SyncSource", "format_new", "last_sync", "record_sync", "until_known"]

Json = dict[str, Any]
_SETTING = "sync"  # setting: {target key: {"at": ISO time, "new": {kind: n}}}


def until_known(store: Store) -> PageFilter:
    """A page filter: new images only, and no page after the first that holds a known one."""

    def done(image: Json) -> bool:
        record = (
            store.item(f"image:{image.get('id')}") if isinstance(image.get("id"), int) else None
        )
        return record is not None and record.status == ItemStatus.DONE

    async def pages(source: AsyncIterator[list[Json]]) -> AsyncIterator[list[Json]]:
        try:
            async for page in source:
                fresh = [image for image in page if not done(image)]
                yield fresh
                if len(fresh) < len(page):
                    return  # newest first: everything after this is known too
        finally:
            aclose = getattr(source, "aclose", None)
            if aclose is not None:
                await aclose()

    return pages


class SyncSource:
    """The crawler, with `until_known` for the targets being synced; counts what is new.

    Args:
        only: the target keys to sync (the others are crawled whole, as by `get`); None: all.
            `sync()` adds keys; a synced target's key is dropped once its crawl ended, so a
            later plain re-queue crawls it whole.
    """

    def __init__(
        self, config: Config, client: CivitaiClient, store: Store, only: set[str] | None = None
    ) -> None:
        layout = Layout(config.root, config.lora_dir)
        self._store = store
        self._only = only
        self._full = Crawler(config, client, store, layout)
        self._sync = Crawler(config, client, store, layout, image_pages=until_known(store))
        self.new: dict[str, Counter[str]] = {}
        """Per synced target: new items by kind ("version", "file", "image")."""

    @classmethod
    def factory(
        cls,
        config: Config,
        store: Store,
        sources: list[SyncSource],
        only: set[str] | None = None,
    ) -> Callable[[CivitaiClient], SyncSource]:
        """For `Engine(items=...)`; the source made is appended to `sources`."""

        def make(client: CivitaiClient) -> SyncSource:
            source = cls(config, client, store, only)
            sources.append(source)
            return source

        return make

    def sync(self, keys: Iterable[str]) -> None:
        """Sync these targets the next time they are crawled."""
        if self._only is not None:
            self._only.update(keys)

    async def crawl(self, target: Target, stats: CrawlStats) -> AsyncIterator[Item]:
        syncing = self._only is None or target.key in self._only
        if not syncing:
            async for item in self._full.crawl(target, stats):
                yield item
            return
        counts = self.new.setdefault(target.key, Counter())
        counts.clear()
        async for item in self._sync.crawl(target, stats):
            record = self._store.item(item.key)
            if record is None or record.status != ItemStatus.DONE:
                counts[_kind(item)] += 1
            yield item
        if self._only is not None:
            self._only.discard(target.key)
            record_sync(self._store, target.key, counts)


def _kind(item: Item) -> str:
    if isinstance(item, MetaItem):
        return "version"
    if isinstance(item, FileItem):
        return "file"
    assert isinstance(item, ImageItem)
    return "image"


def format_new(name: str, counts: Counter[str], failed: int = 0) -> str:
    """`hana_kim: 1 new version, 1 new file, 5 new images` (or `: nothing new`)."""
    parts = [
        f"{counts[kind]} new {kind}{'' if counts[kind] == 1 else 's'}"
        for kind in ("version", "file", "image")
        if counts[kind]
    ]
    text = f"{name}: {', '.join(parts) if parts else 'nothing new'}"
    return text + (f" ({failed} failed, retryable)" if failed else "")


def record_sync(store: Store, key: str, counts: Counter[str]) -> None:
    """Keep when `key` was synced and what it brought (the TUI shows "n new")."""
    synced = store.get_setting(_SETTING, {})
    table = dict(synced) if isinstance(synced, dict) else {}
    table[key] = {"at": datetime.now(UTC).isoformat(timespec="seconds"), "new": dict(counts)}
    store.set_setting(_SETTING, table)


def last_sync(store: Store, key: str) -> int | None:
    """How many items the last sync of `key` brought, or None when it was never synced."""
    synced = store.get_setting(_SETTING, {})
    entry = synced.get(key) if isinstance(synced, dict) else None
    new = entry.get("new") if isinstance(entry, dict) else None
    return sum(v for v in new.values() if isinstance(v, int)) if isinstance(new, dict) else None
