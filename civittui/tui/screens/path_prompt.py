"""A modal asking for a file path (the batch file of URLs)."""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Static

from civittui.textsafe import display_text
from civittui.tui.widgets.safe_input import SafeInput

__all__ = ["PathPrompt"]


class PathPrompt(ModalScreen[str | None]):
    """Ask for a path; the caller's `check` turns it into an error message or None (accepted).

    The dialog stays open with the error shown under the input until `check` accepts the path
    or the user presses Escape.

    Args:
        title: what the path is for.
        check: called with the typed path; returns an error message, or None when it was used.
        placeholder: hint inside the empty input.
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="path.cancel", tooltip="Close without loading"),
    ]

    def __init__(
        self, title: str, check: Callable[[str], str | None], *, placeholder: str = ""
    ) -> None:
        super().__init__()
        self._title = title
        self._check = check
        self._placeholder = placeholder

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(display_text(self._title), classes="dialog-title", markup=False)
            yield SafeInput(placeholder=self._placeholder, id="path")
            yield Static("", id="path-error", classes="url-error", markup=False)

    def on_mount(self) -> None:
        self.query_one("#path-error").display = False

    @on(Input.Submitted, "#path")
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        path = event.value.strip()
        if not path:
            return
        error = self._check(path)
        if error is None:
            self.dismiss(path)
            return
        message = self.query_one("#path-error", Static)
        message.update(display_text(error))
        message.display = True

    def action_cancel(self) -> None:
        """Close without a path."""
        self.dismiss(None)
