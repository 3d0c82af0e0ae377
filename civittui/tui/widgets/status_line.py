"""The one-line summary under the panes: totals, throughput and the API gate."""

from __future__ import annotations

from textual.widgets import Static

from civittui.tui import fmt
from civittui.tui.model import Totals

__all__ = ["StatusLine", "status_text"]


def status_text(totals: Totals, gate: str, *, paused: bool) -> str:
    """The status line's text.

    Args:
        totals: sums over the queue and the active downloads.
        gate: the API gate in words (see `workers.gate_text`).
        paused: whether the engine is paused.

    Returns:
        e.g. `done 12 · failed 1 · queued 340 · 1.2 GiB · 3.4 MiB/s · next API call in 0.8 s`.
    """
    parts = [
        "PAUSED" if paused else f"{totals.active} active",
        f"done {totals.done:,}",
        f"failed {totals.failed:,}",
        f"queued {totals.queued:,}",
        fmt.size(totals.bytes),
        fmt.speed(totals.throughput),
        gate,
    ]
    return " · ".join(parts)


class StatusLine(Static):
    """Totals and gate state; the app updates it at most a few times a second."""

    _shown = ""

    def show(self, text: str, *, paused: bool, backing_off: bool) -> None:
        """Set the text and the state classes (styled in civittui.tcss)."""
        if text != self._shown:
            self._shown = text
            self.update(text, layout=False)  # one line, always: no layout pass
        self.set_class(paused, "-paused")
        self.set_class(backing_off, "-backoff")
