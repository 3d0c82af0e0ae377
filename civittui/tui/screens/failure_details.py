"""Details of one failure: the full error, where it came from, and what to do about it."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from civittui.engine.items import FileItem, Item, MetaItem
from civittui.events import ItemFailed
from civittui.textsafe import display_text

__all__ = ["FailureDetails", "hint_for", "kind_of", "page_url"]


def page_url(api_base: str, key: str, item: Item | None = None) -> str | None:
    """The CivitAI page of an item: `/images/5`, or its model's page at its version."""
    kind, _, ident = key.partition(":")
    if kind == "image" and ident.isdigit():
        return f"{api_base}/images/{ident}"
    if isinstance(item, FileItem | MetaItem):
        model_id, version_id = item.model.get("id"), item.version.get("id")
        if isinstance(model_id, int) and isinstance(version_id, int):
            return f"{api_base}/models/{model_id}?modelVersionId={version_id}"
    if kind == "meta" and ident.isdigit():
        return f"{api_base}/model-versions/{ident}"
    return None


def _bad_bytes(reason: str) -> bool:
    """The server sent the wrong bytes: fetching again brings the same ones."""
    lowered = reason.lower()
    return "mismatch" in lowered or "not a safetensors file" in lowered


def _disk_trouble(reason: str) -> bool:
    lowered = reason.lower()
    return any(
        word in lowered for word in ("no space", "disk", "errno 28", "read-only", "permission")
    )


def kind_of(event: ItemFailed) -> str:
    """`permanent`, `retryable`, or why retrying is unlikely to help."""
    if event.permanent:
        return "permanent"
    if _bad_bytes(event.reason):
        return "bad file on CivitAI: a retry fetches the same bytes"
    if event.attempts >= 3:
        return f"retryable, but it failed {event.attempts} times"
    return "retryable"


def hint_for(event: ItemFailed, now: datetime) -> str:
    """What a person can do about a failure, in one or two sentences."""
    status = event.http_status
    if event.retry_at is not None and event.retry_at.replace(tzinfo=None) > now.replace(
        tzinfo=None
    ):
        return (
            f"Available from {event.retry_at:%Y-%m-%d %H:%M}; it is retried by itself after that "
            "(or press r then)."
        )
    if status in (401, 403):
        return "CivitAI wants a login: set an API key in Settings (s), restart, then retry (r)."
    if status in (404, 410) or event.permanent:
        return "Gone or archived on CivitAI; retrying will not help. Dismiss it with d."
    if status == 429 or (status is not None and status >= 500):
        return "The server was busy; retry later with r."
    if _bad_bytes(event.reason):
        return (
            "CivitAI serves a file that does not match what it publishes; downloading it again "
            "gets the same bytes. Retry (r) once the creator has re-uploaded it, or dismiss (d)."
        )
    if _disk_trouble(event.reason):
        return "Check free disk space and that the folder is writable, then retry with r."
    return "Retry with r; if it keeps failing, check the network and the error above."


class FailureDetails(ModalScreen[str | None]):
    """A failure's full story; dismisses with `retry`, `dismiss` or None.

    Args:
        event: the failure.
        at: when it failed.
        url: the item's CivitAI page, when known.
        path: where the file was going, when known.
        now: the current time (for the hint).
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q", "close", "Close", id="details.close", tooltip="Close the details"),
        Binding("r", "choose('retry')", "Retry", id="details.retry", tooltip="Retry this item"),
        Binding("d", "choose('dismiss')", "Dismiss", id="details.dismiss", tooltip="Forget it"),
    ]

    def __init__(
        self,
        event: ItemFailed,
        *,
        at: datetime,
        url: str | None,
        path: str | None,
        now: datetime,
    ) -> None:
        super().__init__()
        self._event = event
        self._at = at
        self._url = url
        self._path = path
        self._now = now

    def compose(self) -> ComposeResult:
        event = self._event
        table = Table.grid(padding=(0, 2))
        table.add_column(style="bold", justify="right")
        table.add_column()
        table.add_row("item", Text(display_text(f"{event.name}  ({event.key})")))
        table.add_row("error", Text(display_text(event.reason)))
        table.add_row("HTTP status", str(event.http_status) if event.http_status else "-")
        table.add_row("kind", Text(kind_of(event)))
        table.add_row("attempts", str(event.attempts))
        table.add_row("failed at", f"{self._at:%Y-%m-%d %H:%M:%S}")
        if event.retry_at is not None:
            table.add_row("retry after", f"{event.retry_at:%Y-%m-%d %H:%M}")
        table.add_row("URL", Text(display_text(self._url or "-")))
        table.add_row("file", Text(display_text(self._path or "-")))
        table.add_row("what to do", Text(hint_for(event, self._now)))
        with Vertical(id="failure-details", classes="dialog"):
            yield Static("Failure", classes="dialog-title")
            with VerticalScroll():
                yield Static(table)
            yield Static("r retry · d dismiss · Esc close", classes="hint")

    def action_close(self) -> None:
        """Close without acting."""
        self.dismiss(None)

    def action_choose(self, choice: str) -> None:
        """Close and ask the app to `retry` or `dismiss` the item."""
        self.dismiss(choice)
