"""An editor for one filter list: edit, `ctrl+s` saves, every shown prompt re-renders."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import Static, TextArea

from civittui.textsafe import display_text
from civittui.tui.screens.confirm import ConfirmScreen

__all__ = ["FilterEditor"]


class FilterEditor(Vertical):
    """A text area over one category's list file (the app reads and writes the file)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "ctrl+s",
            "save",
            "Save list",
            id="editor.save",
            tooltip="Save the list; every prompt re-renders with it",
        ),
        Binding("escape", "close", "Close editor", id="editor.close", tooltip="Back to the prompt"),
    ]

    class SaveRequested(Message):
        """The user saved the list."""

        def __init__(self, category: str, text: str) -> None:
            super().__init__()
            self.category = category
            self.text = text

    class CloseRequested(Message):
        """The user closed the editor."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.category: str | None = None
        """The category being edited."""
        self._saved_text = ""

    def compose(self) -> ComposeResult:
        yield Static("", id="editor-title", classes="prompt-label", markup=False)
        yield TextArea("", id="filter-text", soft_wrap=False, show_line_numbers=True)
        yield Static("", id="editor-status", markup=False)

    def open(self, category: str, text: str, where: str) -> None:
        """Load `text` (the list of `category`, saved to `where`) and focus the text."""
        self.category = category
        self.query_one("#editor-title", Static).update(display_text(f"{category} — {where}"))
        area = self.query_one(TextArea)
        area.load_text(text)
        self._saved_text = text
        self.show_status("ctrl+s save · esc close · one term a line, * matches anything")
        area.focus()

    @property
    def text(self) -> str:
        """The text being edited."""
        return self.query_one(TextArea).text

    def show_status(self, message: str, *, error: bool = False) -> None:
        """Show a note (or an error) under the text."""
        status = self.query_one("#editor-status", Static)
        status.update(display_text(message))
        status.set_class(error, "-error")

    def action_save(self) -> None:
        """Ask the app to validate and save the list."""
        if self.category is not None:
            self.post_message(self.SaveRequested(self.category, self.text))

    @property
    def modified(self) -> bool:
        """True when the text differs from what was last opened or saved."""
        return self.text != self._saved_text

    def mark_saved(self, message: str) -> None:
        """The app saved the text: closing no longer asks, and `message` says where."""
        self._saved_text = self.text
        self.show_status(message)

    def action_close(self) -> None:
        """Ask to close the editor; unsaved edits are discarded only when the user says so."""
        if not self.modified:
            self.post_message(self.CloseRequested())
            return

        def answered(discard: bool | None) -> None:
            if discard:
                self.post_message(self.CloseRequested())
            else:
                self.query_one(TextArea).focus()

        question = f"The {self.category} list has unsaved changes.\nDiscard them?"
        self.app.push_screen(ConfirmScreen(question, yes="Discard", no="Keep editing"), answered)
