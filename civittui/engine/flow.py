"""What the engine's parts share: the run's state, and how state changes reach a UI.

`Engine` (commands, the run's lifetime) and `ItemFlow` (the dispatcher and workers) are one
object; this base names the attributes both use and delivers their events: progress may drop,
state changes are awaited, never dropped (design.md section 6).
"""

from __future__ import annotations

import anyio
from anyio.streams.memory import MemoryObjectSendStream

from civittui.civitai.gate import ApiGate
from civittui.config import Config
from civittui.engine.items import FileItem, ImageItem, Item, item_from_spec
from civittui.engine.targets import TargetState
from civittui.events import Event, GateChanged, RunSummary, TargetStatus
from civittui.redact import Redactor
from civittui.state import ItemRecord, ItemStatus, Store, items_failed

__all__ = ["EngineCore", "Queues"]


class Queues:
    """Where the dispatcher hands items to the image and file workers."""

    def __init__(
        self, images: MemoryObjectSendStream[ImageItem], files: MemoryObjectSendStream[FileItem]
    ) -> None:
        self.images = images
        self.files = files


class EngineCore:
    """The attributes the engine's parts share (set by `Engine.__init__`), and its events."""

    _config: Config
    _store: Store
    _dry_run: bool
    _redact: Redactor
    _targets: dict[str, TargetState]
    _send: MemoryObjectSendStream[Event] | None
    _wake: anyio.Event
    _resumed: anyio.Event
    _stopping: bool
    _queues: Queues | None
    _retries: list[Item]
    _last_errors: dict[str, str]
    _running: dict[str, anyio.CancelScope]
    _outstanding: int
    _inflight: dict[str, Item]
    _backlog: list[Event]
    _told: anyio.Event
    _seen: set[str]
    _gate: ApiGate
    _limits: tuple[anyio.CapacityLimiter, anyio.CapacityLimiter] | None = None
    """(images, files): how many downloads of each kind may run at once."""
    summary: RunSummary

    def _requeue(self, record: ItemRecord) -> bool:
        """Queue a recorded item again from its spec (False when it has none usable)."""
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
            # Waits only when the buffer is full: `send` alone costs a loop turn per event,
            # and thousands of images finish a second.
            try:
                self._send.send_nowait(event)
            except anyio.WouldBlock:
                await self._send.send(event)
        except (anyio.BrokenResourceError, anyio.ClosedResourceError):
            self._send.close()  # the consumer left: stop talking, but close what we opened
            self._send = None

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

    def _persist_target(self, state: TargetState) -> None:
        self._store.queue_targets([(state.target.key, state.target.url, state.stored())])

    def _settle(self, state: TargetState) -> None:
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
