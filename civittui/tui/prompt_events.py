"""The Prompts pane's messages, handed to the app's `PromptController`.

A base class of `CivittuiApp` (Textual collects `@on` handlers class by class along the MRO), so
the app module stays about the app.
"""

from __future__ import annotations

from textual import on
from textual.app import App

from civittui.tui.prompt_controller import (
    PromptController,
    PromptsAppended,
    PromptsLoaded,
    TokensCounted,
)
from civittui.tui.widgets.filter_editor import FilterEditor
from civittui.tui.widgets.prompts import PromptsPane
from civittui.tui.widgets.token_list import TokenList

__all__ = ["PromptEvents"]


class PromptEvents(App[int]):
    """Prompt browsing, copying, opening and list editing, as the pane asks for them."""

    prompt_actions: PromptController

    @on(PromptsLoaded)
    def _prompts_loaded(self, message: PromptsLoaded) -> None:
        self.query_one(PromptsPane).set_entries(message.entries)

    @on(PromptsAppended)
    def _prompts_appended(self, message: PromptsAppended) -> None:
        self.query_one(PromptsPane).add_entries(message.entries)

    @on(PromptsPane.CopyRequested)
    def _copy_requested(self, event: PromptsPane.CopyRequested) -> None:
        self.prompt_actions.copy(event.what, event.entry, event.filtered)

    @on(PromptsPane.OpenRequested)
    def _open_requested(self, event: PromptsPane.OpenRequested) -> None:
        self.prompt_actions.open(event.what, event.entry)

    @on(TokensCounted)
    def _tokens_counted(self, message: TokensCounted) -> None:
        self.query_one(PromptsPane).set_tokens(message.counts)

    @on(PromptsPane.TokensRequested)
    def _tokens_requested(self) -> None:
        self.prompt_actions.count_tokens()

    @on(PromptsPane.CategoriesChanged)
    def _categories_changed(self, event: PromptsPane.CategoriesChanged) -> None:
        self.prompt_actions.remember_categories(event.enabled)

    @on(PromptsPane.EditRequested)
    def _edit_requested(self) -> None:
        self.prompt_actions.choose_list_to_edit()

    @on(FilterEditor.SaveRequested)
    def _save_list(self, event: FilterEditor.SaveRequested) -> None:
        self.prompt_actions.save_list(event.category, event.text)

    @on(TokenList.AddRequested)
    def _add_token(self, event: TokenList.AddRequested) -> None:
        self.prompt_actions.add_token(event.token)

    def action_reload_prompts(self) -> None:
        """Read the saved prompts and token counts again (new downloads appear)."""
        self.prompt_actions.load_prompts()
        self.prompt_actions.count_tokens()
