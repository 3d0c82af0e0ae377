"""An `Input` whose pasted text cannot carry terminal controls onto the screen.

`Input` shows what was pasted as-is, so a copied prompt holding `ESC ] 52` or a bidi override
would reach the terminal the moment the box repaints. Keys typed cannot produce them.
"""

from __future__ import annotations

from textual import events
from textual.widgets import Input

from civittui.textsafe import display_text

__all__ = ["SafeInput"]


class SafeInput(Input):
    """`Input` that keeps the first line of a paste, with controls and bidi removed."""

    def _on_paste(self, event: events.Paste) -> None:
        lines = event.text.splitlines()
        clean = display_text(lines[0]) if lines else ""
        if clean == event.text:
            return  # nothing to change: `Input._on_paste` inserts it
        event.prevent_default()
        event.stop()
        selection = self.selection
        if selection.is_empty:
            self.insert_text_at_cursor(clean)
        else:
            self.replace(clean, *selection)
