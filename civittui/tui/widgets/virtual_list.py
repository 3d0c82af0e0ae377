"""A keyboard-driven list that renders only its visible rows (Line API over a Python list).

`DataTable` recomputes every row's offset on each update and `ListView` mounts a widget per row;
both stall past a few thousand rows. This widget keeps the rows in a plain list, sets
`virtual_size` to (width, len(rows)), renders one line per `render_line` call from an LRU cache,
and repaints only the rows the caller says changed.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import ClassVar, Generic, TypeVar

from rich.segment import Segment
from rich.text import Text
from textual import events
from textual.binding import Binding, BindingType
from textual.cache import LRUCache
from textual.geometry import Region, Size
from textual.message import Message
from textual.reactive import var
from textual.scroll_view import ScrollView
from textual.strip import Strip

from civittui.textsafe import display_text

__all__ = ["VirtualList"]

RowT = TypeVar("RowT")


class VirtualList(ScrollView, Generic[RowT], can_focus=True):
    """A scrolling list of rows with a cursor; subclasses say how a row looks.

    Subclasses implement `row_key` (a stable identity, so the cursor follows its row when the
    list changes) and `render_row` (the row as one line of rich `Text`).
    """

    DEFAULT_CSS = """
    VirtualList {
        overflow-x: hidden;
        overflow-y: auto;
        height: 1fr;
    }
    """

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "virtual-list--cursor",
        "virtual-list--cursor-blurred",
        "virtual-list--empty",
    }

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up", "cursor(-1)", "Up", show=False, id="list.up", tooltip="Previous row"),
        Binding("down", "cursor(1)", "Down", show=False, id="list.down", tooltip="Next row"),
        Binding("pageup", "page(-1)", "Page up", show=False, id="list.pageup", tooltip="Page up"),
        Binding(
            "pagedown", "page(1)", "Page down", show=False, id="list.pagedown", tooltip="Page down"
        ),
        Binding("home", "first", "First", show=False, id="list.home", tooltip="First row"),
        Binding("end", "last", "Last", show=False, id="list.end", tooltip="Last row"),
    ]

    cursor: var[int] = var(0, init=False)
    """Index of the highlighted row."""

    class Highlighted(Message):
        """The cursor moved to another row."""

        def __init__(self, virtual_list: VirtualList[object], index: int) -> None:
            super().__init__()
            self.virtual_list = virtual_list
            """The list whose cursor moved."""
            self.index = index
            """The new cursor index."""

        @property
        def control(self) -> VirtualList[object]:
            """The list that sent the message (for `@on(..., "#id")`)."""
            return self.virtual_list

    def __init__(
        self,
        *,
        empty_text: str = "",
        cache_size: int = 512,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self._rows: list[RowT] = []
        self._index: dict[str, int] = {}
        self._cache: LRUCache[int, Strip] = LRUCache(cache_size)
        self._cache_width = 0
        self.empty_text = empty_text
        """Shown (dimmed) on the first line while the list is empty."""

    # -- what subclasses provide ---------------------------------------------------------------

    def row_key(self, row: RowT) -> str:
        """A stable identity of `row` (the cursor follows it when rows are replaced)."""
        return str(id(row))

    def render_row(self, row: RowT, width: int) -> Text:
        """The row as one line of text; it is cropped or padded to `width`."""
        return Text(str(row))

    # -- data ----------------------------------------------------------------------------------

    @property
    def rows(self) -> Sequence[RowT]:
        """The rows in display order (read-only view; change them with `set_rows`)."""
        return self._rows

    @property
    def highlighted(self) -> RowT | None:
        """The row under the cursor, or None when the list is empty."""
        if 0 <= self.cursor < len(self._rows):
            return self._rows[self.cursor]
        return None

    def index_of(self, key: str) -> int | None:
        """Index of the row with `key`, or None."""
        return self._index.get(key)

    def set_rows(self, rows: Iterable[RowT]) -> None:
        """Replace every row; the cursor stays on the same row (by key) when it still exists.

        Args:
            rows: the new rows in display order; the list takes ownership.
        """
        current = self.highlighted
        current_key = self.row_key(current) if current is not None else None
        self._rows = rows if isinstance(rows, list) else list(rows)
        self._index = {self.row_key(row): i for i, row in enumerate(self._rows)}
        self._cache.clear()
        self._update_virtual_size()
        new_cursor = self._index.get(current_key, self.cursor) if current_key else self.cursor
        new_cursor = max(0, min(new_cursor, len(self._rows) - 1))
        if new_cursor != self.cursor:
            self.cursor = new_cursor
        else:
            self._scroll_cursor_into_view()
            self.post_message(self.Highlighted(self, self.cursor))  # type: ignore[arg-type]
        self.refresh()

    def refresh_keys(self, keys: Iterable[str]) -> None:
        """Repaint the rows with these keys (their objects were replaced in place or changed).

        Args:
            keys: row keys; unknown keys are ignored.
        """
        for key in keys:
            index = self._index.get(key)
            if index is not None:
                self.refresh_row(index)

    def replace_row(self, index: int, row: RowT) -> None:
        """Put a new object for the row at `index` (same key) and repaint it."""
        self._rows[index] = row
        self.refresh_row(index)

    def refresh_row(self, index: int) -> None:
        """Repaint one row."""
        self._cache.discard(index)
        self.refresh_lines(index)

    def clear_cache(self) -> None:
        """Forget every rendered line (the look of all rows changed) and repaint."""
        self._cache.clear()
        self.refresh()

    # -- cursor --------------------------------------------------------------------------------

    def validate_cursor(self, value: int) -> int:
        return max(0, min(value, len(self._rows) - 1)) if self._rows else 0

    def watch_cursor(self, old: int, new: int) -> None:
        self.refresh_row(old)
        self.refresh_row(new)
        self._scroll_cursor_into_view()
        self.post_message(self.Highlighted(self, new))  # type: ignore[arg-type]

    def action_cursor(self, delta: int) -> None:
        """Move the cursor by `delta` rows."""
        self.cursor += delta

    def action_page(self, direction: int) -> None:
        """Move the cursor by one screen of rows."""
        self.cursor += direction * max(1, self.scrollable_content_region.height - 1)

    def action_first(self) -> None:
        """Move to the first row."""
        self.cursor = 0

    def action_last(self) -> None:
        """Move to the last row."""
        self.cursor = len(self._rows) - 1

    def _scroll_cursor_into_view(self) -> None:
        if self._rows and self.is_mounted:
            width = self.scrollable_content_region.width
            self.scroll_to_region(Region(0, self.cursor, width, 1), animate=False, force=True)

    async def _on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        if offset is not None:
            self.cursor = offset.y + self.scroll_offset.y

    def _on_focus(self, event: events.Focus) -> None:
        self.refresh_row(self.cursor)

    def _on_blur(self, event: events.Blur) -> None:
        self.refresh_row(self.cursor)

    # -- rendering -----------------------------------------------------------------------------

    def _update_virtual_size(self) -> None:
        self.virtual_size = Size(self.scrollable_content_region.width, len(self._rows))

    def _on_resize(self, event: events.Resize) -> None:
        self._update_virtual_size()

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._cache.clear()

    def render_line(self, y: int) -> Strip:
        """One visible line: row `y + scroll_offset.y`, from the cache when possible."""
        index = y + self.scroll_offset.y
        width = self.scrollable_content_region.width
        if width != self._cache_width:
            self._cache.clear()
            self._cache_width = width
        base = self.rich_style
        if not self._rows:
            if y == 0 and self.empty_text:
                style = self.get_component_rich_style("virtual-list--empty")
                text = Text(self.empty_text, style=style, end="")
                return self._to_strip(text, width)
            return Strip.blank(width, base)
        if index >= len(self._rows):
            return Strip.blank(width, base)
        if index == self.cursor:
            name = "virtual-list--cursor" if self.has_focus else "virtual-list--cursor-blurred"
            text = self.render_row(self._rows[index], width)
            text.stylize(self.get_component_rich_style(name))
            return self._to_strip(text, width)
        strip = self._cache.get(index)
        if strip is None:
            strip = self._to_strip(self.render_row(self._rows[index], width), width)
            self._cache[index] = strip
        return strip

    def _to_strip(self, text: Text, width: int) -> Strip:
        text.end = ""
        text.no_wrap = True
        text.truncate(width, overflow="ellipsis", pad=True)
        # Every row shows server text (names, reasons, prompts): nothing in it may reach the
        # terminal as a control or bidi character, whichever list drew it.
        segments = [
            Segment(display_text(segment.text), segment.style)
            for segment in text.render(self.app.console)
        ]
        strip = Strip(segments)
        return strip.apply_style(self.rich_style).crop_extend(0, width, self.rich_style)
