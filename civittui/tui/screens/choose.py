"""Pick one of a few choices (a filter category) in a modal list."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import OptionList, Static

from civittui.textsafe import display_text

__all__ = ["ChooseScreen"]


class ChooseScreen(ModalScreen[str | None]):
    """A titled option list; dismisses with the chosen option or None (Escape).

    Args:
        title: the question.
        choices: the options, shown and returned as given.
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="choose.cancel", tooltip="Close without choosing"),
    ]

    def __init__(self, title: str, choices: Sequence[str]) -> None:
        super().__init__()
        self._title = title
        self._choices = list(choices)

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(display_text(self._title), classes="dialog-title", markup=False)
            yield OptionList(*(Content(display_text(c)) for c in self._choices), id="choices")

    @on(OptionList.OptionSelected)
    def _selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(self._choices[event.option_index])

    def action_cancel(self) -> None:
        """Close without a choice."""
        self.dismiss(None)
