"""The list of saved prompts, each shown with its removed tokens in their category's colour."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import ClassVar

from rich.style import Style
from rich.text import Text

from civittui.prompts.filters import FilterSet
from civittui.prompts.syntax import tokenize
from civittui.tui.prompt_source import PromptEntry
from civittui.tui.widgets.virtual_list import VirtualList

__all__ = ["CATEGORY_CLASSES", "PromptList", "category_styles", "highlight"]

CATEGORY_CLASSES = tuple(f"prompt--category-{n}" for n in range(1, 7))
"""Component classes giving each category its colour, in category order (wrapping after six)."""


def category_styles(filters: FilterSet) -> dict[str, str]:
    """Category -> the component class that colours it."""
    return {
        category: CATEGORY_CLASSES[index % len(CATEGORY_CLASSES)]
        for index, category in enumerate(filters.categories)
    }


def highlight(
    prompt: str,
    filters: FilterSet,
    enabled: Collection[str],
    styles: Mapping[str, Style],
) -> Text:
    """The prompt as written, each token an enabled list removes styled in its category's style.

    Args:
        prompt: the original prompt.
        filters: the compiled lists.
        enabled: the categories currently switched on.
        styles: category -> rich style.
    """
    text = Text(prompt, no_wrap=False, end="")
    for token in tokenize(prompt):
        category = filters.category_of(token.text)
        if category is not None and category in enabled:
            text.stylize(styles.get(category, Style(strike=True)), token.start, token.end)
    return text


class PromptList(VirtualList[PromptEntry]):
    """Saved prompts, newest first: image id, user, and the prompt on one line."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {*CATEGORY_CLASSES, "prompt--id", "prompt--user"}

    def __init__(self, filters: FilterSet, *, id: str | None = None) -> None:
        super().__init__(empty_text="No saved prompts yet.", id=id)
        self.filters = filters
        """The lists the rows are highlighted with (replace with `set_filters`)."""
        self.enabled: frozenset[str] = frozenset(filters.categories)
        """Categories switched on."""
        self._style_cache: dict[str, Style] | None = None

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._style_cache = None

    def _styles(self) -> dict[str, Style]:
        if self._style_cache is None:
            self._style_cache = self.category_rich_styles()
        return self._style_cache

    def set_filters(self, filters: FilterSet, enabled: Collection[str]) -> None:
        """Use other lists or categories: every row re-renders at once."""
        self.filters = filters
        self.enabled = frozenset(enabled)
        self._style_cache = None
        self.clear_cache()

    def category_rich_styles(self) -> dict[str, Style]:
        """Category -> the rich style of its component class."""
        return {
            category: self.get_component_rich_style(name)
            for category, name in category_styles(self.filters).items()
        }

    def row_key(self, row: PromptEntry) -> str:
        return str(row.image_id)

    def render_row(self, row: PromptEntry, width: int) -> Text:
        text = Text(no_wrap=True, end="")
        text.append(f"{row.image_id} ", self.get_component_rich_style("prompt--id"))
        if width >= 70:  # room for the user beside the prompt
            text.append(f"{row.username[:12]:<12} ", self.get_component_rich_style("prompt--user"))
        marked = highlight(row.prompt, self.filters, self.enabled, self._styles())
        # One line: line breaks become spaces of the same length, so the spans stay aligned.
        flat = marked.plain.replace("\r", " ").replace("\n", " ")
        text.append_text(Text(flat, spans=marked.spans, end=""))
        return text
