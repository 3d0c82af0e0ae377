"""TUI responsiveness: key-press-to-repaint latency and CPU with a big queue, headless.

civittui's app (virtual lists, events folded into a view model, 5 Hz repaint) holds 10,000 queued
targets, 1,000 failures and 8 active downloads whose progress streams in (800 events/s plus 50
target updates/s). The reference, measured in the same run on the same data and event stream, is
the naive design: three `DataTable`s updated cell by cell as each event arrives.

For each app: startup with the data, CPU while idle, CPU while busy (events streaming), and the
median / p90 time from a `down` key press to the repaint that shows the moved cursor (idle and
busy). A repaint is the moment Textual hands a finished frame to the (headless) display.

civittui alone: pane switches (`1`…`4` in turn, 2x2 grid at 120x40 and one pane at a time at
80x24), from the key to the first frame whose footer shows the new pane's keys, and the process
CPU time that took (wall time on a loaded machine mostly measures the other processes).

    python bench/tui.py [--targets 10000] [--failures 1000] [--seconds 3] [--presses 30]
    python bench/tui.py --switches-only   # the pane-switch figures alone

Aims (design): median key-to-repaint < 50 ms while busy; a pane switch paints in < 50 ms;
idle CPU < 5 %.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from textual import events
from textual.app import App, ComposeResult
from textual.containers import Grid
from textual.widgets import DataTable

from civittui.config import Config, RateSettings
from civittui.events import (
    ItemFailed,
    ItemProgress,
    ItemStarted,
    TargetStatus,
    TargetUpdated,
)
from civittui.tui.app import CivittuiApp
from civittui.tui.commands import PANES
from civittui.tui.launch import make_app
from civittui.tui.widgets.footer import KeyFooter
from civittui.tui.widgets.queue import TargetList

WORKERS = 8
PROGRESS_HZ = 100  # per download
TARGET_UPDATES_HZ = 50


@dataclass
class Data:
    """The same data for both apps."""

    targets: list[TargetUpdated]
    failures: list[ItemFailed]
    downloads: list[ItemStarted]


def make_data(n_targets: int, n_failures: int) -> Data:
    statuses = list(TargetStatus)
    targets = [
        TargetUpdated(
            f"post:{100000 + i}",
            f"https://civitai.com/posts/{100000 + i}",
            statuses[i % len(statuses)],
            found=40,
            done=i % 40,
            failed=i % 3,
        )
        for i in range(n_targets)
    ]
    failures = [
        ItemFailed(
            f"image:{500000 + i}",
            f"{500000 + i}.jpeg",
            "the download server is busy (HTTP 503)",
            503,
            i % 10 == 0,
            1 + i % 4,
        )
        for i in range(n_failures)
    ]
    downloads = [
        ItemStarted(f"file:{9000 + i}", f"model_{i}.safetensors", 2_000_000_000, "builtin")
        for i in range(WORKERS)
    ]
    return Data(targets, failures, downloads)


@dataclass
class Result:
    """What one app measured."""

    name: str
    startup: float = 0.0
    idle_cpu: float = 0.0
    busy_cpu: float = 0.0
    idle_latency: list[float] = field(default_factory=list)
    busy_latency: list[float] = field(default_factory=list)
    events: int = 0


class FrameWatch:
    """Timestamps of repaints, and a way to wait for the first one that satisfies a check."""

    def __init__(self, app: App[Any]) -> None:
        self.waiters: list[tuple[Callable[[], bool], asyncio.Future[float]]] = []
        original = app._display

        def display(screen: Any, renderable: Any) -> None:
            original(screen, renderable)
            if renderable is None:
                return
            now = time.perf_counter()
            for check, future in list(self.waiters):
                if not future.done() and check():
                    future.set_result(now)
                    self.waiters.remove((check, future))

        app._display = display  # type: ignore[method-assign]

    def wait(self, check: Callable[[], bool]) -> asyncio.Future[float]:
        future: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        self.waiters.append((check, future))
        return future


async def measure_latency(
    app: App[Any], watch: FrameWatch, cursor: Callable[[], int], presses: int
) -> list[float]:
    """Press `down` `presses` times, 100 ms apart; seconds from each press to its repaint."""
    samples = []
    for _ in range(presses):
        expected = cursor() + 1
        frame = watch.wait(lambda expected=expected: cursor() == expected)
        start = time.perf_counter()
        app.post_message(events.Key("down", None))
        done = await asyncio.wait_for(frame, timeout=10)
        samples.append(done - start)
        await asyncio.sleep(0.1)
    return samples


async def cpu_over(seconds: float) -> float:
    """Process CPU (all threads) as a share of one core over `seconds` of wall time."""
    wall, cpu = time.perf_counter(), time.process_time()
    await asyncio.sleep(seconds)
    return (time.process_time() - cpu) / (time.perf_counter() - wall)


class Feeder:
    """The event stream of a busy run: progress of 8 downloads and target count updates."""

    def __init__(self, data: Data, apply: Callable[[Any], None]) -> None:
        self.data = data
        self.apply = apply
        self.sent = 0
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        assert self._task is not None
        self._task.cancel()
        try:
            await self._task
        except asyncio.CancelledError:
            pass

    async def _run(self) -> None:
        rng = random.Random(7)
        done = [0] * WORKERS
        tick = 1.0 / PROGRESS_HZ
        per_tick_targets = TARGET_UPDATES_HZ / PROGRESS_HZ
        owed = 0.0
        while True:
            for index, started in enumerate(self.data.downloads):
                done[index] = (done[index] + 131_072) % (started.total or 1)
                self.apply(ItemProgress(started.key, done[index], started.total, 12_500_000.0))
                self.sent += 1
            owed += per_tick_targets
            while owed >= 1:
                owed -= 1
                target = rng.choice(self.data.targets)
                self.apply(
                    TargetUpdated(
                        target.key,
                        target.url,
                        TargetStatus.DOWNLOADING,
                        40,
                        rng.randrange(40),
                        rng.randrange(3),
                    )
                )
                self.sent += 1
            await asyncio.sleep(tick)


async def run_civittui(data: Data, args: argparse.Namespace) -> Result:
    result = Result("civittui (virtual lists, 5 Hz)")
    with tempfile.TemporaryDirectory() as tmp:
        filters = Path(tmp, "filters")
        filters.mkdir()
        config = Config(
            root=Path(tmp, "root"),
            filters_dir=filters,
            api_base="http://127.0.0.1:9",
            rate=RateSettings(min_interval=0.05),
            config_file=Path(tmp, "config.toml"),
        )
        app: CivittuiApp = make_app(config)
        app.engine.pause()  # no network: the data below is the whole workload
        now = datetime.now()
        start = time.perf_counter()
        async with app.run_test(size=(120, 40)) as pilot:
            model = app.model
            model.set_targets(data.targets)
            model.set_failures(
                data.failures,
                at={f.key: now - timedelta(minutes=i) for i, f in enumerate(data.failures)},
            )
            for started in data.downloads:
                model.apply(started)
            app.repaint()
            target_list = app.query_one(TargetList)
            target_list.focus()
            await pilot.pause()
            result.startup = time.perf_counter() - start
            await _measure_idle_then_busy(
                app, lambda: target_list.cursor, Feeder(data, model.apply), args, result
            )
            await pilot.press("ctrl+q")
    return result


def footer_matches(app: App[Any], pane: str) -> bool:
    """True when the focus is in `pane` and the footer shows exactly the keys it should."""
    focused = app.focused
    if focused is None or not any(node.id == pane for node in focused.ancestors_with_self):
        return False
    wanted = {
        b.binding.description
        for b in app.screen.active_bindings.values()
        if b.binding.show and b.binding.key != app.COMMAND_PALETTE_BINDING
    }
    footer = app.query_one(KeyFooter)
    shown = {description for _, _, description, _ in footer.rendered}
    return bool(shown) and shown == wanted


async def measure_switches(
    app: CivittuiApp, watch: FrameWatch, presses: int
) -> tuple[list[float], list[float]]:
    """Press `2`, `3`, `4`, `1`, … 150 ms apart; for each key, the wall seconds to the frame whose
    footer shows the new pane's keys, and the process CPU seconds spent meanwhile (the part a
    busy machine cannot inflate)."""
    walls, cpus = [], []
    order = [*PANES[1:], PANES[0]]
    for index in range(presses):
        pane = order[index % len(order)]
        frame = watch.wait(lambda pane=pane: footer_matches(app, pane))
        key = str(PANES.index(pane) + 1)
        start, cpu = time.perf_counter(), time.process_time()
        app.post_message(events.Key(key, key))
        done = await asyncio.wait_for(frame, timeout=10)
        cpus.append(time.process_time() - cpu)
        walls.append(done - start)
        await asyncio.sleep(0.15)
    return walls, cpus


async def run_switches(
    data: Data, args: argparse.Namespace
) -> dict[str, tuple[list[float], list[float]]]:
    """Pane-switch latency of civittui at 120x40 (grid) and 80x24 (one pane), idle and busy."""
    results: dict[str, tuple[list[float], list[float]]] = {}
    for size in ((120, 40), (80, 24)):
        with tempfile.TemporaryDirectory() as tmp:
            filters = Path(tmp, "filters")
            filters.mkdir()
            config = Config(
                root=Path(tmp, "root"),
                filters_dir=filters,
                api_base="http://127.0.0.1:9",
                rate=RateSettings(min_interval=0.05),
                config_file=Path(tmp, "config.toml"),
            )
            app: CivittuiApp = make_app(config)
            app.store.set_setting("tui.pane", "queue")
            app.engine.pause()
            now = datetime.now()
            async with app.run_test(size=size) as pilot:
                model = app.model
                model.set_targets(data.targets)
                model.set_failures(
                    data.failures,
                    at={f.key: now - timedelta(minutes=i) for i, f in enumerate(data.failures)},
                )
                for started in data.downloads:
                    model.apply(started)
                app.repaint()
                app.query_one(TargetList).focus()
                await pilot.pause()
                await asyncio.sleep(1.0)
                watch = FrameWatch(app)
                label = f"{size[0]}x{size[1]}"
                results[f"{label} idle"] = await measure_switches(app, watch, args.presses)
                feeder = Feeder(data, model.apply)
                feeder.start()
                await asyncio.sleep(0.5)
                results[f"{label} busy"] = await measure_switches(app, watch, args.presses)
                await feeder.stop()
                await pilot.press("ctrl+q")
    return results


def report_switches(results: dict[str, tuple[list[float], list[float]]]) -> None:
    print(
        f"{'pane switch key→footer (ms)':34} {'median':>8} {'p90':>8} {'max':>8} {'CPU median':>11}"
    )
    for label, (samples, cpus) in results.items():
        print(
            f"{label:34} {1000 * statistics.median(samples):8.1f} {_ms(samples, 0.9):8.1f} "
            f"{1000 * max(samples):8.1f} {1000 * statistics.median(cpus):11.1f}"
        )
    worst = max(statistics.median(s) for s, _ in results.values()) * 1000
    print(f"aim: median pane switch < 50 ms: {'met' if worst < 50 else 'MISSED'} ({worst:.1f} ms)")


class NaiveApp(App[None]):
    """The reference: three DataTables, each event written to its cell at once."""

    CSS = "Grid { grid-size: 2 2; } DataTable { height: 1fr; }"

    def __init__(self, data: Data) -> None:
        super().__init__()
        self.data = data

    def compose(self) -> ComposeResult:
        with Grid():
            yield DataTable(id="queue")
            yield DataTable(id="workers")
            yield DataTable(id="failures")

    def on_mount(self) -> None:
        queue = self.query_one("#queue", DataTable)
        queue.add_columns("status", "done/fail/found", "url")
        queue.add_rows(
            [(t.status.value, f"{t.done}/{t.failed}/{t.found}", t.url) for t in self.data.targets]
        )
        # add_rows returns keys in order; keep them to update cells by key
        self.queue_keys = {t.key: key for t, key in zip(self.data.targets, queue.rows, strict=True)}
        workers = self.query_one("#workers", DataTable)
        self.worker_columns = workers.add_columns("name", "done", "speed")
        for started in self.data.downloads:
            workers.add_row(started.name, "0", "0", key=started.key)
        failures = self.query_one("#failures", DataTable)
        failures.add_columns("what", "reason", "attempts")
        failures.add_rows([(f.name, f.reason, str(f.attempts)) for f in self.data.failures])
        self.count_column = list(queue.columns)[1]

    def apply(self, event: Any) -> None:
        if isinstance(event, ItemProgress):
            workers = self.query_one("#workers", DataTable)
            workers.update_cell(event.key, self.worker_columns[1], str(event.done))
            workers.update_cell(event.key, self.worker_columns[2], f"{event.speed:.0f}")
        elif isinstance(event, TargetUpdated):
            queue = self.query_one("#queue", DataTable)
            queue.update_cell(
                self.queue_keys[event.key],
                self.count_column,
                f"{event.done}/{event.failed}/{event.found}",
            )


class BatchedNaiveApp(NaiveApp):
    """The same DataTables repainted at 5 Hz, as civittui repaints: this leg separates what the
    widget costs from what painting at every event costs."""

    def on_mount(self) -> None:  # (Textual runs NaiveApp.on_mount first, along the MRO)
        self.pending: dict[tuple[type, str], Any] = {}
        self.set_interval(0.2, self.flush)

    def keep(self, event: Any) -> None:
        self.pending[(type(event), event.key)] = event  # the newest per row, like a view model

    def flush(self) -> None:
        pending, self.pending = self.pending, {}
        for event in pending.values():
            self.apply(event)


async def run_naive(data: Data, args: argparse.Namespace, *, batched: bool = False) -> Result:
    result = Result("DataTable at 5 Hz" if batched else "reference (DataTable per event)")
    app = BatchedNaiveApp(data) if batched else NaiveApp(data)
    start = time.perf_counter()
    async with app.run_test(size=(120, 40)) as pilot:
        queue = app.query_one("#queue", DataTable)
        queue.focus()
        await pilot.pause()
        result.startup = time.perf_counter() - start
        sink = app.keep if isinstance(app, BatchedNaiveApp) else app.apply
        await _measure_idle_then_busy(
            app, lambda: queue.cursor_row, Feeder(data, sink), args, result
        )
    return result


async def _measure_idle_then_busy(
    app: Any, cursor: Any, feeder: Feeder, args: Any, result: Any
) -> None:
    """The same procedure for both apps: idle CPU and latency, then under the event stream."""
    watch = FrameWatch(app)
    await asyncio.sleep(1.0)  # let the start settle
    result.idle_cpu = await cpu_over(args.seconds)
    result.idle_latency = await measure_latency(app, watch, cursor, args.presses)
    feeder.start()
    await asyncio.sleep(0.5)
    result.busy_cpu = await cpu_over(args.seconds)
    result.busy_latency = await measure_latency(app, watch, cursor, args.presses)
    await feeder.stop()
    result.events = feeder.sent


def _ms(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return 1000 * ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def report(ours: Result, ref: Result, batched: Result) -> None:
    rows = [
        ("startup with the data (s)", ours.startup, ref.startup, "{:.2f}"),
        ("CPU idle (% of a core)", 100 * ours.idle_cpu, 100 * ref.idle_cpu, "{:.1f}"),
        ("CPU busy (% of a core)", 100 * ours.busy_cpu, 100 * ref.busy_cpu, "{:.1f}"),
        (
            "key→repaint idle, median (ms)",
            1000 * statistics.median(ours.idle_latency),
            1000 * statistics.median(ref.idle_latency),
            "{:.1f}",
        ),
        (
            "key→repaint busy, median (ms)",
            1000 * statistics.median(ours.busy_latency),
            1000 * statistics.median(ref.busy_latency),
            "{:.1f}",
        ),
        (
            "key→repaint busy, p90 (ms)",
            _ms(ours.busy_latency, 0.9),
            _ms(ref.busy_latency, 0.9),
            "{:.1f}",
        ),
    ]
    at_5hz = [
        batched.startup,
        100 * batched.idle_cpu,
        100 * batched.busy_cpu,
        1000 * statistics.median(batched.idle_latency),
        1000 * statistics.median(batched.busy_latency),
        _ms(batched.busy_latency, 0.9),
    ]
    print(
        f"{'':34} {'civittui':>12} {'DataTable':>12} {'ratio':>8} {'DT at 5 Hz':>12} {'ratio':>8}"
    )
    for (label, mine, theirs, fmt), slow in zip(rows, at_5hz, strict=True):
        ratio = theirs / mine if mine else float("inf")
        ratio_5hz = slow / mine if mine else float("inf")
        print(
            f"{label:34} {fmt.format(mine):>12} {fmt.format(theirs):>12} {ratio:>7.1f}x "
            f"{fmt.format(slow):>12} {ratio_5hz:>7.1f}x"
        )
    print(f"events streamed while busy: civittui {ours.events}, reference {ref.events}")
    busy = 1000 * statistics.median(ours.busy_latency)
    print(
        f"aims: median busy key→repaint < 50 ms: {'met' if busy < 50 else 'MISSED'} "
        f"({busy:.1f} ms); idle CPU < 5 %: "
        f"{'met' if ours.idle_cpu < 0.05 else 'MISSED'} ({100 * ours.idle_cpu:.1f} %)"
    )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--targets", type=int, default=10_000)
    parser.add_argument("--failures", type=int, default=1_000)
    parser.add_argument("--seconds", type=float, default=3.0, help="per CPU measurement")
    parser.add_argument("--presses", type=int, default=30)
    parser.add_argument("--switches-only", action="store_true", help="only the pane switches")
    args = parser.parse_args()
    data = make_data(args.targets, args.failures)
    if args.switches_only:
        report_switches(await run_switches(data, args))
        return
    print(
        f"{args.targets:,} targets, {args.failures:,} failures, {WORKERS} downloads streaming "
        f"{WORKERS * PROGRESS_HZ} progress + {TARGET_UPDATES_HZ} target events/s"
    )
    ours = await run_civittui(data, args)
    ref = await run_naive(data, args)
    batched = await run_naive(data, args, batched=True)
    report(ours, ref, batched)
    report_switches(await run_switches(data, args))


if __name__ == "__main__":
    asyncio.run(main())
