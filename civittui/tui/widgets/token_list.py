"""The token view: frequent prompt tokens with their filter category."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.binding import Binding, BindingType
from textual.message import Message

from civittui.prompts.filters import FilterSet
from civittui.prompts.tools import TokenCount
from civittui.tui.widgets.prompt_list import CATEGORY_CLASSES, category_styles
from civittui.tui.widgets.virtual_list import VirtualList

__all__ = ["TokenList"]


class TokenList(VirtualList[TokenCount]):
    """Tokens, most frequent first: count, token, category (coloured)."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {*CATEGORY_CLASSES, "token--count", "token--none"}

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "a",
            "add",
            "Add to list",
            id="tokens.add",
            tooltip="Add the selected token to a filter category",
        ),
    ]

    class AddRequested(Message):
        """The user wants `token` added to a filter list."""

        def __init__(self, token: str) -> None:
            super().__init__()
            self.token = token
            """The token's normal form."""

    def __init__(self, filters: FilterSet, *, id: str | None = None) -> None:
        super().__init__(empty_text="Counting tokens…", id=id)
        self.filters = filters

    def set_filters(self, filters: FilterSet) -> None:
        """Recolour with other lists (each token's category is looked up again)."""
        self.filters = filters
        self.set_rows(
            [TokenCount(row.token, row.count, filters.category_of(row.token)) for row in self.rows]
        )

    def row_key(self, row: TokenCount) -> str:
        return row.token

    def render_row(self, row: TokenCount, width: int) -> Text:
        text = Text(no_wrap=True, end="")
        text.append(f"{row.count:>7} ", self.get_component_rich_style("token--count"))
        token_width = max(10, width - 8 - 12)
        text.append(row.token[:token_width].ljust(token_width) + " ")
        if row.category is None:
            text.append("-", self.get_component_rich_style("token--none"))
        else:
            style = category_styles(self.filters).get(row.category, CATEGORY_CLASSES[0])
            text.append(row.category, self.get_component_rich_style(style))
        return text

    def action_add(self) -> None:
        """Ask to add the highlighted token to a category."""
        row = self.highlighted
        if row is not None:
            self.post_message(self.AddRequested(row.token))
