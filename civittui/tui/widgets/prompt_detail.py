"""The selected prompt: original with removed tokens marked, filtered result, settings, image."""

from __future__ import annotations

from collections.abc import Collection, Mapping

from rich.style import Style
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Static

from civittui.prompts.filters import FilterSet
from civittui.textsafe import display_text
from civittui.tui.prompt_source import PromptEntry
from civittui.tui.widgets.prompt_list import highlight
from civittui.tui.widgets.thumbnail import Thumbnail

__all__ = ["PromptDetail"]

_SETTINGS: tuple[tuple[tuple[str, ...], str], ...] = (
    (("seed",), "seed"),
    (("steps",), "steps"),
    (("sampler",), "sampler"),
    (("cfgScale",), "cfg"),
    (("Model",), "model"),
    # A1111's infotext says "Clip skip"; CivitAI's own generator writes `clipSkip`.
    (("clipSkip", "Clip skip"), "clip skip"),
)
"""Setting labels and the `meta` keys that carry them, first present wins."""

_VALUE_CHARS = 120
"""A setting is one line: longer values are cut (the whole `meta` is in the sidecar)."""


def setting_value(value: object) -> str:
    """One line for a `meta` value: an object by its name (ComfyUI uploads give `Model` as
    `{"name": …, "hash": …}`), a list by its items, anything else as text."""
    if isinstance(value, Mapping):
        named = next((value[k] for k in ("name", "title") if value.get(k) not in (None, "")), None)
        text = (
            str(named)
            if named is not None
            else ", ".join(f"{k}: {v}" for k, v in value.items() if v not in (None, ""))
        )
    elif isinstance(value, list):
        text = ", ".join(setting_value(item) for item in value)
    else:
        text = str(value)
    text = display_text(text)
    return text if len(text) <= _VALUE_CHARS else text[: _VALUE_CHARS - 1] + "…"


def settings_text(entry: PromptEntry) -> Text:
    """The image's generation settings, one `label value` a line."""
    rows: list[tuple[str, str]] = []
    if entry.width and entry.height:
        rows.append(("size", f"{entry.width}×{entry.height}"))
    for keys, label in _SETTINGS:
        value = next((entry.meta[k] for k in keys if entry.meta.get(k) not in (None, "")), None)
        if value is not None and (shown := setting_value(value)):
            rows.append((label, shown))
    rows.append(("user", entry.username or "-"))
    rows.append(("posted", entry.created_at[:10] or "-"))
    text = Text(end="")
    for index, (label, value) in enumerate(rows):
        text.append(f"{label:<10}", style="bold")
        text.append(value + ("\n" if index < len(rows) - 1 else ""))
    return text


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
            colour = styles.get(category, Style()).color
            removed.append(f"{category}: ", Style(color=colour, bold=True))
            removed.append(", ".join(tokens) + "  ")
        removed_line.update(removed or Text("nothing removed", style="dim"))
        negative.update(Text(entry.negative or "-"))
        settings.update(settings_text(entry))
        self.query_one(Thumbnail).show(entry)
