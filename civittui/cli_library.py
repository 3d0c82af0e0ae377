"""`civittui adopt` and `civittui sync`: options, wiring, printing, exit codes (as `get`)."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from civittui.config import Config
from civittui.errors import ApiError, ConfigError
from civittui.textsafe import display_text, json_text

__all__ = ["add_library_commands", "cmd_adopt", "parse_duration"]

EXIT_OK, EXIT_FAILED, EXIT_INTERRUPTED = 0, 1, 130
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def add_library_commands(command: Any) -> None:
    """Add `adopt` and `sync` through the parser's `command(name, help)` maker."""
    adopt = command("adopt", "identify model files already on disk and take them in")
    adopt.add_argument("dirs", nargs="*", type=Path, metavar="DIR", help="default: lora_dir")
    adopt.add_argument("--dry-run", action="store_true", help="list only: nothing is written")
    sync = command("sync", "bring recorded targets up to date (newest first, new items only)")
    sync.add_argument("urls", nargs="*", metavar="URL", help="default: every recorded target")
    sync.add_argument(
        "--every", metavar="DURATION", help="repeat every DURATION (30m, 6h, 1d) until stopped"
    )


def parse_duration(text: str) -> float:
    """`90`, `30s`, `15m`, `6h`, `1d` -> seconds.

    Raises:
        ConfigError: not a positive duration.
    """
    raw = text.strip().lower()
    unit = raw[-1:] if raw[-1:] in _UNITS else "s"
    number = raw[:-1] if raw[-1:] in _UNITS else raw
    try:
        seconds = float(number) * _UNITS[unit]
    except ValueError:
        seconds = -1.0
    if not seconds > 0 or seconds != seconds or seconds == float("inf"):
        raise ConfigError(f"--every: {text!r} is not a duration like 30m, 6h or 1d")
    return seconds


class _TtyProgress:
    """One rewritten status line on a terminal; nothing in a pipe or with -q."""

    def __init__(self, quiet: bool) -> None:
        self._on = not quiet and sys.stderr.isatty()
        self._last = 0.0

    def __call__(self, phase: str, done: int, total: int) -> None:
        if not self._on or (time.monotonic() - self._last < 0.1 and done < total):
            return
        self._last = time.monotonic()
        if phase == "hash":
            what = f"hashing {done / 2**20:,.0f} / {total / 2**20:,.0f} MiB"
        else:
            what = f"{phase} {done} / {total}"
        sys.stderr.write(f"\r\x1b[K{what}")
        sys.stderr.flush()

    def close(self) -> None:
        if self._on:
            sys.stderr.write("\r\x1b[K")
            sys.stderr.flush()


def cmd_adopt(config: Config, args: argparse.Namespace) -> int:
    """Identify, write cards and meta, record; list unknown files with their reason."""
    import anyio

    from civittui.engine.adopt import Adopter, AdoptReport
    from civittui.runlock import RunLock
    from civittui.store import Store

    dirs: list[Path] = list(args.dirs) or ([config.lora_dir] if config.lora_dir else [])
    if not dirs:
        raise ConfigError("adopt: give a folder, or set lora_dir")
    for folder in dirs:
        if not folder.is_dir():
            raise ConfigError(f"adopt: {folder} is not a folder")
    dry_run = bool(args.dry_run)
    lock = RunLock(config.state_path.with_name("lock"))
    if not dry_run:
        lock.acquire()
    progress = _TtyProgress(bool(args.quiet))
    report: AdoptReport | None = None
    try:
        store = Store.open(config.state_path, read_only=dry_run)
        try:
            adopter = Adopter(config, store, dry_run=dry_run, progress=progress)

            async def run() -> AdoptReport:
                return await adopter.run(dirs)

            report = anyio.run(run)
        except KeyboardInterrupt:
            print("civittui: interrupted", file=sys.stderr)
            return EXIT_INTERRUPTED
        except ApiError as exc:  # CivitAI unreachable: the hashes are cached for the next run
            print(display_text(f"civittui: adopt: {exc.reason}"), file=sys.stderr)
            return EXIT_FAILED
        finally:
            progress.close()
            store.close()
    finally:
        if not dry_run:
            lock.release()
    _print_adopt(report, as_json=bool(args.json), quiet=bool(args.quiet))
    return EXIT_FAILED if report.errors else EXIT_OK


