"""The TUI's view model: engine events folded into what the panes show.

The app drains the engine's event stream into one `ViewModel` (cheap dict/list updates, no
rendering) and repaints from it on a 4–5 Hz timer, asking `take_changes()` what moved since the
last paint. Bursts of progress events therefore cost one repaint per row per tick.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from civittui.events import (
    Event,
    GateChanged,
    ItemFailed,
    ItemFinished,
    ItemProgress,
    ItemStarted,
    Notice,
    RunFinished,
    RunSummary,
    TargetStatus,
    TargetUpdated,
)

__all__ = ["Changes", "FailureRow", "FailureState", "Totals", "ViewModel", "WorkerRow"]


@dataclass(slots=True)
class WorkerRow:
    """One active download."""

    key: str
    name: str
    engine: str
    total: int | None
    done: int = 0
    speed: float = 0.0
    note: str | None = None

    @property
    def fraction(self) -> float | None:
        """Done / total, or None while the size is unknown."""
        if not self.total:
            return None
        return min(1.0, self.done / self.total)

    @property
    def eta(self) -> float | None:
        """Seconds left at the current speed, or None."""
        if not self.total or self.speed <= 0:
            return None
        return max(0.0, (self.total - self.done) / self.speed)


class FailureState:
    """Where a failed item is after the user asked for a retry."""

    FAILED = "failed"
    RETRYING = "retry queued"
    DOWNLOADING = "downloading"


@dataclass(slots=True)
class FailureRow:
    """A recorded failure and what has happened to it since."""

    event: ItemFailed
    at: datetime
    """When it failed (as far as this UI knows)."""
    state: str = FailureState.FAILED

    @property
    def key(self) -> str:
        """The item key, e.g. `image:123`."""
        return self.event.key


@dataclass(slots=True)
class Totals:
    """Numbers for the status line."""

    targets: int = 0
    found: int = 0
    done: int = 0
    failed: int = 0
    queued: int = 0
    bytes: int = 0
    throughput: float = 0.0
    active: int = 0


@dataclass(slots=True)
class Changes:
    """What changed since the last paint."""

    targets_reordered: bool = False
    target_keys: set[str] = field(default_factory=set)
    workers_reordered: bool = False
    worker_keys: set[str] = field(default_factory=set)
    failures_reordered: bool = False
    failure_keys: set[str] = field(default_factory=set)
    status: bool = False
    notices: list[Notice] = field(default_factory=list)
    finished: RunSummary | None = None
    downloaded: list[ItemFinished] = field(default_factory=list)
    """Items that arrived on disk in this run (not those already there), oldest first."""

    @property
    def any(self) -> bool:
        """True when something needs repainting."""
        return bool(
            self.targets_reordered
            or self.target_keys
            or self.workers_reordered
            or self.worker_keys
            or self.failures_reordered
            or self.failure_keys
            or self.status
            or self.notices
            or self.finished
            or self.downloaded
        )


class ViewModel:
    """Targets, active downloads, failures and totals, as the engine reported them.

    Args:
        clock: monotonic seconds (the gate countdown); injectable for fixed snapshots.
        wall: the current local time (failure times); injectable for fixed snapshots.
    """

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], datetime] = datetime.now,
    ) -> None:
        self.clock = clock
        self.wall = wall
        self.targets: dict[str, TargetUpdated] = {}
        self.target_order: list[str] = []
        self.workers: dict[str, WorkerRow] = {}
        self.failures: list[FailureRow] = []
        self._failure_by_key: dict[str, FailureRow] = {}
        self.gate: GateChanged | None = None
        self._gate_at = 0.0
        self.bytes_done = 0
        self.summary: RunSummary | None = None
        self.paused = False
        self._changes = Changes()
        # Running sums over the targets (found, done, failed, queued): at 10k targets a full
        # pass costs ~60 ms, too much for every repaint tick.
        self._sums = [0, 0, 0, 0]

    # -- seeding (first paint) -----------------------------------------------------------------

    def set_targets(self, targets: Iterable[TargetUpdated]) -> None:
        """Replace the queue with the engine's (ordered) targets."""
        targets = list(targets)
        self.targets = {t.key: t for t in targets}
        self.target_order = [t.key for t in targets]
        self._sums = [0, 0, 0, 0]
        for target in self.targets.values():
            self._count(target, 1)
        self._changes.targets_reordered = True
        self._changes.status = True

    def set_failures(
        self, failures: Iterable[ItemFailed], *, at: Mapping[str, datetime | None] | None = None
    ) -> None:
        """Replace the failure log (newest first), e.g. from the state store at start.

        Args:
            failures: the failures, newest first.
            at: item key -> when it failed, where known (else: now).
        """
        now = self.wall()
        times = at or {}
        self.failures = [
            FailureRow(event, at=times.get(event.key) or _failed_at(event, now))
            for event in failures
        ]
        self._failure_by_key = {row.key: row for row in self.failures}
        self._changes.failures_reordered = True
        self._changes.status = True

    # -- events --------------------------------------------------------------------------------

    def apply(self, event: Event) -> None:
        """Fold one engine event into the model (no rendering here)."""
        changes = self._changes
        match event:
            case ItemProgress():
                self._on_progress(event)
            case ItemStarted():
                self._on_started(event)
            case ItemFinished():
                if self.workers.pop(event.key, None) is not None:
                    changes.workers_reordered = True
                if not event.skipped:
                    self.bytes_done += event.size
                    changes.downloaded.append(event)
                if self._drop_failure(event.key):
                    changes.failures_reordered = True
                changes.status = True
            case ItemFailed():
                self._on_failed(event)
            case TargetUpdated():
                self._on_target(event)
            case GateChanged():
                self.gate = event
                self._gate_at = self.clock()
                changes.status = True
            case Notice():
                changes.notices.append(event)
            case RunFinished():
                self.summary = event.summary
                changes.finished = event.summary
                changes.status = True

    def _on_progress(self, event: ItemProgress) -> None:
        row = self.workers.get(event.key)
        if row is None:
            return
        row.done = event.done
        if event.total is not None:
            row.total = event.total
        row.speed = event.speed
        row.note = event.note
        self._changes.worker_keys.add(event.key)
        self._changes.status = True

    def _on_started(self, event: ItemStarted) -> None:
        changes = self._changes
        self.workers[event.key] = WorkerRow(
            key=event.key, name=event.name, engine=event.engine, total=event.total
        )
        changes.workers_reordered = True
        changes.status = True
        failure = self._failure_by_key.get(event.key)
        if failure is not None:
            failure.state = FailureState.DOWNLOADING
            changes.failure_keys.add(event.key)

    def _on_failed(self, event: ItemFailed) -> None:
        changes = self._changes
        if self.workers.pop(event.key, None) is not None:
            changes.workers_reordered = True
        self._drop_failure(event.key)
        failed = FailureRow(event, at=_failed_at(event, self.wall()))
        self.failures.insert(0, failed)
        self._failure_by_key[event.key] = failed
        changes.failures_reordered = True
        changes.status = True

    def _on_target(self, event: TargetUpdated) -> None:
        changes = self._changes
        old = self.targets.get(event.key)
        if old is None:
            self.target_order.append(event.key)
            changes.targets_reordered = True
        else:
            self._count(old, -1)
        self.targets[event.key] = event
        self._count(event, 1)
        changes.target_keys.add(event.key)
        # A target that failed as a whole and was retried: its failure row is over.
        if event.status is TargetStatus.DONE and self._drop_failure(event.key):
            changes.failures_reordered = True
        changes.status = True

    # -- commands the UI issued (reflected at once, before the engine confirms) --------------

    def remove_target(self, key: str) -> None:
        """Forget a target the user removed."""
        old = self.targets.pop(key, None)
        if old is not None:
            self._count(old, -1)
            self.target_order.remove(key)
            self._changes.targets_reordered = True
            self._changes.status = True

    def mark_retrying(self, keys: Iterable[str]) -> None:
        """Show these failures as queued for retry."""
        for key in keys:
            row = self._failure_by_key.get(key)
            if row is not None and row.state == FailureState.FAILED:
                row.state = FailureState.RETRYING
                self._changes.failure_keys.add(key)

    def dismiss(self, key: str) -> None:
        """Forget a failure the user dismissed."""
        if self._drop_failure(key):
            self._changes.failures_reordered = True
            self._changes.status = True

    def set_paused(self, paused: bool) -> None:
        """Reflect pause/resume in the status line."""
        if paused != self.paused:
            self.paused = paused
            self._changes.status = True

    # -- reading -------------------------------------------------------------------------------

    def take_changes(self) -> Changes:
        """What changed since the previous call (and start collecting afresh)."""
        changes, self._changes = self._changes, Changes()
        if self.gate is not None and (self.gate.next_call_in > 0 or self.gate.backoff_for > 0):
            changes.status = True  # the countdown moves by itself
        return changes

    def failure(self, key: str) -> FailureRow | None:
        """The failure row of `key`, if any."""
        return self._failure_by_key.get(key)

    def ordered_targets(self) -> list[TargetUpdated]:
        """The queue in display order."""
        return [self.targets[key] for key in self.target_order]

    def gate_countdown(self) -> tuple[float, float]:
        """(seconds until the next API call, seconds of back-off left), counted down locally."""
        if self.gate is None:
            return 0.0, 0.0
        elapsed = self.clock() - self._gate_at
        return (
            max(0.0, self.gate.next_call_in - elapsed),
            max(0.0, self.gate.backoff_for - elapsed),
        )

    def totals(self) -> Totals:
        """Sums over the queue and the active downloads."""
        found, done, failed, queued = self._sums
        return Totals(
            targets=len(self.targets),
            found=found,
            done=done,
            failed=failed,
            queued=queued,
            bytes=self.bytes_done,
            throughput=sum(row.speed for row in self.workers.values()),
            active=len(self.workers),
        )

    def _count(self, target: TargetUpdated, sign: int) -> None:
        sums = self._sums
        sums[0] += sign * target.found
        sums[1] += sign * target.done
        sums[2] += sign * target.failed
        sums[3] += sign * max(0, target.found - target.done - target.failed)

    def _drop_failure(self, key: str) -> bool:
        row = self._failure_by_key.pop(key, None)
        if row is None:
            return False
        self.failures.remove(row)
        return True


def _failed_at(event: ItemFailed, fallback: datetime) -> datetime:
    """When the failure happened: the event's own time when it carries one."""
    at = getattr(event, "at", None)
    return at if isinstance(at, datetime) else fallback
