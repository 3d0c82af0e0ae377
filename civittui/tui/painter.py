"""Pushes what changed in the view model into the panes, once per repaint tick."""

from __future__ import annotations

from textual.widget import Widget

from civittui.tui import fmt
from civittui.tui.model import Changes, ViewModel
from civittui.tui.widgets.failures import FailuresPane
from civittui.tui.widgets.queue import QueuePane
from civittui.tui.widgets.status_line import StatusLine, status_text
from civittui.tui.widgets.workers import WorkersPane, gate_text

__all__ = ["paint"]


def paint(
    model: ViewModel,
    changes: Changes,
    *,
    queue: QueuePane,
    workers: WorkersPane,
    failures: FailuresPane,
    status: StatusLine,
) -> None:
    """Repaint only what `changes` names: rows whose data moved, whole lists when rows came/went.

    Args:
        model: the view model.
        changes: what changed since the previous tick (`ViewModel.take_changes`).
        queue: the Queue pane.
        workers: the Workers pane.
        failures: the Failures pane.
        status: the status line.
    """
    if changes.targets_reordered:
        queue.show_targets(model.ordered_targets())
    elif changes.target_keys:
        queue.update_targets(
            model.targets[key] for key in changes.target_keys if key in model.targets
        )
    if changes.workers_reordered:
        workers.show_workers(model.workers.values())
    elif changes.worker_keys:
        workers.worker_list.refresh_keys(changes.worker_keys)
    if changes.failures_reordered:
        failures.show_failures(model.failures)
    elif changes.failure_keys:
        failures.failure_list.refresh_keys(changes.failure_keys)
    if not changes.status:
        return
    next_call, backoff = model.gate_countdown()
    gate = model.gate
    text = gate_text(
        next_call,
        backoff,
        gate.backoff_reason if gate else None,
        gate.api_calls if gate else 0,
    )
    workers.show_gate(text, backoff > 0)
    totals = model.totals()
    status.show(
        status_text(totals, text, paused=model.paused),
        paused=model.paused,
        backing_off=backoff > 0,
    )
    _subtitle(workers, f"{totals.active} active · {fmt.speed(totals.throughput)}")
    _subtitle(
        queue, f"{fmt.count(totals.targets, 'target')} · {fmt.count(totals.queued, 'item')} queued"
    )


def _subtitle(pane: Widget, text: str) -> None:
    if str(pane.border_subtitle) != text:  # setting it repaints the border
        pane.border_subtitle = text
