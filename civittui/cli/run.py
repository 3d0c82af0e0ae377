"""A headless run (`get`, `batch`, `retry`): the engine served until idle, progress printed,
the lock held, the summary and report written, the exit code chosen.

Exit codes (design.md §2): 0 all verified, 1 some items failed (recorded, retryable) or batch
lines were skipped, 2 bad input or configuration, 130 interrupted (state saved); a headless run
ended by SIGTERM or SIGHUP stops the same way and exits 128 + the signal's number (143, 129).
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from civittui.config import Config
from civittui.errors import CivittuiError
from civittui.textsafe import display_text, json_text

__all__ = [
    "EXIT_FAILED",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_USAGE",
    "run_headless",
    "serve_until_idle",
]

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


def run_headless(
    config: Config,
    args: argparse.Namespace,
    *,
    urls: Sequence[str] = (),
    retry: Callable[[Any], int] | None = None,
    choices: Any = None,
) -> int:
    """Run the engine until its queue is empty, printing progress; returns the exit code."""
    from civittui.cli.progress import format_summary
    from civittui.engine.runner import Engine
    from civittui.runlock import RunLock
    from civittui.state import Store

    dry_run = bool(getattr(args, "dry_run", False))
    report: Path | None = getattr(args, "report", None)
    # A dry run writes nothing (not even the state), so it needs no lock and may run beside
    # the process that holds it.
    lock = RunLock(config.state_path.with_name("lock"))
    if not dry_run:
        lock.acquire()
    try:
        store = Store.open(config.state_path, read_only=dry_run)
    except BaseException:
        if not dry_run:
            lock.release()
        raise
    engine: Engine | None = None
    try:
        engine = Engine(config, store, dry_run=dry_run)
        if urls:
            engine.add_urls(urls, choices=choices)
        if retry is not None and retry(engine) == 0:
            print("civittui: nothing to retry", file=sys.stderr)
            return EXIT_OK
        code = serve_until_idle(engine, quiet=bool(args.quiet))
        summary = engine.summary
        failed_target = any(t.get("status") == "failed" for t in summary.targets)
        if code == EXIT_OK and (summary.failed or failed_target):
            code = EXIT_FAILED
        print(display_text(format_summary(summary)), file=sys.stderr)
        return code
    finally:
        store.close()
        if not dry_run:
            lock.release()
        if report is not None and engine is not None:
            _write_report(report, engine.summary)


def serve_until_idle(
    engine: Any, *, quiet: bool, after_loop: Callable[[], None] = lambda: None
) -> int:
    """Serve until idle with progress printed; Ctrl+C and SIGTERM/SIGHUP stop it cleanly.

    `after_loop` runs as soon as the event loop has ended, however it ended.
    """
    import anyio

    from civittui.cli.progress import ProgressPrinter

    printer = ProgressPrinter(quiet=quiet)
    stopped_by: list[int] = []

    async def run() -> None:
        events = engine.subscribe()
        async with anyio.create_task_group() as tg:
            tg.start_soon(printer.consume, events)
            async with anyio.create_task_group() as engine_group:
                engine_group.start_soon(_stop_on_signals, engine_group.cancel_scope, stopped_by)
                await engine.serve(until_idle=True)
                engine_group.cancel_scope.cancel()

    try:
        try:
            anyio.run(run)
        except BaseExceptionGroup as group:
            raise _first_user_error(group) from None
        finally:
            after_loop()
    except KeyboardInterrupt:
        engine.summary.interrupted = True
        return EXIT_INTERRUPTED
    if stopped_by:
        engine.summary.interrupted = True
        print(f"civittui: stopped by {signal.Signals(stopped_by[0]).name}", file=sys.stderr)
        return 128 + stopped_by[0]
    return EXIT_OK


async def _stop_on_signals(scope: Any, received: list[int]) -> None:
    """SIGTERM (service managers, `kill`) and SIGHUP (a closed terminal) end the run as Ctrl+C
    does: the engine is cancelled, saves its state and the summary and report still follow."""
    import anyio

    wanted = [s for s in (signal.SIGTERM, getattr(signal, "SIGHUP", None)) if s is not None]
    if sys.platform == "win32" or threading.current_thread() is not threading.main_thread():
        return  # no signal receiver there; Ctrl+C still works
    with anyio.open_signal_receiver(*wanted) as signals:
        async for signum in signals:
            received.append(int(signum))
            scope.cancel()
            return


def _first_user_error(group: BaseExceptionGroup) -> BaseException:
    """A task group wraps what it raises; a user error inside is still a user error."""
    for exc in group.exceptions:
        if isinstance(exc, BaseExceptionGroup):
            inner = _first_user_error(exc)
            if isinstance(inner, CivittuiError | KeyboardInterrupt):
                return inner
        elif isinstance(exc, CivittuiError | KeyboardInterrupt):
            return exc
    return group


def _write_report(path: Path, summary: Any) -> None:
    from dataclasses import asdict

    try:
        path.write_text(json_text(asdict(summary)), "utf-8")
    except OSError as exc:
        message = f"civittui: cannot write report {path}: {exc.strerror}"
        print(display_text(message), file=sys.stderr)