def _print_adopt(report: Any, *, as_json: bool, quiet: bool) -> None:
    if as_json:
        print(json_text(asdict(report)))
        return
    verb = "would adopt" if report.dry_run else "adopted"
    if not quiet:
        for a in report.adopted:
            line = f"{verb} {a.path} -> {a.creator}/{a.model} - {a.version} (file:{a.file_id})"
            print(display_text(line))
    for u in report.unknown:
        detail = f" ({u.detail})" if u.detail else ""
        print(display_text(f"unknown {u.path}: {u.reason}{detail}"))
    for error in report.errors:
        print(display_text(f"error {error}"), file=sys.stderr)
    print(
        display_text(
            f"{report.scanned} files: {len(report.adopted)} {verb}, {len(report.unknown)} "
            f"unknown; hashed {report.hashed} ({report.hashed_bytes / 2**20:,.1f} MiB in "
            f"{report.hash_seconds:.1f} s), {report.scanned - report.hashed} from the cache; "
            f"{report.api_calls} API calls"
        ),
        file=sys.stderr,
    )


def cmd_sync(config: Config, args: argparse.Namespace) -> int:
    """One round per target list (or one every `--every`), one summary line per target."""
    from urllib.parse import urlsplit

    from civittui.civitai.urls import parse_url
    from civittui.runlock import RunLock
    from civittui.store import Store

    every = parse_duration(args.every) if args.every else None
    hosts = (urlsplit(config.api_base).netloc,)
    for url in args.urls:
        parse_url(url, extra_hosts=hosts)  # bad input: one line, nothing started
    lock = RunLock(config.state_path.with_name("lock"))
    lock.acquire()
    try:
        store = Store.open(config.state_path)
        try:
            urls = list(args.urls) or _recorded_urls(store, hosts)
            if not urls:
                raise ConfigError("sync: no recorded targets yet: give URLs (or `get` them first)")
            if every is None:
                return _sync_round(config, store, urls, args)
            with _TerminateAsInterrupt() as guard:
                code = EXIT_OK
                try:
                    while code < EXIT_INTERRUPTED:
                        code = _sync_round(config, store, urls, args, after_loop=guard.install)
                        if code < EXIT_INTERRUPTED:
                            code = _wait(every, after_loop=guard.install) or EXIT_OK
                except KeyboardInterrupt:  # between two steps: the state is saved on close
                    code = EXIT_INTERRUPTED
                return 128 + guard.received[0] if guard.received else code
        finally:
            store.close()
    finally:
        lock.release()


class _TerminateAsInterrupt:
    """While repeating, SIGTERM and SIGHUP stop like Ctrl+C at any instant (between rounds
    too, where no round listens for them); the signal's number is kept for the exit code.

    An event loop's signal receiver puts the default handler back when it closes, so
    `install` is called again as each round's and each wait's loop ends.
    """

    def __init__(self) -> None:
        self.received: list[int] = []
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> _TerminateAsInterrupt:
        self.install()
        return self

    def install(self) -> None:
        """(Re)install the handlers (main thread only; not on Windows)."""
        import signal
        import threading

        if sys.platform == "win32" or threading.current_thread() is not threading.main_thread():
            return
        for signum in (signal.SIGTERM, signal.SIGHUP):
            previous = signal.signal(signum, self._handle)
            self._previous.setdefault(signum, previous)

    def _handle(self, signum: int, frame: object) -> None:
        self.received.append(signum)
        raise KeyboardInterrupt

    def __exit__(self, *exc: object) -> None:
        import signal

        for signum, handler in self._previous.items():
            signal.signal(signum, handler)


