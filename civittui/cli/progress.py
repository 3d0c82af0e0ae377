"""Headless progress on stderr: a live display on a TTY, plain lines in a pipe, silence with -q."""

from __future__ import annotations

import shutil
import sys
import time
from collections.abc import Callable
from typing import Any, TextIO

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream
from rich.cells import cell_len, set_cell_size

from civittui.events import (
    NOT_THE_TARGETS,
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
from civittui.textsafe import display_text

__all__ = ["ProgressPrinter", "format_bytes", "format_summary"]


def format_bytes(size: float) -> str:
    """`1536` -> `1.5 KiB`."""
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(value) < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TiB"  # pragma: no cover


def _dropped(summary: RunSummary) -> str:
    """How many records the run did not use, and why (a dry run says the same as a run)."""
    reasons = "; ".join(f"{k}: {v}" for k, v in sorted(summary.dropped_by_reason.items()))
    return f"dropped {summary.dropped} ({reasons or NOT_THE_TARGETS})"


def format_summary(summary: RunSummary) -> str:
    """The closing lines of a run."""
    if summary.dry_run:
        return (
            f"dry run: {summary.found} items found ({summary.skipped} already done), "
            f"{format_bytes(summary.planned_bytes)} of model files to fetch, "
            f"{summary.api_calls} API calls used, {summary.planned_api_calls} more needed "
            f"(~{summary.planned_seconds:.0f} s at the current rate)"
            + (f", {_dropped(summary)}" if summary.dropped else "")
        )
    parts = [
        f"done {summary.done} ({summary.skipped} already on disk)",
        f"failed {summary.failed}",
    ]
    if summary.failed_by_reason:
        reasons = ", ".join(f"{k}: {v}" for k, v in sorted(summary.failed_by_reason.items()))
        parts[-1] += f" ({reasons})"
    if summary.dropped:
        parts.append(_dropped(summary))
    rate = summary.bytes / summary.seconds if summary.seconds else 0.0
    parts.append(
        f"{format_bytes(summary.bytes)} in {summary.seconds:.1f} s ({format_bytes(rate)}/s)"
    )
    parts.append(f"{summary.api_calls} API calls")
    text = ", ".join(parts)
    if summary.interrupted:
        text = "interrupted: " + text + " (state saved; run again to resume)"
    return text


_REST = 0.02  # s between the printer's looks at its events


class ProgressPrinter:
    """Consumes engine events and writes progress to a stream.

    Args:
        stream: where to write (stderr).
        quiet: only failures and the summary.
        live: a rewriting status line (TTY) instead of one line per event.
    """

    def __init__(
        self, stream: TextIO | None = None, *, quiet: bool = False, live: bool | None = None
    ):
        self._out = stream or sys.stderr
        self._quiet = quiet
        self._live = self._out.isatty() if live is None else live
        self._active: dict[str, tuple[str, int, int | None]] = {}
        self._totals = {"done": 0, "failed": 0, "bytes": 0}
        self._gate: GateChanged | None = None
        self._last_draw = 0.0
        self._started = time.monotonic()
        self._line_len = 0

    async def consume(self, events: MemoryObjectReceiveStream[Event]) -> None:
        """Print until the engine closes the stream."""
        async with events:
            async for event in events:
                self.handle(event)
                # Then whatever else is waiting, without a loop turn per event, and a short
                # rest: a wake-up per event costs more than the printing when thousands of
                # images finish a second (the buffer holds seconds of them; none is dropped).
                while True:
                    try:
                        event = events.receive_nowait()
                    except (anyio.WouldBlock, anyio.EndOfStream):
                        break
                    self.handle(event)
                await anyio.sleep(_REST)
        self._clear()

    def _print(self, text: str) -> None:
        self._clear()
        print(display_text(text), file=self._out, flush=True)  # names and reasons: server text

    def _clear(self) -> None:
        if self._live and self._line_len:
            self._out.write("\r" + " " * self._line_len + "\r")
            self._out.flush()
            self._line_len = 0

    def _draw(self, force: bool = False) -> None:
        if not self._live or self._quiet:
            return
        now = time.monotonic()
        if not force and now - self._last_draw < 0.2:
            return
        self._last_draw = now
        elapsed = max(0.001, now - self._started)
        active = ", ".join(
            f"{name[:24]} {format_bytes(done)}" + (f"/{format_bytes(total)}" if total else "")
            for name, done, total in list(self._active.values())[:3]
        )
        gate = ""
        if self._gate is not None and self._gate.backoff_for > 0:
            gate = f" | backing off {self._gate.backoff_reason}: {self._gate.backoff_for:.0f} s"
        got = self._totals["bytes"]
        line = display_text(
            f"done {self._totals['done']} failed {self._totals['failed']} "
            f"{format_bytes(got)} ({format_bytes(got / elapsed)}/s){gate} | {active}"
        )
        # Measure in terminal cells: a Korean name is twice as wide as its length, and a line
        # that wraps can no longer be rewritten with "\r".
        width = shutil.get_terminal_size((100, 24)).columns - 1
        line = set_cell_size(line, min(width, cell_len(line)))
        self._out.write("\r" + line + " " * max(0, self._line_len - cell_len(line)))
        self._out.flush()
        self._line_len = cell_len(line)

    def handle(self, event: Event) -> None:
        """Render one event."""
        if isinstance(event, RunFinished):
            self._clear()
            return
        handler = _HANDLERS.get(type(event))
        if handler is not None:
            handler(self, event)
        self._draw()

    def _on_started(self, event: ItemStarted) -> None:
        self._active[event.key] = (event.name, 0, event.total)

    def _on_progress(self, event: ItemProgress) -> None:
        if event.key in self._active:
            name, _, total = self._active[event.key]
            self._active[event.key] = (name, event.done, event.total or total)

    def _on_finished(self, event: ItemFinished) -> None:
        self._active.pop(event.key, None)
        self._totals["done"] += 1
        if not event.skipped:
            self._totals["bytes"] += event.size
            if not self._quiet and not self._live:
                self._print(f"done    {event.key}  {event.path}  {format_bytes(event.size)}")

    def _on_failed(self, event: ItemFailed) -> None:
        self._active.pop(event.key, None)
        self._totals["failed"] += 1
        self._print(f"failed  {event.key}  {event.name}: {event.reason}")

    def _on_target(self, event: TargetUpdated) -> None:
        shown = (TargetStatus.CRAWLING, TargetStatus.DONE, TargetStatus.FAILED)
        if not self._quiet and event.status in shown:
            detail = f" ({event.error})" if event.error else ""
            counts = f" found {event.found}, done {event.done}, failed {event.failed}"
            self._print(f"target  {event.key}  {event.status}{counts}{detail}")

    def _on_gate_changed(self, event: GateChanged) -> None:
        self._gate = event

    def _on_notice(self, event: Notice) -> None:
        if not self._quiet or event.level == "error":
            self._print(f"{event.level:7} {event.message}")


_HANDLERS: dict[type, Callable[[ProgressPrinter, Any], None]] = {
    ItemStarted: ProgressPrinter._on_started,
    ItemProgress: ProgressPrinter._on_progress,
    ItemFinished: ProgressPrinter._on_finished,
    ItemFailed: ProgressPrinter._on_failed,
    TargetUpdated: ProgressPrinter._on_target,
    GateChanged: ProgressPrinter._on_gate_changed,
    Notice: ProgressPrinter._on_notice,
}
