"""The Workers pane: one row per active download and the API gate's state."""

from __future__ import annotations

from collections.abc import Iterable
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Static

from civittui.tui import fmt
from civittui.tui.model import WorkerRow
from civittui.tui.widgets.virtual_list import VirtualList

__all__ = ["WorkerList", "WorkersPane", "gate_text"]

_BAR = 12
_WIDE = 72  # from this row width on, the bytes done are shown too


class WorkerList(VirtualList[WorkerRow]):
    """Active downloads: name, progress bar, bytes, speed, ETA."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "worker--bar",
        "worker--bar-empty",
        "worker--numbers",
        "worker--note",
        "worker--engine",
    }

    def row_key(self, row: WorkerRow) -> str:
        return row.key

    def render_row(self, row: WorkerRow, width: int) -> Text:
        fraction = row.fraction
        pct = f"{fraction * 100:3.0f}%" if fraction is not None else "  ?%"
        numbers = f" {pct} {fmt.speed(row.speed):>11} {fmt.duration(row.eta):>7}"
        if width >= _WIDE:
            numbers += f" {fmt.size(row.done):>10}"
        name_width = max(8, width - _BAR - len(numbers) - 1)
        text = Text(no_wrap=True, end="")
        text.append(fmt.fit(row.name, name_width) + " ")
        if row.note:
            text.append(row.note, self.get_component_rich_style("worker--note"))
            return text
        text.append(fmt.bar(fraction, _BAR), self.get_component_rich_style("worker--bar"))
        text.append(numbers, self.get_component_rich_style("worker--numbers"))
        return text


def gate_text(next_call_in: float, backoff_for: float, reason: str | None, calls: int) -> str:
    """The API gate in words: `next API call in 0.8 s`, `backing off 429: 12 s`, `API idle`."""
    if backoff_for > 0:
        state = f"backing off {reason or 'error'}: {fmt.duration(backoff_for)}"
    elif next_call_in > 0:
        state = f"next API call in {next_call_in:.1f} s"
    else:
        state = "API ready"
    return f"{state} · {calls} API calls"


class WorkersPane(Vertical):
    """The gate line on top, active downloads below."""

    BORDER_TITLE = "Workers"
    _gate_text = ""
    ALLOW_MAXIMIZE = True

    def compose(self) -> ComposeResult:
        yield Static("API ready · 0 API calls", id="gate", classes="gate-line", markup=False)
        yield WorkerList(empty_text="No active downloads.", id="worker-list")

    @property
    def worker_list(self) -> WorkerList:
        """The download rows."""
        return self.query_one(WorkerList)

    def show_workers(self, rows: Iterable[WorkerRow]) -> None:
        """Replace the rows (downloads started or ended)."""
        self.worker_list.set_rows(list(rows))

    def show_gate(self, text: str, backing_off: bool) -> None:
        """Update the gate line."""
        gate = self.query_one("#gate", Static)
        if text != self._gate_text:
            self._gate_text = text
            gate.update(text, layout=False)  # one line, always: no layout pass
        gate.set_class(backing_off, "-backoff")
