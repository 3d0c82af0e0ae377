"""The dispatcher and the workers: targets crawled in queue order, items routed to the image
and file workers, each item's outcome recorded and told."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Protocol

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream

from civittui.choices import TargetChoices
from civittui.civitai.urls import Target, TargetKind
from civittui.engine.badfile import BAD_FILE, bad_file, is_bad_file
from civittui.engine.crawl import CrawlStats
from civittui.engine.flow import EngineCore
from civittui.engine.items import FileItem, ImageItem, Item, MetaItem
from civittui.engine.process import ItemProcessor, ProgressReporter
from civittui.engine.targets import TargetState, failure_event, parse_iso
from civittui.errors import ApiError, ItemError
from civittui.events import NOT_THE_TARGETS, ItemFailed, ItemFinished, Notice, TargetStatus
from civittui.state import ItemStatus

__all__ = ["ItemFlow", "ItemSource"]

_TELL_EVERY = 0.1  # s between a target's count updates while it skips done items
_EARLY_ACCESS_CHECK = 30.0  # seconds between looks for failures whose retry date has passed


class ItemSource(Protocol):
    """Turns a target into items (the crawler; a test may stand in its own)."""

    def crawl(
        self, target: Target, stats: CrawlStats, choices: TargetChoices | None = None
    ) -> AsyncIterator[Item]: ...


class ItemFlow(EngineCore):
    """The engine's dispatcher and workers (see `Engine`)."""

    def _next_target(self) -> TargetState | None:
        for state in self._targets.values():
            if state.status is TargetStatus.QUEUED and not state.removed:
                return state
        return None

    async def _dispatch(
        self, crawler: ItemSource, processor: ItemProcessor, until_idle: bool
    ) -> None:
        assert self._queues is not None
        last_ea_check = -_EARLY_ACCESS_CHECK
        while not self._stopping:
            await self._resumed.wait()
            if not self._dry_run and time.monotonic() - last_ea_check >= _EARLY_ACCESS_CHECK:
                last_ea_check = time.monotonic()
                self._requeue_due()
            if self._retries:
                item = self._retries.pop(0)
                self._seen.add(item.key)  # a crawl this run lists it again: one download only
                await self._route(item, self._targets.get(item.target), processor, retry=True)
                continue
            state = self._next_target()
            if state is None:
                if until_idle and self._outstanding == 0:
                    return
                self._wake = anyio.Event()
                with anyio.move_on_after(1.0):
                    await self._wake.wait()
                continue
            await self._crawl_target(state, crawler, processor)

    def _requeue_due(self) -> None:
        now = datetime.now(UTC)
        for record in self._store.failures(include_permanent=False):
            if not record.retry_at:
                continue
            due = parse_iso(record.retry_at)
            # Once per date: a server still refusing after it is a new failure, not a loop.
            if due <= now and parse_iso(record.updated) < due:
                self._requeue(record)

    async def _crawl_target(
        self, state: TargetState, crawler: ItemSource, processor: ItemProcessor
    ) -> None:
        state.status = TargetStatus.CRAWLING
        await self._emit(state.event())
        processor.new_crawl()
        stats = CrawlStats()
        try:
            # (an item source without choices keeps its two-argument form)
            items = (
                crawler.crawl(state.target, stats, state.choices)
                if not state.choices.is_default
                else crawler.crawl(state.target, stats)
            )
            listed = await self._take(items, state, processor)
            if not listed and not (state.removed or self._stopping):
                _nothing_listed(state.target, state.choices.nsfw or self._config.nsfw)
        except ApiError as exc:
            state.error = self._redact(exc.reason)
            failed = ItemFailed(
                key=state.target.key,
                name=state.target.url,
                reason=state.error,
                http_status=exc.http_status,
                permanent=exc.permanent,
                attempts=1,
                retry_at=exc.retry_at,
            )
            await self._emit(failed)  # a failure like an item's: listed and retryable
        state.crawled = True
        if stats.unplaced and not state.error:
            state.error = self._redact(stats.unplaced_error() or "")
            self._notify(Notice(f"{state.target.url}: {state.error}", level="error"))
        self.summary.dropped += stats.dropped
        if stats.dropped:
            reasons = self.summary.dropped_by_reason
            reasons[NOT_THE_TARGETS] = reasons.get(NOT_THE_TARGETS, 0) + stats.dropped
        for note in stats.notes:
            await self._emit(Notice(self._redact(note)))
        self._settle(state)
        await self._emit(state.event())
        if not self._dry_run:
            self._persist_target(state)

    async def _take(
        self, items: AsyncIterator[Item], state: TargetState, processor: ItemProcessor
    ) -> int:
        """Route a crawl's items (each once per run); returns how many the crawl listed."""
        listed = 0
        async for item in items:
            if state.removed or self._stopping:
                break
            listed += 1
            if not self._resumed.is_set():  # (a set Event's wait still costs a loop turn)
                await self._resumed.wait()
            if item.key in self._seen:
                continue
            self._seen.add(item.key)
            state.found += 1
            state.learn(item)
            self.summary.found += 1
            await self._route(item, state, processor)
        return listed

    def _bad_record(self, reason: str) -> None:
        """The client dropped a malformed record: count it, say so once per reason."""
        self.summary.dropped += 1
        reasons = self.summary.dropped_by_reason
        if reason not in reasons:
            self._notify(Notice(f"dropped a bad record from CivitAI: {reason}", level="warning"))
        reasons[reason] = reasons.get(reason, 0) + 1

    def _api_note(self, note: str) -> None:
        self._notify(Notice(self._redact(note), level="warning"))

    async def _route(
        self,
        item: Item,
        state: TargetState | None,
        processor: ItemProcessor,
        *,
        retry: bool = False,
    ) -> None:
        assert self._queues is not None
        if not retry and state is not None and self._waits_for_retry(item, state):
            state.failed += 1
            return
        if not retry and await self._skip_done(item, state, processor):
            return
        if self._dry_run:
            if isinstance(item, FileItem):
                self.summary.planned_bytes += item.size or 0
                self.summary.planned_api_calls += 1
            return
        if isinstance(item, MetaItem):
            await self._run_item(item, processor, state)
            return
        self._outstanding += 1
        self._inflight[item.key] = item
        if state is not None:
            state.outstanding += 1
        if isinstance(item, ImageItem):
            await self._queues.images.send(item)
        else:
            await self._queues.files.send(item)

    async def _skip_done(
        self, item: Item, state: TargetState | None, processor: ItemProcessor
    ) -> bool:
        """Count an item that needs no download as done (finishing it: link, card, record)."""
        done = await processor.check(item)
        if done is None:
            return False
        if not self._dry_run:  # a dry run looks only: no link, card, sidecar or record
            await processor.finish(item, done)
        if state is not None:
            state.done += 1
            state.skipped += 1
            state.count_done(item, done.size)
        self.summary.skipped += 1
        self.summary.done += 1
        await self._emit(ItemFinished(item.key, item.name, str(done.path), done.size, skipped=True))
        # A target's counts are a snapshot: ten a second is all a UI can use, and the crawl's
        # end sends the last one.
        if state is not None and time.monotonic() - state.told >= _TELL_EVERY:
            state.told = time.monotonic()
            await self._emit(state.event())
        return True

    def _waits_for_retry(self, item: Item, state: TargetState) -> bool:
        """A recorded failure a crawl lists again is not fetched again by itself when its
        target was resumed from the state, or when it is a known-bad file (see `bad_file`)."""
        if self._dry_run:
            return False
        record = self._store.item(item.key)
        if record is None or record.status is not ItemStatus.FAILED:
            return False
        return state.resumed or (record.permanent and is_bad_file(record.error))

    async def _worker(
        self,
        receive: MemoryObjectReceiveStream[ImageItem] | MemoryObjectReceiveStream[FileItem],
        processor: ItemProcessor,
    ) -> None:
        async with receive:
            async for item in receive:
                state = self._targets.get(item.target)
                try:
                    await self._run_pausable(item, processor, state)
                finally:
                    # Cancelled half-way (Ctrl+C, ctrl+q): the item stays in `_inflight`, and
                    # `_finish` records it pending; its target must not read as done.
                    self._outstanding -= 1
                    if self._outstanding == 0:
                        self._wake.set()  # an idle run ends now, not at the next 1 s poll
                    if state is not None:
                        state.outstanding -= 1
                        if item.key in self._inflight:
                            state.interrupted = True
                if state is not None and state.crawled:
                    self._settle(state)
                    await self._emit(state.event())
                    if state.outstanding == 0:
                        self._persist_target(state)

    async def _run_pausable(
        self, item: Item, processor: ItemProcessor, state: TargetState | None
    ) -> None:
        """Run an item; a `pause` stops it (its `.part` kept) and it runs again on `resume`,
        from the ranges it had, without counting as done or failed in between."""
        assert self._limits is not None  # set before any worker starts
        while True:
            # The limiter lets `concurrency` of the kind's workers run (changeable live).
            async with self._limits[isinstance(item, FileItem)]:
                if not self._resumed.is_set():  # (a set Event's wait still costs a loop turn)
                    await self._resumed.wait()
                with anyio.CancelScope() as scope:
                    self._running[item.key] = scope
                    try:
                        await self._run_item(item, processor, state)
                    finally:
                        self._running.pop(item.key, None)
            if not scope.cancelled_caught or self._stopping:
                return

    async def _run_item(
        self, item: Item, processor: ItemProcessor, state: TargetState | None
    ) -> None:
        reporter = ProgressReporter(item.key, self._notify)
        try:
            result = await processor.process(item, reporter, self._emit)
        except ItemError as exc:
            self._inflight.pop(item.key, None)
            reason, permanent = self._failure_reason(item, exc)
            record = self._store.mark_failed(
                item.key,
                target=item.target,
                name=item.name,
                reason=reason,
                http_status=exc.http_status,
                permanent=permanent,
                retry_at=exc.retry_at.isoformat() if exc.retry_at else None,
                spec=item.to_spec(),
            )
            self.summary.failed += 1
            label = reason.split(":", 1)[0]
            self.summary.failed_by_reason[label] = self.summary.failed_by_reason.get(label, 0) + 1
            if state is not None:
                state.failed += 1
            await self._emit(failure_event(record))
            return
        self._inflight.pop(item.key, None)
        self.summary.done += 1
        self.summary.bytes += result.size
        if state is not None:
            state.done += 1
            state.count_done(item, result.size)
        await self._emit(ItemFinished(item.key, item.name, str(result.path), result.size))

    def _failure_reason(self, item: Item, exc: ItemError) -> tuple[str, bool]:
        """The reason to record and whether it is permanent: the same wrong bytes twice make
        a known-bad file (see `bad_file`)."""
        reason = self._redact(exc.reason)
        before = self._store.item(item.key)
        previous = self._last_errors.pop(item.key, None) or (
            before.error if before is not None and before.status is ItemStatus.FAILED else None
        )
        if bad_file(reason, previous):
            return f"{BAD_FILE}: {reason}", True
        return reason, exc.permanent

    def _keep_interrupted(self) -> None:
        """Record every item a stop cut short as pending (with its spec), so the queue, `retry
        --all` and the next run resume it from its `.part`; its target is not done."""
        for item in self._inflight.values():
            state = self._targets.get(item.target)
            if state is not None:
                state.interrupted = True
            if not self._dry_run:
                self._store.mark_pending(
                    item.key, target=item.target, name=item.name, spec=item.to_spec()
                )
        self._inflight.clear()
        for state in self._targets.values():
            if state.status in (TargetStatus.CRAWLING, TargetStatus.DOWNLOADING):
                state.interrupted = True  # stopped before its crawl or its downloads ended
            if state.interrupted:
                self._settle(state)


_MUST_LIST = (TargetKind.IMAGE, TargetKind.POST, TargetKind.MODEL, TargetKind.VERSION)


def _nothing_listed(target: Target, nsfw: str) -> None:
    """An image, post, model or version CivitAI lists nothing for does not exist there (a typo,
    a deleted post): a failure, not a run that did nothing and succeeded. A creator without
    models may well have none.

    Raises:
        ApiError: for those kinds.
    """
    if target.kind in _MUST_LIST:
        hidden = "" if nsfw == "x" else f" (or hidden at nsfw = {nsfw})"
        raise ApiError(f"not found on CivitAI{hidden}: nothing is listed for {target.url}")
