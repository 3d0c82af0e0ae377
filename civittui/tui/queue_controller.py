"""What the app does for the Queue pane: add URLs (typed or from a file), remove, move, pause."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from civittui.civitai.urls import parse_url, read_batch_file
from civittui.errors import ConfigError, UrlError
from civittui.events import TargetStatus
from civittui.tui.screens.path_prompt import PathPrompt
from civittui.tui.widgets.queue import QueuePane

if TYPE_CHECKING:
    from civittui.tui.app import CivittuiApp

__all__ = ["QueueController"]


class QueueController:
    """Queue commands of one app: engine calls plus the model update the user sees at once.

    Args:
        app: the running app (engine, model, config).
    """

    def __init__(self, app: CivittuiApp) -> None:
        self.app = app

    def add_urls(self, urls: Sequence[str]) -> list[str] | None:
        """Queue URLs; a bad one is shown under the URL box and nothing is added.

        Returns:
            The target keys, or None when a URL was refused.
        """
        app = self.app
        try:
            keys = app.engine.add_urls(urls)
        except UrlError as exc:
            app.query_one(QueuePane).show_error(str(exc))
            return None
        app.model.set_targets(app.engine.targets())
        app.repaint()
        return keys

    def submit(self, text: str) -> None:
        """The URL box's Enter: queue every URL in it, then clear it."""
        if self.add_urls(text.split()) is not None:
            self.app.query_one(QueuePane).accept_input()

    def add_lines(self, lines: Sequence[str]) -> None:
        """Queue every URL of a multi-line paste; lines that are not URLs are listed, not lost.

        Blank lines and `#` comments are skipped, as in a batch file.
        """
        app = self.app
        good: list[str] = []
        bad: list[str] = []
        for number, line in enumerate(lines, 1):
            entry = line.strip()
            if not entry or entry.startswith("#"):
                continue
            try:
                parse_url(entry, extra_hosts=(app.config.api_host,))
            except UrlError as exc:
                bad.append(f"line {number}: {exc}")
                continue
            good.append(entry)
        keys = (self.add_urls(good) or []) if good else []
        pane = app.query_one(QueuePane)  # the paste never entered the box: nothing to clear
        if keys:
            app.notify(f"queued {_count(len(keys), 'URL')} from the paste")
        if bad:
            shown = "; ".join(bad[:3]) + (f"; and {len(bad) - 3} more" if len(bad) > 3 else "")
            pane.show_error(f"{_count(len(bad), 'line')} not queued: {shown}")

    def remove(self, key: str) -> None:
        """Drop a target from the queue."""
        self.app.engine.remove_target(key)
        self.app.model.remove_target(key)
        self.app.repaint()

    def clear_finished(self) -> int:
        """Take every done target out of the queue and the state (their items stay)."""
        app = self.app
        done = [t.key for t in app.engine.targets() if t.status is TargetStatus.DONE]
        for key in done:
            app.engine.remove_target(key)
            app.model.remove_target(key)
        app.notify(f"cleared {_count(len(done), 'finished target')} from the queue")
        app.repaint()
        return len(done)

    def move(self, key: str, delta: int) -> None:
        """Move a target earlier (negative) or later in the queue."""
        self.app.engine.move_target(key, delta)
        self.app.model.set_targets(self.app.engine.targets())
        self.app.repaint()

    def toggle_pause(self) -> None:
        """Pause or resume crawling and downloads."""
        engine = self.app.engine
        if engine.paused:
            engine.resume()
        else:
            engine.pause()
        self.app.model.set_paused(engine.paused)
        self.app.repaint()

    def load_batch(self) -> None:
        """Ask for a batch file and queue its URLs (errors stay in the dialog)."""
        app = self.app

        def check(path: str) -> str | None:
            try:
                urls = read_batch_file(Path(path).expanduser(), extra_hosts=(app.config.api_host,))
            except (UrlError, ConfigError) as exc:
                return str(exc)
            if not urls:
                return f"{path}: no URLs in the file"
            keys = self.add_urls(urls)
            if keys is None:
                return "a URL in the file is not supported"
            app.notify(f"queued {len(keys)} URL(s) from {path}")
            return None

        app.push_screen(PathPrompt("Batch file (one URL a line)", check, placeholder="urls.txt"))


def _count(n: int, noun: str) -> str:
    """`1 URL`, `3 URLs`."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"
