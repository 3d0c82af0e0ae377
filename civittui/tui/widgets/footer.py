"""The footer: the keys of the focused pane on one line, drawn by one widget.

Textual's `Footer` holds one widget per key and rebuilds them all (unmount, mount, lay the
screen out again) at every focus change, several times for one pane switch: two thirds of a
switch's 150-200 ms. This footer only re-renders its line, and only when the keys it shows
changed.
"""

from __future__ import annotations

from typing import ClassVar

from rich.style import Style
from rich.text import Text
from textual import events
from textual.app import RenderResult
from textual.screen import Screen
from textual.widget import Widget

__all__ = ["KeyFooter"]

_Shown = tuple[tuple[str, str, str, bool], ...]
"""(key, key as shown, description, enabled) of each key on the line."""


class KeyFooter(Widget):
    """The active keys (one per action), with the command palette's key on the right."""

    ALLOW_SELECT = False
    COMPONENT_CLASSES: ClassVar[set[str]] = {"key-footer--key", "key-footer--description"}
    DEFAULT_CSS = """
    KeyFooter {
        dock: bottom;
        height: 1;
        color: $footer-foreground;
        background: $footer-background;
        & > .key-footer--key {
            color: $footer-key-foreground;
            background: $footer-key-background;
            text-style: bold;
        }
        & > .key-footer--description {
            color: $footer-description-foreground;
            background: $footer-description-background;
        }
    }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._shown: _Shown = ()
        self._palette: tuple[str, str, str] | None = None
        self._spans: list[tuple[int, int, str]] = []
        """(first cell, end cell, key) of each key on the line, for clicks."""
        self.rendered: _Shown = ()
        """The keys of the last line drawn: (key, key as shown, description, enabled)."""

    def on_mount(self) -> None:
        self.screen.bindings_updated_signal.subscribe(self, self._bindings_changed)

    def on_unmount(self) -> None:
        self.screen.bindings_updated_signal.unsubscribe(self)

    def _bindings_changed(self, screen: Screen[object]) -> None:
        if screen is not self.screen:
            return
        palette_key = self.app.COMMAND_PALETTE_BINDING
        shown: list[tuple[str, str, str, bool]] = []
        actions: set[str] = set()
        palette: tuple[str, str, str] | None = None
        for binding, enabled in (
            (active.binding, active.enabled) for active in screen.active_bindings.values()
        ):
            if binding.key == palette_key and self.app.ENABLE_COMMAND_PALETTE:
                palette = (binding.key, self.app.get_key_display(binding), binding.description)
                continue
            if not binding.show or binding.action in actions:
                continue
            actions.add(binding.action)
            display = self.app.get_key_display(binding)
            shown.append((binding.key, display, binding.description, enabled))
        if tuple(shown) != self._shown or palette != self._palette:
            self._shown, self._palette = tuple(shown), palette
            self.refresh()

    def render(self) -> RenderResult:
        key_style = self.get_component_rich_style("key-footer--key")
        text_style = self.get_component_rich_style("key-footer--description")
        width = self.size.width
        palette = Text(no_wrap=True, end="")
        if self._palette is not None:  # on the right, always: the way to every other command
            _, display, description = self._palette
            palette.append("▏")
            palette.append(display, key_style)
            palette.append(f" {description}", text_style)
        room = max(0, width - palette.cell_len - 1)
        line = Text(no_wrap=True, overflow="crop", end="")
        spans: list[tuple[int, int, str]] = []
        for key, display, description, enabled in self._shown:
            start = line.cell_len
            if start >= room:
                break
            line.append(display, key_style if enabled else key_style + Style(dim=True))
            if description:
                line.append(f" {description}", text_style)
            spans.append((start, min(line.cell_len, room), key))
            line.append(" ")
        line.truncate(room, pad=True)
        if self._palette is not None and palette.cell_len < width:
            line.append(" ")
            spans.append((line.cell_len, line.cell_len + palette.cell_len, self._palette[0]))
            line.append_text(palette)
        self._spans = spans
        self.rendered = self._shown
        return line

    def on_mouse_down(self, event: events.MouseDown) -> None:
        """A click on a key presses it."""
        for start, end, key in self._spans:
            if start <= event.x < end:
                self.app.simulate_key(key)
                return
