"""The Queue pane: a URL box and the list of targets with their status and counts."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import ClassVar

from rich.text import Text
from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import Input, Static

from civittui.events import TargetStatus, TargetUpdated
from civittui.textsafe import display_text
from civittui.tui import fmt
from civittui.tui.widgets.safe_input import SafeInput
from civittui.tui.widgets.virtual_list import VirtualList

__all__ = ["QueuePane", "TargetList", "UrlInput"]

_STATUS_WIDTH = 11
_COUNTS_WIDTH = 17
_SIZE_WIDTH = 19
_LEFT_WIDTH = 8
_SIZES_FROM = 96  # narrower lists leave the size column out: the name needs the room


def header_text(width: int) -> str:
    """The column titles over a list `width` cells wide."""
    sizes = "size done/known".rjust(_SIZE_WIDTH) if width >= _SIZES_FROM else ""
    return (
        "status".ljust(_STATUS_WIDTH)
        + "done/fail/found".rjust(_COUNTS_WIDTH - 2)
        + sizes
        + "left".rjust(_LEFT_WIDTH)
        + "  name"
    )


def size_text(row: TargetUpdated) -> str:
    """`1.5 MiB/12.0 GiB`: bytes on disk of the bytes known so far (`-` before any is known)."""
    if not row.bytes_found and not row.bytes_done:
        return "-"
    return f"{fmt.size(row.bytes_done)}/{fmt.size(row.bytes_found)}"


def left_text(row: TargetUpdated) -> str:
    """Items still to come (`…` while the crawl may find more, blank when none)."""
    left = max(0, row.found - row.done - row.failed)
    more = "…" if row.status in (TargetStatus.QUEUED, TargetStatus.CRAWLING) else ""
    return f"{left:,}{more}" if left else more


class TargetList(VirtualList[TargetUpdated]):
    """The queued targets: status, done/failed/found, URL."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {f"target--{status}" for status in TargetStatus} | {
        "target--counts",
        "target--error",
        "target--url",
    }

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "x,delete",
            "remove",
            "Remove",
            id="queue.remove",
            tooltip="Remove the selected target from the queue",
        ),
        Binding(
            "shift+up,minus",
            "move(-1)",
            "Move up",
            key_display="⇧↑",
            id="queue.move_up",
            tooltip="Move the selected target earlier in the queue",
        ),
        Binding(
            "shift+down,plus,equals_sign",
            "move(1)",
            "Move down",
            key_display="⇧↓",
            id="queue.move_down",
            tooltip="Move the selected target later in the queue",
        ),
        Binding(
            "c",
            "clear_finished",
            "Clear done",
            id="queue.clear_finished",
            tooltip="Remove every finished target from the queue (its files stay)",
        ),
    ]

    class RemoveRequested(Message):
        """The user asked to remove a target."""

        def __init__(self, key: str) -> None:
            super().__init__()
            self.key = key
            """The target key."""

    class ClearFinishedRequested(Message):
        """The user asked to take every finished target out of the queue."""

    class MoveRequested(Message):
        """The user asked to move a target."""

        def __init__(self, key: str, delta: int) -> None:
            super().__init__()
            self.key = key
            """The target key."""
            self.delta = delta
            """-1 = one place earlier, +1 = one place later."""

    _note_of: Callable[[str], str] | None = None

    def set_note_source(self, note_of: Callable[[str], str]) -> None:
        """Where a short note after a target's URL comes from (sync: `3 new`)."""
        self._note_of = note_of

    def row_key(self, row: TargetUpdated) -> str:
        return row.key

    def render_row(self, row: TargetUpdated, width: int) -> Text:
        status = row.status.value
        text = Text(no_wrap=True, end="")
        text.append(status.ljust(_STATUS_WIDTH), self.get_component_rich_style(f"target--{status}"))
        counts = f"{row.done}/{row.failed}/{row.found}"
        counts_style = self.get_component_rich_style("target--counts")
        text.append(counts.rjust(_COUNTS_WIDTH - 2) + "  ", counts_style)
        if width >= _SIZES_FROM:
            text.append(size_text(row).rjust(_SIZE_WIDTH - 2) + "  ", counts_style)
        text.append(left_text(row).rjust(_LEFT_WIDTH - 2) + "  ", counts_style)
        if row.name:  # a server's name: shown as written, never parsed
            text.append(display_text(row.name))
            text.append(f"  {row.url}", self.get_component_rich_style("target--url"))
        else:
            text.append(row.url)
        chosen = row.choices.describe()
        if chosen:  # what of the URL is mirrored: `latest · SafeTensor pruned · LORA`
            text.append(f"  [{chosen}]", counts_style)
        note = self._note_of(row.key) if self._note_of is not None else ""
        if note:
            text.append(f"  {note}", counts_style)
        if row.error:
            text.append(f"  {row.error}", self.get_component_rich_style("target--error"))
        return text

    def action_remove(self) -> None:
        """Ask to remove the highlighted target."""
        row = self.highlighted
        if row is not None:
            self.post_message(self.RemoveRequested(row.key))

    def action_clear_finished(self) -> None:
        """Ask to remove every finished target."""
        self.post_message(self.ClearFinishedRequested())

    def action_move(self, delta: int) -> None:
        """Ask to move the highlighted target; the cursor follows it."""
        row = self.highlighted
        if row is not None:
            self.post_message(self.MoveRequested(row.key, delta))


