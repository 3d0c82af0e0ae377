"""The selected prompt: original with removed tokens marked, filtered result, settings, image."""

from __future__ import annotations

from collections.abc import Collection, Mapping

from rich.style import Style
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Static

from civittui.filters import FilterSet
from civittui.tui.prompt_source import PromptEntry
from civittui.tui.widgets.prompt_list import highlight
from civittui.tui.widgets.thumbnail import Thumbnail

__all__ = ["PromptDetail"]

_SETTINGS = (
    ("seed", "seed"),
    ("steps", "steps"),
    ("sampler", "sampler"),
    ("cfgScale", "cfg"),
    ("Model", "model"),
    ("clipSkip", "clip skip"),
)


def settings_table(entry: PromptEntry) -> Table:
    """The image's generation settings as a two-column grid."""
    table = Table.grid(padding=(0, 1))
    table.add_column(style="bold")
    table.add_column()
    if entry.width and entry.height:
        table.add_row("size", f"{entry.width}×{entry.height}")
    for key, label in _SETTINGS:
        value = entry.meta.get(key)
        if value not in (None, ""):
            table.add_row(label, Text(str(value)))
    table.add_row("user", Text(entry.username or "-"))
    table.add_row("posted", entry.created_at[:10] or "-")
    return table


class PromptDetail(VerticalScroll):
    """Original and filtered prompt side by side, the negative prompt, settings and thumbnail.

    Args:
        images: draw real thumbnails (see `thumbnail.images_supported`).
    """

    def __init__(self, *, images: bool = False, id: str | None = None) -> None:
        super().__init__(id=id)
        self._images = images

    def compose(self) -> ComposeResult:
        with Horizontal(classes="prompt-texts"):
            with Vertical(classes="prompt-column"):
                yield Static("original", classes="prompt-label")
                yield Static("", id="prompt-original")
            with Vertical(classes="prompt-column"):
                yield Static("filtered", classes="prompt-label")
                yield Static("", id="prompt-filtered")
        yield Static("", id="prompt-removed")
        yield Static("negative", classes="prompt-label")
        yield Static("", id="prompt-negative")
        with Horizontal(classes="prompt-bottom"):
            yield Static("", id="prompt-settings")
            yield Thumbnail(images=self._images, id="thumbnail")

    def show(
        self,
        entry: PromptEntry | None,
        filters: FilterSet,
        enabled: Collection[str],
        styles: Mapping[str, Style],
    ) -> None:
        """Render `entry` with the current lists (None: nothing selected)."""
        original = self.query_one("#prompt-original", Static)
        filtered = self.query_one("#prompt-filtered", Static)
        removed_line = self.query_one("#prompt-removed", Static)
        negative = self.query_one("#prompt-negative", Static)
        settings = self.query_one("#prompt-settings", Static)
        if entry is None:
            for widget in (original, filtered, removed_line, negative, settings):
                widget.update("")
            self.query_one(Thumbnail).show(None)
            return
        result = filters.apply(entry.prompt, enabled=enabled)
        original.update(highlight(entry.prompt, filters, enabled, styles))
        filtered.update(Text(result.prompt))
        removed = Text()
        for category, tokens in result.removed.items():
            removed.append(f"{category}: ", styles.get(category, Style()))
            removed.append(", ".join(tokens) + "  ")
        removed_line.update(removed or Text("nothing removed", style="dim"))
        negative.update(Text(entry.negative or "-"))
        settings.update(settings_table(entry))
        self.query_one(Thumbnail).show(entry)
