"""The Failures pane: recorded failures with retry, retry-all, details and dismiss."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import Static

from civittui.tui import fmt
from civittui.tui.model import FailureRow, FailureState
from civittui.tui.widgets.virtual_list import VirtualList

__all__ = ["FailureList", "FailuresPane"]

_ATTEMPTS = 4
_WHEN = 11


def _columns(width: int) -> tuple[int, int]:
    """Widths of the `what` and `reason` columns for a row `width` cells wide."""
    rest = max(10, width - _ATTEMPTS - _WHEN - 3)
    what = max(8, rest * 2 // 5)
    return what, rest - what


class FailureList(VirtualList[FailureRow]):
    """Failed items, newest first: what, reason, attempts, when."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "failure--reason",
        "failure--permanent",
        "failure--retrying",
        "failure--when",
    }

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("r", "retry", "Retry", id="failures.retry", tooltip="Retry the selected failure"),
        Binding(
            "R",
            "retry_all",
            "Retry all",
            id="failures.retry_all",
            tooltip="Retry every failure (asks before retrying permanent ones)",
        ),
        Binding(
            "enter", "details", "Details", id="failures.details", tooltip="Show the full error"
        ),
        Binding("d", "dismiss", "Dismiss", id="failures.dismiss", tooltip="Forget this failure"),
    ]

    class RetryRequested(Message):
        """The user asked to retry failures."""

        def __init__(self, keys: list[str] | None) -> None:
            super().__init__()
            self.keys = keys
            """Item keys, or None for every failure."""

    class DetailsRequested(Message):
        """The user asked for the details of a failure."""

        def __init__(self, key: str) -> None:
            super().__init__()
            self.key = key

    class DismissRequested(Message):
        """The user asked to forget a failure."""

        def __init__(self, key: str) -> None:
            super().__init__()
            self.key = key

    def __init__(
        self,
        *,
        now: Callable[[], datetime] = datetime.now,
        empty_text: str = "",
        id: str | None = None,
    ) -> None:
        super().__init__(empty_text=empty_text, id=id)
        self.now = now
        """The current time (for `5 min ago`); injectable for fixed snapshots."""

    def row_key(self, row: FailureRow) -> str:
        return row.key

    def render_row(self, row: FailureRow, width: int) -> Text:
        what_width, reason_width = _columns(width)
        event = row.event
        text = Text(no_wrap=True, end="")
        text.append(fmt.fit(event.name or event.key, what_width) + " ")
        if row.state != FailureState.FAILED:
            reason, style = f"↻ {row.state}", "failure--retrying"
        elif event.permanent:
            reason, style = event.reason, "failure--permanent"
        else:
            reason, style = event.reason, "failure--reason"
        text.append(fmt.fit(reason, reason_width) + " ", self.get_component_rich_style(style))
        text.append(str(event.attempts).rjust(_ATTEMPTS - 1) + " ")
        text.append(
            fmt.ago(row.at, self.now()).rjust(_WHEN), self.get_component_rich_style("failure--when")
        )
        return text

    def action_retry(self) -> None:
        """Ask to retry the highlighted failure."""
        row = self.highlighted
        if row is not None:
            self.post_message(self.RetryRequested([row.key]))

    def action_retry_all(self) -> None:
        """Ask to retry every failure."""
        self.post_message(self.RetryRequested(None))

    def action_details(self) -> None:
        """Ask for the highlighted failure's details."""
        row = self.highlighted
        if row is not None:
            self.post_message(self.DetailsRequested(row.key))

    def action_dismiss(self) -> None:
        """Ask to forget the highlighted failure."""
        row = self.highlighted
        if row is not None:
            self.post_message(self.DismissRequested(row.key))


class FailuresPane(Vertical):
    """A header line and the failure list."""

    BORDER_TITLE = "Failures"
    ALLOW_MAXIMIZE = True

    def __init__(
        self,
        *,
        now: Callable[[], datetime] = datetime.now,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(id=id, classes=classes)
        self._now = now

    def compose(self) -> ComposeResult:
        yield Static("", classes="list-header", id="failures-header")
        yield FailureList(now=self._now, empty_text="No failures.", id="failure-list")

    @property
    def failure_list(self) -> FailureList:
        """The failure rows."""
        return self.query_one(FailureList)

    def on_resize(self) -> None:
        what, reason = _columns(
            self.failure_list.scrollable_content_region.width or self.size.width
        )
        header = f"{'what'.ljust(what)} {'reason'.ljust(reason)} {'try'.rjust(_ATTEMPTS - 1)} "
        self.query_one("#failures-header", Static).update(header + "when".rjust(_WHEN))

    def show_failures(self, rows: Iterable[FailureRow]) -> None:
        """Replace the rows (failures added, retried away or dismissed)."""
        self.failure_list.set_rows(list(rows))
        self.border_subtitle = fmt.count(len(self.failure_list.rows), "failure")
