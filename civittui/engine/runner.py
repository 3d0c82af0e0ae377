"""The engine: a queue of targets, one crawl at a time, parallel downloads, events for any UI.

One `serve()` call runs everything inside one task group: the dispatcher (crawls targets in queue
order and routes items), `concurrency.images` image workers, `concurrency.files` file workers, a
state flusher (about once a second, in a thread) and a gate ticker. Commands (`add_urls`, `retry`,
`pause`, …) are plain methods that change the queue and wake the dispatcher.

Split by job: `targets` (a target's progress), `flow` (what the parts share, event delivery),
`workers` (dispatcher and workers); this module holds the commands and the run's lifetime.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from contextlib import AsyncExitStack
from typing import Any

import anyio
from anyio.abc import TaskGroup
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from civittui.choices import TargetChoices
from civittui.civitai.client import CivitaiClient
from civittui.civitai.gate import ApiGate
from civittui.civitai.urls import Target, parse_url
from civittui.config import Config
from civittui.download import make_file_downloader
from civittui.download.base import Downloader
from civittui.download.builtin import BuiltinDownloader
from civittui.engine.crawl import Crawler
from civittui.engine.flow import Queues
from civittui.engine.items import FileItem, ImageItem, Item
from civittui.engine.live import WORKERS, LiveSettings
from civittui.engine.process import ItemProcessor
from civittui.engine.targets import TargetState, failure_event, target_failure_event
from civittui.engine.workers import ItemSource
from civittui.errors import UrlError
from civittui.events import (
    Event,
    GateChanged,
    ItemFailed,
    Notice,
    RunFinished,
    RunSummary,
    TargetStatus,
    TargetUpdated,
)
from civittui.layout import Layout
from civittui.prompts.user_lists import load_filters
from civittui.redact import Redactor
from civittui.state import (
    ItemStatus,
    Store,
    is_target_failure,
)

__all__ = ["Engine", "ItemSource"]


_QUEUE_SIZE = 10_000  # items waiting per kind; the crawl blocks beyond it (flat memory)


class Engine(LiveSettings):
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
        self._targets: dict[str, TargetState] = {}
        self._send: MemoryObjectSendStream[Event] | None = None
        self._wake = anyio.Event()
        self._resumed = anyio.Event()
        self._resumed.set()
        self._stopping = False
        self._queues: Queues | None = None
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
            self._resume_queue()

    def _resume_queue(self) -> None:
        """Take up the targets the state kept, and the items a stop cut short."""
        for record in self._store.targets():
            try:
                target = parse_url(record.url, extra_hosts=self._hosts())
            except UrlError:
                continue  # queued against another api_base: kept in the state, not run
            self._add_target(target).restore(record)
        for pending in list(self._store.items(status=ItemStatus.PENDING)):
            self._requeue(pending)  # cut short by a stop: resumed from its `.part`

    # -- commands (call from the event loop that runs serve) ----------------------------------

    def subscribe(self) -> MemoryObjectReceiveStream[Event]:
        """The event stream (one consumer). Without a subscriber events are dropped."""
        send, receive = anyio.create_memory_object_stream[Event](max_buffer_size=4096)
        self._send = send
        return receive

    def _hosts(self) -> tuple[str, ...]:

        return (self._config.api_host,)

    def add_urls(self, urls: Sequence[str], *, choices: TargetChoices | None = None) -> list[str]:
        """Queue URLs; all or nothing. `choices` say what of each URL to mirror (latest version
        only, one file kind, model types, content level) and are kept with the target; None
        keeps a queued target's choices (a new one mirrors everything).

        Raises:
            UrlError: one of them is not a CivitAI URL civittui can mirror.
        """
        hosts = self._hosts()
        targets = [parse_url(url, extra_hosts=hosts) for url in urls]
        keys = []
        fresh_ones: list[tuple[str, str, dict[str, Any]]] = []  # stored in one write, below
        for target in targets:
            state = self._targets.get(target.key)
            if fresh := state is None or state.removed:
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
            if self._dry_run:
                pass  # a dry run leaves no target behind to download later
            elif fresh:  # the stored defaults are its state, but for its choices
                picked = state.choices.to_json()
                fresh_ones.append((target.key, target.url, {"choices": picked} if picked else {}))
            else:
                self._persist_target(state)
            self._backlog.append(state.event())
            keys.append(target.key)
        self._store.queue_targets(fresh_ones)
        self._told.set()
        self._wake.set()
        return keys

    def _add_target(self, target: Target) -> TargetState:
        state = TargetState(target)
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
        count = self._retry_targets(wanted)
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

    def _retry_targets(self, wanted: set[str] | None) -> int:
        """Queue again the targets that failed as a whole (and, for all, those left unfinished)."""
        count = 0
        for target in self._store.targets():
            unfinished = wanted is None and target.status not in ("done", "failed")
            chosen = wanted is None or target.key in wanted
            if unfinished or (is_target_failure(target) and chosen):
                try:
                    self.add_urls([target.url], choices=TargetChoices.from_json(target.choices))
                except UrlError:
                    continue  # queued against another api_base
                count += 1
        return count

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

    def targets(self) -> list[TargetUpdated]:
        """The queue as events, in order (first paint of a UI)."""
        return [state.event() for state in self._targets.values()]

    def failures(self) -> list[ItemFailed]:
        """Recorded failures, targets that failed as a whole first, then items newest first."""
        targets = [t for t in self._store.targets() if is_target_failure(t)]
        return [
            *(target_failure_event(t) for t in targets),
            *(failure_event(record) for record in self._store.failures()),
        ]

    @property
    def api_gate(self) -> ApiGate:
        """The run's API gate (other API work of the same process shares its spacing)."""
        return self._gate

    def gate_state(self) -> GateChanged:
        """The API gate now."""
        return self._gate.state()

    # -- the run ------------------------------------------------------------------------------

    _task_group: TaskGroup | None = None

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
            self._queues = Queues(image_send, file_send)
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
                    for _ in range(max(WORKERS, concurrency.images)):
                        tg.start_soon(self._worker, image_receive.clone(), processor)
                    for _ in range(max(WORKERS, concurrency.files)):
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

    async def _finish(self) -> None:
        with anyio.CancelScope(shield=True):
            self._keep_interrupted()
            self.summary.api_calls = self._gate.calls
            self.summary.planned_seconds = round(
                self.summary.planned_api_calls * self._config.rate.min_interval, 1
            )
            self.summary.seconds = round(time.monotonic() - self._started, 3)
            self.summary.targets = [s.report() for s in self._targets.values()]
            for state in self._targets.values():
                if not self._dry_run:
                    self._persist_target(state)
            await anyio.to_thread.run_sync(self._store.flush)
            await self._drain_backlog()
            await self._emit(RunFinished(self.summary))
            if self._send is not None:
                self._send.close()