class UrlInput(SafeInput):
    """The URL box. A paste of several lines queues every line (`Input` keeps the first)."""

    class LinesPasted(Message):
        """Text of more than one line was pasted into the URL box."""

        def __init__(self, text: str) -> None:
            super().__init__()
            self.text = text
            """The pasted text, every line of it."""

    def _on_paste(self, event: events.Paste) -> None:
        if len(event.text.strip().splitlines()) > 1:
            event.prevent_default()  # `Input._on_paste` would keep line 1 and drop the rest
            event.stop()
            self.post_message(self.LinesPasted(event.text))
        # else Textual goes on to `SafeInput._on_paste`, then `Input._on_paste` (the MRO)


class QueuePane(Vertical):
    """URL input on top, the targets below; the input has focus when the app starts."""

    BORDER_TITLE = "Queue"
    ALLOW_MAXIMIZE = True

    class UrlSubmitted(Message):
        """The user pressed Enter in the URL box."""

        def __init__(self, text: str) -> None:
            super().__init__()
            self.text = text
            """What was typed or pasted (may hold several URLs separated by spaces)."""

    def compose(self) -> ComposeResult:
        yield UrlInput(
            placeholder="Paste a CivitAI URL and press Enter",
            id="url",
            classes="url-input",
        )
        yield Static("", id="url-error", classes="url-error", markup=False)
        yield Static(Text(header_text(0)), id="queue-header", classes="list-header")
        yield TargetList(empty_text="Nothing queued yet.", id="targets")

    @property
    def target_list(self) -> TargetList:
        """The target list."""
        return self.query_one(TargetList)

    @property
    def url_input(self) -> Input:
        """The URL box."""
        return self.query_one("#url", Input)

    @on(Input.Submitted, "#url")
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if event.value.strip():
            self.post_message(self.UrlSubmitted(event.value))

    @on(Input.Changed, "#url")
    def _changed(self, event: Input.Changed) -> None:
        self.show_error(None)

    def show_error(self, message: str | None) -> None:
        """Show a one-line error under the URL box (None hides it)."""
        error = self.query_one("#url-error", Static)
        error.update(display_text(message or ""))
        error.display = bool(message)

    def accept_input(self) -> None:
        """Clear the URL box after its URLs were queued."""
        self.url_input.value = ""
        self.show_error(None)

    def on_mount(self) -> None:
        self.show_error(None)

    def on_resize(self) -> None:
        header = self.query_one("#queue-header", Static)
        header.update(Text(header_text(self.content_size.width)))

    def show_targets(self, targets: Iterable[TargetUpdated]) -> None:
        """Replace the rows (the queue changed shape)."""
        self.target_list.set_rows(list(targets))

    def update_targets(self, targets: Iterable[TargetUpdated]) -> None:
        """Repaint changed targets in place."""
        target_list = self.target_list
        for target in targets:
            index = target_list.index_of(target.key)
            if index is not None:
                target_list.replace_row(index, target)
