"""The `n` log screen: every notice the app showed, and where the recent downloads went."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import ClassVar

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from civittui.textsafe import display_text

__all__ = ["Download", "LogScreen", "Notice", "RunLog"]

KEEP = 500  # entries of each kind: enough for a session, flat memory for a long one


@dataclass(frozen=True, slots=True)
class Notice:
    """A toast as it was shown."""

    at: datetime
    severity: str
    """`information`, `warning` or `error`."""
    message: str


@dataclass(frozen=True, slots=True)
class Download:
    """An item that arrived on disk in this session."""

    at: datetime
    name: str
    path: str


class RunLog:
    """The notices and downloads of this session, newest last, the oldest dropped past `KEEP`."""

    def __init__(self) -> None:
        self.notices: deque[Notice] = deque(maxlen=KEEP)
        self.downloads: deque[Download] = deque(maxlen=KEEP)

    def note(self, at: datetime, severity: str, message: str) -> None:
        """Keep a notice (its text already made safe to show)."""
        self.notices.append(Notice(at, severity, message))

    def downloaded(self, at: datetime, items: Iterable[tuple[str, str]]) -> None:
        """Keep (name, path) of items that arrived."""
        self.downloads.extend(Download(at, name, path) for name, path in items)


_SEVERITY = {"information": ("info", ""), "warning": ("warn", "yellow"), "error": ("error", "red")}


class LogScreen(ModalScreen[None]):
    """A modal with the session's notices and recent downloads, newest first.

    Args:
        log: the session's log.
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,n", "close", "Close", id="log.close", tooltip="Close the log"),
    ]

    def __init__(self, log: RunLog) -> None:
        super().__init__()
        self._log = log

    def compose(self) -> ComposeResult:
        with Vertical(id="log-dialog", classes="dialog"):
            yield Static("Notices and downloads", classes="dialog-title")
            with VerticalScroll(id="log-scroll"):
                yield Static(self.notices_table(), id="log-notices")
                yield Static(self.downloads_table(), id="log-downloads")
            yield Static("Newest first; the last 500 of each. Esc closes.", classes="hint")

    def notices_table(self) -> Table | Text:
        """Every notice, newest first (server text shown as written, never parsed)."""
        if not self._log.notices:
            return Text("No notices yet.")
        table = Table(title="Notices", title_justify="left", box=None, padding=(0, 1))
        table.add_column("time", no_wrap=True, style="dim")
        table.add_column("", no_wrap=True)
        table.add_column("message", overflow="fold")
        for notice in reversed(self._log.notices):
            label, style = _SEVERITY.get(notice.severity, (notice.severity, ""))
            table.add_row(
                notice.at.strftime("%H:%M:%S"),
                Text(label, style=style),
                Text(display_text(notice.message)),
            )
        return table

    def downloads_table(self) -> Table | Text:
        """What went where, newest first."""
        if not self._log.downloads:
            return Text("\nNo downloads yet in this session.")
        table = Table(title="\nRecent downloads", title_justify="left", box=None, padding=(0, 1))
        table.add_column("time", no_wrap=True, style="dim")
        table.add_column("name", overflow="fold")
        table.add_column("", no_wrap=True)
        table.add_column("path", overflow="fold")
        for item in reversed(self._log.downloads):
            table.add_row(
                item.at.strftime("%H:%M:%S"),
                Text(display_text(item.name)),
                "→",
                Text(display_text(item.path)),
            )
        return table

    def action_close(self) -> None:
        """Close the log."""
        self.dismiss(None)
