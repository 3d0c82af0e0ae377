"""The engine: a queue of targets, one crawl at a time, parallel downloads, events for any UI.

One `serve()` call runs everything inside one task group: the dispatcher (crawls targets in queue
order and routes items), `concurrency.images` image workers, `concurrency.files` file workers, a
state flusher (about once a second, in a thread) and a gate ticker. Commands (`add_urls`, `retry`,
`pause`, …) are plain methods that change the queue and wake the dispatcher.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Protocol

import anyio
from anyio.abc import TaskGroup
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from civittui.civitai.client import CivitaiClient
from civittui.civitai.gate import ApiGate
from civittui.civitai.urls import Target, TargetKind, parse_url
from civittui.config import Config
from civittui.download import make_file_downloader
from civittui.download.base import Downloader
from civittui.download.builtin import BuiltinDownloader
from civittui.engine.badfile import BAD_FILE, bad_file, is_bad_file
from civittui.engine.choices import TargetChoices
from civittui.engine.crawl import Crawler, CrawlStats
from civittui.engine.events import (
    NOT_THE_TARGETS,
    Event,
    GateChanged,
    ItemFailed,
    ItemFinished,
    Notice,
    RunFinished,
    RunSummary,
    TargetStatus,
    TargetUpdated,
)
from civittui.engine.items import FileItem, ImageItem, Item, MetaItem, item_from_spec
from civittui.engine.process import ItemProcessor, ProgressReporter
from civittui.errors import ApiError, ItemError, UrlError
from civittui.filters import FilterSet
from civittui.layout import Layout
from civittui.redact import Redactor
from civittui.store import (
    ItemRecord,
    ItemStatus,
    Store,
    TargetRecord,
    is_target_failure,
    items_failed,
)
from civittui.user_lists import load_filters

__all__ = ["Engine", "ItemSource"]


class ItemSource(Protocol):
    """Turns a target into items (the crawler; a test may stand in its own)."""

    def crawl(
        self, target: Target, stats: CrawlStats, choices: TargetChoices | None = None
    ) -> AsyncIterator[Item]: ...


_QUEUE_SIZE = 10_000  # items waiting per kind; the crawl blocks beyond it (flat memory)
_TELL_EVERY = 0.1  # s between a target's count updates while it skips done items
_EARLY_ACCESS_CHECK = 30.0  # seconds between looks for failures whose retry date has passed
_WORKERS = 16  # workers per kind; a limiter lets `concurrency` of them run, changeable live


@dataclass(slots=True)
class _TargetState:
    target: Target
    status: TargetStatus = TargetStatus.QUEUED
    choices: TargetChoices = TargetChoices()
    found: int = 0
    done: int = 0
    failed: int = 0
    skipped: int = 0
    outstanding: int = 0
    crawled: bool = False
    error: str | None = None
    removed: bool = False
    name: str | None = None
    bytes_found: int = 0
    bytes_done: int = 0
    interrupted: bool = False
    """An item of it was stopped half-way: the target is not done, the next run resumes it."""
    resumed: bool = False
    """Taken from the state at start, not queued by the user: its failed items wait for retry."""
    told: float = 0.0
    """When its counts were last sent while skipping done items."""

    def learn(self, item: Item) -> None:
        """Take the target's name from its first item, and count the item's declared size."""
        if self.name is None:
            self.name = _target_name(self.target, item)
        if isinstance(item, FileItem):
            self.bytes_found += item.size or 0

    def count_done(self, item: Item, size: int) -> None:
        """An item of this target is on disk: its bytes are done (and found, if undeclared)."""
        self.bytes_done += size
        if not (isinstance(item, FileItem) and item.size is not None):
            self.bytes_found += size

    def event(self) -> TargetUpdated:
        return TargetUpdated(
            key=self.target.key,
            url=self.target.url,
            status=self.status,
            found=self.found,
            done=self.done,
            failed=self.failed,
            skipped=self.skipped,
            error=self.error,
            name=self.name,
            bytes_found=self.bytes_found,
            bytes_done=self.bytes_done,
            choices=self.choices,
        )


@dataclass(slots=True)
class _Queues:
    images: MemoryObjectSendStream[ImageItem]
    files: MemoryObjectSendStream[FileItem]


class Engine:
    """Mirror engine shared by `civittui get` and the TUI.

    Args:
        config: effective configuration.
        store: the opened state store (the engine flushes it; the caller closes it).
        downloader: engine for model files (default: per `config.downloader`).
        resume_queue: start with the targets the store kept (the TUI); `get` passes False.
        dry_run: crawl only; nothing is downloaded or written.
        items: makes the item source from the run's API client (default: the `Crawler`).
    """

    def __init__(
        self,
        config: Config,
        store: Store,
        *,
        downloader: Downloader | None = None,
        resume_queue: bool = False,
        dry_run: bool = False,
        items: Callable[[CivitaiClient], ItemSource] | None = None,
    ) -> None:
        self._config = config
        self._store = store
        self._file_downloader = downloader
        self._dry_run = dry_run
        self._item_source = items
        self._redact = Redactor([config.api_key, config.cookie, config.aria2_secret])
        self._filters = load_filters(config)
        self._layout = Layout(config.root, config.lora_dir)
        self._gate = ApiGate(
            config.rate,
            cooldown_until=store.cooldown_until(),
            on_cooldown=store.set_cooldown_until,
        )
        self._targets: dict[str, _TargetState] = {}
        self._send: MemoryObjectSendStream[Event] | None = None
        self._wake = anyio.Event()
        self._resumed = anyio.Event()
        self._resumed.set()
        self._stopping = False
        self._queues: _Queues | None = None
        self._retries: list[Item] = []
        self._last_errors: dict[str, str] = {}  # item key -> its failure before this retry
        self._outstanding = 0
        self._inflight: dict[str, Item] = {}  # handed to a worker, not yet done or failed
        self._running: dict[str, anyio.CancelScope] = {}  # downloads `pause` stops
        self._backlog: list[Event] = []  # state changes from sync commands, sent by `_teller`
        self._told = anyio.Event()
        self._seen: set[str] = set()
        self._started = time.monotonic()
        self.summary = RunSummary(dry_run=dry_run)
        if resume_queue:
            for record in store.targets():
                try:
                    target = parse_url(record.url, extra_hosts=self._hosts())
                except UrlError:
                    continue  # queued against another api_base: kept in the state, not run
                state = self._add_target(target)
                state.choices = TargetChoices.from_json(record.choices)
                state.resumed = True
                # Only what a stop interrupted runs again; a failed target waits for `retry`
                # (a known-bad file is not fetched again at every start).
                if record.status in (TargetStatus.DONE, TargetStatus.FAILED):
                    state.status = TargetStatus(record.status)
                    state.found, state.done = record.found, record.done
                    state.failed, state.skipped = record.failed, record.skipped
                    state.error = record.error
                    state.crawled = True
                    state.bytes_found, state.bytes_done = record.bytes_found, record.bytes_done
                # Any other target is crawled again and its done items recounted, bytes too.
                state.name = record.name
            for pending in list(store.items(status=ItemStatus.PENDING)):
                self._requeue(pending)  # cut short by a stop: resumed from its `.part`

    # -- commands (call from the event loop that runs serve) ----------------------------------

    def subscribe(self) -> MemoryObjectReceiveStream[Event]:
        """The event stream (one consumer). Without a subscriber events are dropped."""
        send, receive = anyio.create_memory_object_stream[Event](max_buffer_size=4096)
        self._send = send
        return receive

    def _hosts(self) -> tuple[str, ...]:
        from urllib.parse import urlsplit

        return (urlsplit(self._config.api_base).netloc,)

    def add_urls(self, urls: Sequence[str], *, choices: TargetChoices | None = None) -> list[str]:
        """Queue URLs; all or nothing.

        `choices` say what of each URL to mirror (latest version only, one file kind, model
        types, content level) and are kept with the target; None keeps a queued target's
        choices (a new one mirrors everything).

        Raises:
            UrlError: one of them is not a CivitAI URL civittui can mirror.
        """
        hosts = self._hosts()
        targets = [parse_url(url, extra_hosts=hosts) for url in urls]
        keys = []
        for target in targets:
            state = self._targets.get(target.key)
            if state is None or state.removed:
                state = self._add_target(target)
            elif state.status in (TargetStatus.DONE, TargetStatus.FAILED) or state.interrupted:
                state.status, state.crawled, state.error = TargetStatus.QUEUED, False, None
                state.interrupted = False
                state.found = state.done = state.failed = state.skipped = 0
                state.bytes_found = state.bytes_done = 0
            if state.status is TargetStatus.QUEUED:
                state.resumed = False  # queued by the user: its failed items are tried again
            if choices is not None:
                state.choices = choices
            for note in target.notes:
                self._backlog.append(Notice(note))
            if not self._dry_run:  # a dry run leaves no target behind to download later
                self._persist_target(state)
            self._backlog.append(state.event())
            keys.append(target.key)
        self._told.set()
        self._wake.set()
        return keys

    def _add_target(self, target: Target) -> _TargetState:
        state = _TargetState(target)
        self._targets[target.key] = state
        return state

    def remove_target(self, key: str) -> None:
        """Drop a target from the queue (items already downloading finish)."""
        state = self._targets.pop(key, None)
        if state is not None:
            state.removed = True
            self._store.remove_target(key)

    def move_target(self, key: str, delta: int) -> None:
        """Move a target up (negative) or down in the queue."""
        keys = list(self._targets)
        if key not in keys:
            return
        index = keys.index(key)
        new = max(0, min(len(keys) - 1, index + delta))
        if new == index:
            return
        neighbour = keys[new]  # the target it now stands where
        keys.insert(new, keys.pop(index))
        self._targets = {k: self._targets[k] for k in keys}
        # The state may hold targets this engine does not show (another api_base): move by
        # the distance to the same neighbour there.
        stored = [t.key for t in self._store.targets()]
        if key in stored and neighbour in stored:
            self._store.move_target(key, stored.index(neighbour) - stored.index(key))

    @property
    def paused(self) -> bool:
        """True while crawling and downloads are held."""
        return not self._resumed.is_set()

    @property
    def transferring(self) -> int:
        """Downloads running now (0 soon after `pause`)."""
        return len(self._running)

    def pause(self) -> None:
        """Hold crawling and stop every running download at once: each keeps its finished
        ranges (its `.part`) and stays pending, neither done nor failed, until `resume`."""
        if self.paused:
            return
        self._resumed = anyio.Event()
        for scope in self._running.values():
            scope.cancel()

    def resume(self) -> None:
        """Continue after `pause`: stopped downloads go on from their finished ranges."""
        self._resumed.set()
        self._wake.set()

    def retry(self, keys: Sequence[str] | None = None, *, include_permanent: bool = False) -> int:
        """Re-queue recorded failures (all when `keys` is None); returns how many.

        Keys are item keys (`file:12`) or target keys (`user:alice`): a target that failed as a
        whole is crawled again, and a target key also retries its failed items. All (`keys`
        None) also takes up targets a stopped run left unfinished.
        """
        wanted = set(keys) if keys is not None else None
        count = 0
        for target in self._store.targets():
            unfinished = wanted is None and target.status not in ("done", "failed")
            if unfinished or (
                is_target_failure(target) and (wanted is None or target.key in wanted)
            ):
                try:
                    self.add_urls([target.url], choices=TargetChoices.from_json(target.choices))
                except UrlError:
                    continue  # queued against another api_base
                count += 1
        # Pending items were re-queued by a run that stopped before reaching them.
        pending = list(self._store.items(status=ItemStatus.PENDING))
        for record in [*self._store.failures(), *pending]:
            if wanted is not None and record.key not in wanted and record.target not in wanted:
                continue
            if record.permanent and not include_permanent and wanted is None:
                continue
            if self._requeue(record):
                count += 1
        self._wake.set()
        return count

    def _requeue(self, record: ItemRecord) -> bool:
        if not record.spec:
            return False
        try:
            item = item_from_spec(record.spec)
        except ValueError:
            return False
        if any(waiting.key == item.key for waiting in self._retries):
            return False  # already waiting (resumed at start and asked for again)
        if record.status == ItemStatus.FAILED:
            if record.error:
                self._last_errors[record.key] = record.error  # `mark_pending` clears it
            state = self._targets.get(record.target or "")
            if state is not None and state.failed > 0:
                state.failed -= 1  # counted again if it fails again: once per item, not per try
                self._notify(state.event())
        self._store.mark_pending(
            record.key, target=record.target, name=record.name, spec=record.spec
        )
        self._retries.append(item)
        return True

    def dismiss(self, key: str) -> None:
        """Forget a recorded failure (a target that failed as a whole leaves the queue)."""
        try:
            self._store.forget(key)
        except ValueError:
            self.remove_target(key)

    def stop(self) -> None:
        """Ask `serve` to return soon; running downloads stop resumable, state is saved."""
        self._stopping = True
        self._resumed.set()
        self._wake.set()
        if self._task_group is not None:
            self._task_group.cancel_scope.cancel()

    def use_filters(self, filters: FilterSet) -> None:
        """Filter the prompts of the next images' sidecars with these lists (edited in a UI)."""
        self._filters = filters
        if self._processor is not None:
            self._processor.use_filters(filters)

    def apply_config(self, config: Config) -> None:
        """Use new settings from the next request on, as far as a running engine can: the API
        key and cookie, `[rate]` (the gap between API calls) and `[concurrency]` (up to 16 of
        each kind; running downloads finish). Folders and the downloader stay as they are until
        the next start."""
        self._redact.add([config.api_key, config.cookie, config.aria2_secret])
        self._config = replace(
            self._config,
            api_key=config.api_key,
            cookie=config.cookie,
            rate=config.rate,
            concurrency=config.concurrency,
        )
        self._gate.set_rate(config.rate)
        if self._client is not None:
            self._client.use_credentials(self._config)
        if self._limits is not None:
            images, files = self._limits
            images.total_tokens = max(1, min(_WORKERS, config.concurrency.images))
            files.total_tokens = max(1, min(_WORKERS, config.concurrency.files))

    def targets(self) -> list[TargetUpdated]:
        """The queue as events, in order (first paint of a UI)."""
        return [state.event() for state in self._targets.values()]

    def failures(self) -> list[ItemFailed]:
        """Recorded failures, targets that failed as a whole first, then items newest first."""
        targets = [t for t in self._store.targets() if is_target_failure(t)]
        return [
            *(_target_failure_event(t) for t in targets),
            *(_failure_event(record) for record in self._store.failures()),
        ]

    @property
    def api_gate(self) -> ApiGate:
        """The run's API gate (other API work of the same process shares its spacing)."""
        return self._gate

    def gate_state(self) -> GateChanged:
        """The API gate now."""
        return self._gate.state()

    # -- events -------------------------------------------------------------------------------

    def _notify(self, event: Event) -> None:
        """Deliver an event without blocking (dropped when nobody listens or the UI lags)."""
        if self._send is None:
            return
        try:
            self._send.send_nowait(event)
        except (anyio.WouldBlock, anyio.BrokenResourceError, anyio.ClosedResourceError):
            pass

    async def _drain_backlog(self) -> None:
        while self._backlog:
            await self._deliver(self._backlog.pop(0))

    async def _teller(self) -> None:
        """Send what the (synchronous) commands changed, in order, as soon as they did."""
        while True:
            await self._drain_backlog()
            await self._told.wait()
            self._told = anyio.Event()

    async def _emit(self, event: Event) -> None:
        """Deliver a state change (waits for room: state changes are never dropped), after
        those the commands made before it."""
        await self._drain_backlog()
        await self._deliver(event)

    async def _deliver(self, event: Event) -> None:
        if self._send is None:
            return
        try:
            await self._send.send(event)
        except (anyio.BrokenResourceError, anyio.ClosedResourceError):
            self._send.close()  # the consumer left: stop talking, but close what we opened
            self._send = None

    def _persist_target(self, state: _TargetState) -> None:
        self._store.upsert_target(
            state.target.key,
            state.target.url,
            status=str(state.status),
            found=state.found,
            done=state.done,
            failed=state.failed,
            skipped=state.skipped,
            error=state.error,
            name=state.name,
            bytes_found=state.bytes_found,
            bytes_done=state.bytes_done,
            choices=state.choices.to_json() or None,
        )

    # -- the run ------------------------------------------------------------------------------

    _task_group: TaskGroup | None = None
    _client: CivitaiClient | None = None
    _processor: ItemProcessor | None = None
    _limits: tuple[anyio.CapacityLimiter, anyio.CapacityLimiter] | None = None
    """(images, files): how many downloads of each kind may run at once."""

    async def serve(self, *, until_idle: bool = False) -> RunSummary:
        """Run until `stop()` (or, with `until_idle`, until the queue is empty and idle).

        Raises:
            EngineSetupError: the chosen download engine cannot be used (before anything starts).
        """
        self._started = time.monotonic()
        try:
            return await self._serve(until_idle)
        finally:
            if self._send is not None:
                self._send.close()

    async def _serve(self, until_idle: bool) -> RunSummary:
        async with AsyncExitStack() as stack:
            client = CivitaiClient(
                self._config, self._gate, on_drop=self._bad_record, on_note=self._api_note
            )
            stack.push_async_callback(client.aclose)
            self._client = client
            images = BuiltinDownloader(self._config.download)
            stack.push_async_callback(images.aclose)
            files = self._file_downloader or await make_file_downloader(self._config, images)
            if files is not images:
                stack.push_async_callback(files.aclose)
            stack.push_async_callback(self._finish)
            image_send, image_receive = anyio.create_memory_object_stream[ImageItem](_QUEUE_SIZE)
            file_send, file_receive = anyio.create_memory_object_stream[FileItem](_QUEUE_SIZE)
            self._queues = _Queues(image_send, file_send)
            processor = ItemProcessor(
                config=self._config,
                store=self._store,
                layout=self._layout,
                filters=self._filters,
                client=client,
                images=images,
                files=files,
                redact=self._redact,
            )
            self._processor = processor
            crawler: ItemSource = (
                self._item_source(client)
                if self._item_source is not None
                else Crawler(self._config, client, self._store, self._layout)
            )
            async with anyio.create_task_group() as tg:
                self._task_group = tg
                concurrency = self._config.concurrency
                self._limits = (
                    anyio.CapacityLimiter(max(1, concurrency.images)),
                    anyio.CapacityLimiter(max(1, concurrency.files)),
                )
                async with image_receive, file_receive:
                    for _ in range(max(_WORKERS, concurrency.images)):
                        tg.start_soon(self._worker, image_receive.clone(), processor)
                    for _ in range(max(_WORKERS, concurrency.files)):
                        tg.start_soon(self._worker, file_receive.clone(), processor)
                tg.start_soon(self._flusher)
                tg.start_soon(self._teller)
                tg.start_soon(self._gate_ticker)
                try:
                    await self._dispatch(crawler, processor, until_idle)
                finally:
                    image_send.close()
                    file_send.close()
                while self._outstanding > 0 and not self._stopping:
                    await anyio.sleep(0.05)
                tg.cancel_scope.cancel()
            self._task_group = None
        return self.summary

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

    async def _finish(self) -> None:
        with anyio.CancelScope(shield=True):
            self._keep_interrupted()
            self.summary.api_calls = self._gate.calls
            self.summary.planned_seconds = round(
                self.summary.planned_api_calls * self._config.rate.min_interval, 1
            )
            self.summary.seconds = round(time.monotonic() - self._started, 3)
            self.summary.targets = [
                {
                    "key": s.target.key,
                    "url": s.target.url,
                    "status": str(s.status),
                    "found": s.found,
                    "done": s.done,
                    "failed": s.failed,
                    "skipped": s.skipped,
                    "error": s.error,
                    "choices": s.choices.to_json(),
                }
                for s in self._targets.values()
            ]
            for state in self._targets.values():
                if not self._dry_run:
                    self._persist_target(state)
            await anyio.to_thread.run_sync(self._store.flush)
            await self._drain_backlog()
            await self._emit(RunFinished(self.summary))
            if self._send is not None:
                self._send.close()

    async def _flusher(self) -> None:
        while True:
            await anyio.sleep(1.0)
            if self._store.dirty:
                await anyio.to_thread.run_sync(self._store.flush)

    async def _gate_ticker(self) -> None:
        last: GateChanged | None = None
        while True:
            state = self._gate.state()
            if state != last:
                self._notify(state)
                last = state
            await anyio.sleep(0.25)

    def _next_target(self) -> _TargetState | None:
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
            due = _parse_iso(record.retry_at)
            # Once per date: a server still refusing after it is a new failure, not a loop.
            if due <= now and _parse_iso(record.updated) < due:
                self._requeue(record)

    async def _crawl_target(
        self, state: _TargetState, crawler: ItemSource, processor: ItemProcessor
    ) -> None:
        state.status = TargetStatus.CRAWLING
        await self._emit(state.event())
        stats = CrawlStats()
        try:
            # (an item source without choices keeps its two-argument form)
            items = (
                crawler.crawl(state.target, stats, state.choices)
                if not state.choices.is_default
                else crawler.crawl(state.target, stats)
            )
            async for item in items:
                if state.removed or self._stopping:
                    break
                if not self._resumed.is_set():  # (a set Event's wait still costs a loop turn)
                    await self._resumed.wait()
                if item.key in self._seen:
                    continue
                self._seen.add(item.key)
                state.found += 1
                state.learn(item)
                self.summary.found += 1
                await self._route(item, state, processor)
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

    def _bad_record(self, reason: str) -> None:
        """The client dropped a malformed record: count it, say so once per reason."""
        self.summary.dropped += 1
        reasons = self.summary.dropped_by_reason
        if reason not in reasons:
            self._notify(Notice(f"dropped a bad record from CivitAI: {reason}", level="warning"))
        reasons[reason] = reasons.get(reason, 0) + 1

    def _api_note(self, note: str) -> None:
        self._notify(Notice(self._redact(note), level="warning"))

    def _settle(self, state: _TargetState) -> None:
        if state.interrupted:
            state.status = TargetStatus.QUEUED  # resumed by the queue, `retry --all`, a rerun
        elif not state.crawled:
            state.status = TargetStatus.CRAWLING
        elif state.outstanding > 0:
            state.status = TargetStatus.DOWNLOADING
        elif state.error or state.failed:
            state.status = TargetStatus.FAILED
            if not state.error:
                state.error = items_failed(state.failed)
        else:
            state.status = TargetStatus.DONE

    async def _route(
        self,
        item: Item,
        state: _TargetState | None,
        processor: ItemProcessor,
        *,
        retry: bool = False,
    ) -> None:
        assert self._queues is not None
        if not retry and state is not None and self._waits_for_retry(item, state):
            state.failed += 1
            return
        if not retry:
            done = await processor.check(item)
            if done is not None:
                if not self._dry_run:  # a dry run looks only: no link, card, sidecar or record
                    await processor.finish(item, done)
                if state is not None:
                    state.done += 1
                    state.skipped += 1
                    state.count_done(item, done.size)
                self.summary.skipped += 1
                self.summary.done += 1
                await self._emit(
                    ItemFinished(item.key, item.name, str(done.path), done.size, skipped=True)
                )
                # A target's counts are a snapshot: ten a second is all a UI can use, and the
                # crawl's end sends the last one.
                if state is not None and time.monotonic() - state.told >= _TELL_EVERY:
                    state.told = time.monotonic()
                    await self._emit(state.event())
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

    def _waits_for_retry(self, item: Item, state: _TargetState) -> bool:
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
        self, item: Item, processor: ItemProcessor, state: _TargetState | None
    ) -> None:
        """Run an item; a `pause` stops it (its `.part` kept) and it runs again on `resume`,
        from the ranges it had, without counting as done or failed in between."""
        assert self._limits is not None  # set before any worker starts
        while True:
            # The limiter lets `concurrency` of the kind's workers run (changeable live).
            async with self._limits[isinstance(item, FileItem)]:
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
        self, item: Item, processor: ItemProcessor, state: _TargetState | None
    ) -> None:
        reporter = ProgressReporter(item.key, self._notify)
        try:
            result = await processor.process(item, reporter, self._emit)
        except ItemError as exc:
            self._inflight.pop(item.key, None)
            reason = self._redact(exc.reason)
            permanent = exc.permanent
            before = self._store.item(item.key)
            previous = self._last_errors.pop(item.key, None) or (
                before.error if before is not None and before.status is ItemStatus.FAILED else None
            )
            if bad_file(reason, previous):
                reason, permanent = f"{BAD_FILE}: {reason}", True
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
            await self._emit(_failure_event(record))
            return
        self._inflight.pop(item.key, None)
        self.summary.done += 1
        self.summary.bytes += result.size
        if state is not None:
            state.done += 1
            state.count_done(item, result.size)
        await self._emit(ItemFinished(item.key, item.name, str(result.path), result.size))


def _parse_iso(value: str) -> datetime:
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return datetime.max.replace(tzinfo=UTC)
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _target_name(target: Target, item: Item) -> str | None:
    """What a person calls a target: the creator, the model (and version), or the poster."""
    if target.username:
        return target.username
    if isinstance(item, FileItem | MetaItem):
        model = str(item.model.get("name") or "")
        version = str(item.version.get("name") or "")
        if target.kind is TargetKind.VERSION and version:
            return f"{model} · {version}" if model else version
        return model or item.username or None
    poster = item.image.get("username")
    return f"{target.kind.value} by {poster}" if isinstance(poster, str) and poster else None


def _target_failure_event(record: TargetRecord) -> ItemFailed:
    return ItemFailed(
        key=record.key,
        name=record.url,
        reason=record.error or "unknown error",
        http_status=None,
        permanent=False,
        attempts=1,
        retry_at=None,
    )


def _failure_event(record: ItemRecord) -> ItemFailed:
    return ItemFailed(
        key=record.key,
        name=record.name,
        reason=record.error or "unknown error",
        http_status=record.http_status,
        permanent=record.permanent,
        attempts=record.attempts,
        retry_at=_parse_iso(record.retry_at) if record.retry_at else None,
    )