def _wait(seconds: float, *, after_loop: Callable[[], None]) -> int | None:
    """Sleep between rounds; the exit code when Ctrl+C, SIGTERM or SIGHUP ended the wait."""
    import signal

    import anyio

    from civittui.cli import _stop_on_signals

    received: list[int] = []

    async def run() -> None:
        async with anyio.create_task_group() as tg:
            tg.start_soon(_stop_on_signals, tg.cancel_scope, received)
            await anyio.sleep(seconds)
            tg.cancel_scope.cancel()

    try:
        try:
            anyio.run(run)
        finally:
            after_loop()  # its signal receiver put the default handlers back
    except KeyboardInterrupt:
        print("civittui: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    if received:
        print(f"civittui: stopped by {signal.Signals(received[0]).name}", file=sys.stderr)
        return 128 + received[0]
    return None


def _recorded_urls(store: Any, hosts: tuple[str, ...]) -> list[str]:
    from civittui.civitai.urls import parse_url
    from civittui.errors import UrlError

    urls = []
    for target in store.targets():
        try:
            parse_url(target.url, extra_hosts=hosts)
        except UrlError:
            continue  # recorded against another api_base
        urls.append(target.url)
    return urls


def _sync_round(
    config: Config,
    store: Any,
    urls: list[str],
    args: argparse.Namespace,
    *,
    after_loop: Callable[[], None] = lambda: None,
) -> int:
    import signal

    import anyio

    from civittui.cli import _first_user_error, _stop_on_signals
    from civittui.cli_progress import ProgressPrinter
    from civittui.engine.runner import Engine
    from civittui.engine.sync import SyncSource, completed_targets, format_new, record_sync
    from civittui.store import items_failed

    sources: list[SyncSource] = []
    fast = completed_targets(store)  # before `add_urls` marks them queued
    engine = Engine(config, store, items=SyncSource.factory(config, store, sources, fast))
    engine.add_urls(urls)
    printer = ProgressPrinter(quiet=True)  # the summary lines say what changed
    stopped_by: list[int] = []

    async def run() -> None:
        events = engine.subscribe()
        async with anyio.create_task_group() as tg:
            tg.start_soon(printer.consume, events)
            async with anyio.create_task_group() as engine_group:
                engine_group.start_soon(_stop_on_signals, engine_group.cancel_scope, stopped_by)
                await engine.serve(until_idle=True)
                engine_group.cancel_scope.cancel()

    code = EXIT_OK
    try:
        try:
            anyio.run(run)
        except BaseExceptionGroup as group:
            raise _first_user_error(group) from None
        finally:
            after_loop()
    except KeyboardInterrupt:
        code = EXIT_INTERRUPTED
    if stopped_by:
        code = 128 + stopped_by[0]
        print(f"civittui: stopped by {signal.Signals(stopped_by[0]).name}", file=sys.stderr)
    from collections import Counter

    new = sources[0].new if sources else {}
    rows = []
    for target in engine.summary.targets:
        key, url = str(target["key"]), str(target["url"])
        counts: Counter[str] = new.get(key, Counter())
        name = key.split(":", 1)[1] if key.startswith("user:") else url
        rows.append({**target, "new": dict(counts)})
        if code < EXIT_INTERRUPTED and target.get("status") != "queued":
            record_sync(store, key, counts)  # (an interrupted target is synced next round)
        if not args.json:
            failed = target.get("failed")
            failed = failed if isinstance(failed, int) else 0
            line = format_new(name, counts, failed)
            error = target.get("error")
            if error and target.get("status") == "failed" and error != items_failed(failed):
                line = f"{name}: failed — {error}"  # the target itself: nothing was synced
            print(display_text(line))
        if code == EXIT_OK and target.get("status") == "failed":
            code = EXIT_FAILED
    if args.json:
        print(json_text(rows))
    store.flush()
    return code
