"""`civittui sync`: bring recorded targets up to date at the cost of one page per listing.

The engine's normal crawl and routing do the work; the crawler's image listings (newest first:
the creator's, and each version's gallery, design.md §6) pass through `until_known`, which hands
on only images the state does not hold as done and stops after the first page holding one it
does. Model listings are read whole (a creator's models rarely fill a page of 100): a new post
on an old version still needs that version among the creator's, to be placed.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any

from civittui.civitai.client import CivitaiClient
from civittui.civitai.urls import Target
from civittui.config import Config
from civittui.engine.choices import TargetChoices
from civittui.engine.crawl import Crawler, CrawlStats, PageFilter
from civittui.engine.items import FileItem, ImageItem, Item, MetaItem
from civittui.layout import Layout
from civittui.store import ItemStatus, Store, is_target_failure

__all__ = [
    "SyncSource",
    "completed_targets",
    "format_new",
    "last_sync",
    "record_sync",
    "until_known",
]

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


def completed_targets(store: Store) -> set[str]:
    """Keys of the targets whose last crawl ran to its end (done, or only items failed).

    Only those may stop at the first known image: a crawl that was cut short left older items
    unfetched below the newest known one. Read it before the targets are queued again.
    """
    return {
        t.key
        for t in store.targets()
        if t.status == "done" or (t.status == "failed" and not is_target_failure(t))
    }


class SyncSource:
    """The crawler, with `until_known` for some targets; counts per target what is new.

    Args:
        fast: keys of targets crawled until the first known image (see `completed_targets`);
            the others are crawled whole, as `get` does.
        track: keys whose counts are kept in the state once their crawl ended (`record_sync`),
            then dropped from `track` and `fast`; None: the caller records.
    """

    def __init__(
        self,
        config: Config,
        client: CivitaiClient,
        store: Store,
        fast: set[str],
        track: set[str] | None = None,
    ) -> None:
        layout = Layout(config.root, config.lora_dir)
        self._store = store
        self._fast = fast
        self._track = track
        self._full = Crawler(config, client, store, layout)
        self._sync = Crawler(config, client, store, layout, image_pages=until_known(store))
        self.new: dict[str, Counter[str]] = {}
        """Per target crawled: new items by kind ("version", "file", "image")."""

    @classmethod
    def factory(
        cls,
        config: Config,
        store: Store,
        sources: list[SyncSource],
        fast: set[str],
        track: set[str] | None = None,
    ) -> Callable[[CivitaiClient], SyncSource]:
        """For `Engine(items=...)`; the source made is appended to `sources`."""

        def make(client: CivitaiClient) -> SyncSource:
            source = cls(config, client, store, fast, track)
            sources.append(source)
            return source

        return make

    async def crawl(
        self, target: Target, stats: CrawlStats, choices: TargetChoices | None = None
    ) -> AsyncIterator[Item]:
        crawler = self._sync if target.key in self._fast else self._full
        counts = self.new.setdefault(target.key, Counter())
        counts.clear()
        async for item in crawler.crawl(target, stats, choices):
            record = self._store.item(item.key)
            if record is None or record.status != ItemStatus.DONE:
                counts[_kind(item)] += 1
            yield item
        if self._track is not None and target.key in self._track:
            self._track.discard(target.key)
            self._fast.discard(target.key)
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
