"""The TUI's view model and its virtual list, without an engine."""

from __future__ import annotations

import time
from datetime import datetime

from rich.text import Text
from textual.app import App, ComposeResult

from civittui.events import (
    GateChanged,
    ItemFailed,
    ItemFinished,
    ItemProgress,
    ItemStarted,
    Notice,
    TargetStatus,
    TargetUpdated,
)
from civittui.tui import fmt
from civittui.tui.model import FailureState, ViewModel
from civittui.tui.widgets.virtual_list import VirtualList

NOW = datetime(2026, 11, 20, 12, 0, 0)


def _model(clock: list[float] | None = None) -> ViewModel:
    ticks = clock if clock is not None else [100.0]
    return ViewModel(clock=lambda: ticks[0], wall=lambda: NOW)


def test_a_burst_of_progress_is_one_change_per_row() -> None:
    model = _model()
    model.apply(ItemStarted("file:1", "a.safetensors", 1000, "builtin"))
    model.apply(ItemStarted("file:2", "b.safetensors", None, "aria2"))
    first = model.take_changes()
    assert first.workers_reordered and first.status
    for done in range(0, 1000, 10):
        model.apply(ItemProgress("file:1", done, 1000, 50.0))
    model.apply(ItemProgress("file:2", 5, 2000, 1.0))
    changes = model.take_changes()
    assert changes.worker_keys == {"file:1", "file:2"} and not changes.workers_reordered
    assert model.workers["file:1"].done == 990
    assert model.workers["file:2"].total == 2000  # a size learned late is kept
    assert model.workers["file:1"].eta == (1000 - 990) / 50.0
    assert not model.take_changes().any  # nothing new: nothing to paint


def test_finished_and_failed_downloads_leave_the_workers() -> None:
    model = _model()
    model.apply(ItemStarted("image:1", "1.png", 10, "builtin"))
    model.apply(ItemStarted("image:2", "2.png", 10, "builtin"))
    model.apply(ItemFinished("image:1", "1.png", "/x/1.png", 10))
    model.apply(ItemFailed("image:2", "2.png", "HTTP 403", 403, False, 1))
    assert model.workers == {}
    assert model.bytes_done == 10
    assert [row.key for row in model.failures] == ["image:2"]
    assert model.failures[0].at == NOW


def test_a_retried_failure_changes_state_then_leaves_on_success() -> None:
    model = _model()
    model.set_failures(
        [
            ItemFailed("image:2", "2.png", "HTTP 403", 403, False, 1),
            ItemFailed("image:1", "1.png", "gone", 410, True, 1),
        ]
    )
    model.take_changes()
    model.mark_retrying(["image:2"])
    assert model.failure("image:2").state == FailureState.RETRYING  # type: ignore[union-attr]
    assert model.take_changes().failure_keys == {"image:2"}
    model.apply(ItemStarted("image:2", "2.png", 10, "builtin"))
    assert model.failure("image:2").state == FailureState.DOWNLOADING  # type: ignore[union-attr]
    model.apply(ItemFinished("image:2", "2.png", "/x/2.png", 10))
    assert [row.key for row in model.failures] == ["image:1"]
    # failing again puts it back on top with its new attempt count
    model.apply(ItemFailed("image:1", "1.png", "gone", 410, True, 2))
    assert [(row.key, row.event.attempts) for row in model.failures] == [("image:1", 2)]
    model.dismiss("image:1")
    assert model.failures == []


def test_totals_follow_every_update_without_a_full_pass() -> None:
    model = _model()
    model.set_targets(
        [
            TargetUpdated("user:a", "u/a", TargetStatus.DOWNLOADING, found=10, done=4, failed=1),
            TargetUpdated("post:1", "p/1", TargetStatus.DONE, found=3, done=3),
        ]
    )
    totals = model.totals()
    assert (totals.targets, totals.found, totals.done, totals.failed, totals.queued) == (
        2,
        13,
        7,
        1,
        5,
    )
    model.apply(TargetUpdated("user:a", "u/a", TargetStatus.DOWNLOADING, found=12, done=10))
    model.apply(TargetUpdated("user:b", "u/b", TargetStatus.QUEUED))
    totals = model.totals()
    assert (totals.targets, totals.found, totals.done, totals.failed, totals.queued) == (
        3,
        15,
        13,
        0,
        2,
    )
    model.remove_target("user:a")
    assert model.totals().found == 3 and model.target_order == ["post:1", "user:b"]


def test_the_gate_counts_down_between_events() -> None:
    clock = [50.0]
    model = _model(clock)
    model.apply(GateChanged(next_call_in=1.5, backoff_for=12.0, backoff_reason="429"))
    assert model.gate_countdown() == (1.5, 12.0)
    clock[0] = 51.0
    assert model.gate_countdown() == (0.5, 11.0)
    assert model.take_changes().status  # the countdown keeps the status line moving
    clock[0] = 70.0
    assert model.gate_countdown() == (0.0, 0.0)


def test_notices_are_handed_over_once() -> None:
    model = _model()
    model.apply(Notice("ignored ?sort", "warning"))
    assert [n.message for n in model.take_changes().notices] == ["ignored ?sort"]
    assert model.take_changes().notices == []


def test_short_numbers() -> None:
    assert fmt.size(1536) == "1.5 KiB" and fmt.size(None) == "?" and fmt.size(12) == "12 B"
    assert fmt.duration(0.84) == "0.8 s" and fmt.duration(12) == "12 s"
    assert fmt.duration(75) == "1:15" and fmt.duration(3725) == "1:02:05"
    assert fmt.duration(None) == "--:--"
    assert fmt.fit("메이드 클래식", 8) == "메이드 …" and fmt.fit("ab", 4) == "ab  "
    assert fmt.bar(0.5, 4) == "██  " and fmt.bar(None, 3) == "···"


class Numbers(VirtualList[int]):
    rendered: list[int]

    def row_key(self, row: int) -> str:
        return str(row)

    def render_row(self, row: int, width: int) -> Text:
        self.rendered.append(row)
        return Text(f"row {row}")


class ListApp(App[None]):
    def compose(self) -> ComposeResult:
        numbers = Numbers(id="numbers")
        numbers.rendered = []
        yield numbers


async def test_a_hundred_thousand_rows_render_only_what_is_visible() -> None:
    app = ListApp()
    async with app.run_test(size=(40, 12)) as pilot:
        numbers = app.query_one(Numbers)
        start = time.perf_counter()
        numbers.set_rows(list(range(100_000)))
        await pilot.pause()
        assert time.perf_counter() - start < 5  # a DataTable needs ~13 s for this
        assert numbers.virtual_size.height == 100_000
        assert max(numbers.rendered) < 20  # only the visible rows were rendered
        numbers.focus()
        await pilot.pause()
        numbers.rendered.clear()
        await pilot.press("end")
        await pilot.pause()
        assert numbers.cursor == 99_999
        assert numbers.scroll_offset.y > 99_000
        assert min(numbers.rendered) > 99_000
        # the cursor follows its row when rows are replaced
        numbers.cursor = 500
        numbers.set_rows([7, 500, 9])
        assert numbers.cursor == 1 and numbers.highlighted == 500
        # a changed row is rendered again, the others come from the cache
        await pilot.pause()
        numbers.rendered.clear()
        numbers.refresh_keys(["9"])
        await pilot.pause()
        assert numbers.rendered == [9]
