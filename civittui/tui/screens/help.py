"""The `?` help screen: every key binding, grouped by where it works."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

__all__ = ["HelpScreen"]


_KEY_NAMES = {
    "question_mark": "?",
    "slash": "/",
    "minus": "-",
    "plus": "+",
    "equals_sign": "=",
    "delete": "del",
    "enter": "⏎",
}


def _key_label(binding: Binding) -> str:
    keys = [key.strip() for key in binding.key.split(",")]
    if binding.key_display:
        keys[0] = binding.key_display
    return " / ".join(_KEY_NAMES.get(key, key) for key in keys)


class HelpScreen(ModalScreen[None]):
    """A modal listing the key bindings of each part of the app.

    Args:
        sections: (title, bindings) pairs, e.g. ("Anywhere", App.BINDINGS).
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,question_mark", "close", "Close", id="help.close", tooltip="Close help"),
    ]

    def __init__(self, sections: Sequence[tuple[str, Sequence[BindingType]]]) -> None:
        super().__init__()
        self._sections = sections

    def compose(self) -> ComposeResult:
        with Vertical(id="help-dialog", classes="dialog"):
            yield Static("civittui — keys", classes="dialog-title")
            with VerticalScroll():
                yield Static(self._table(), id="help-table")
            yield Static("Every action is also in the command palette (ctrl+p).", classes="hint")

    def rows(self) -> list[tuple[str, str, str]]:
        """(section, keys, what it does) for every binding with a description."""
        return [
            (title, _key_label(binding), binding.tooltip or binding.description)
            for title, bindings in self._sections
            for binding in bindings
            if isinstance(binding, Binding) and binding.description
        ]

    def _table(self) -> Table:
        table = Table.grid(padding=(0, 2))
        table.add_column(justify="right", style="bold")
        table.add_column()
        section = None
        for title, keys, what in self.rows():
            if title != section:
                if section is not None:
                    table.add_row("", "")
                table.add_row(Text(title, style="underline"), "")
                section = title
            table.add_row(keys, what)
        return table

    def action_close(self) -> None:
        """Close the help screen."""
        self.dismiss(None)
