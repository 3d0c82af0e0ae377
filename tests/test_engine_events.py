"""State-changing events reach a slow consumer, all of them: only progress ticks may drop."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import anyio

from civittui.civitai.urls import Target
from civittui.config import Config
from civittui.engine.crawl import CrawlStats
from civittui.engine.events import ItemFinished, RunFinished, TargetStatus, TargetUpdated
from civittui.engine.items import FileItem, Item
from civittui.engine.runner import Engine
from civittui.store import Store

_ITEMS = 100_000


class _DoneItems:
    """A stand-in crawler: `_ITEMS` model files the state already has on disk and verified."""

    def __init__(self, folder: Path) -> None:
        self._folder = folder

    async def crawl(self, target: Target, stats: CrawlStats) -> AsyncIterator[Item]:
        for n in range(1, _ITEMS + 1):
            yield FileItem(
                key=f"file:{n}",
                target=target.key,
                file={"id": n, "name": "one.bin"},
                version={},
                model={},
                username="alice",
                folder=str(self._folder),
                lora_folder=None,
            )


def test_100k_already_done_items_reach_a_slow_consumer(tmp_path: Path) -> None:
    config = Config(root=tmp_path / "root", api_base="https://civitai.com")
    folder = config.root / "Users" / "alice" / "m"
    folder.mkdir(parents=True)
    on_disk = folder / "one.bin"
    on_disk.write_bytes(b"x" * 10)
    with Store.open(config.state_path) as store:
        for n in range(1, _ITEMS + 1):
            store.mark_done(
                f"file:{n}",
                target="user:alice",
                name="one.bin",
                path=str(on_disk),
                size=10,
                sha256=None,
            )
        engine = Engine(config, store, items=lambda client: _DoneItems(folder))
        engine.add_urls(["https://civitai.com/user/alice"])
        finished: set[str] = set()
        last_target: list[TargetUpdated] = []

        async def consume() -> None:
            seen = 0
            async with events:
                await read(seen)

        async def read(seen: int) -> None:
            async for event in events:
                seen += 1
                if seen % 5_000 == 0:
                    await anyio.sleep(0.05)  # a UI busy repainting: the buffer fills meanwhile
                if isinstance(event, ItemFinished) and event.skipped:
                    finished.add(event.key)
                elif isinstance(event, TargetUpdated):
                    last_target.append(event)
                elif isinstance(event, RunFinished):
                    return

        async def run() -> None:
            async with anyio.create_task_group() as tg:
                tg.start_soon(consume)
                await engine.serve(until_idle=True)

        events = engine.subscribe()
        anyio.run(run)
    assert len(finished) == _ITEMS
    assert last_target[-1].status is TargetStatus.DONE and last_target[-1].done == _ITEMS
