"""The Prompts pane: browse saved prompts, toggle categories, edit lists, the token view."""

from __future__ import annotations

from collections.abc import Collection
from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import Checkbox, ContentSwitcher, Input

from civittui.prompts.filters import FilterSet
from civittui.prompts.tools import TokenCount
from civittui.textsafe import display_text
from civittui.tui.prompt_source import PromptEntry, insert_newest_first, search
from civittui.tui.widgets.filter_editor import FilterEditor
from civittui.tui.widgets.prompt_detail import PromptDetail
from civittui.tui.widgets.prompt_list import PromptList
from civittui.tui.widgets.safe_input import SafeInput
from civittui.tui.widgets.token_list import TokenList

__all__ = ["PromptsPane"]


class PromptsPane(Vertical):
    """Search and category switches on top; the prompt list beside the detail/tokens/editor.

    Args:
        filters: the lists in effect at start.
        images: draw real thumbnails (see `thumbnail.images_supported`).
    """

    BORDER_TITLE = "Prompts"
    ALLOW_MAXIMIZE = True

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("slash", "search", "Search", id="prompts.search", tooltip="Search saved prompts"),
        Binding(
            "t",
            "tokens",
            "Tokens",
            id="prompts.tokens",
            tooltip="Show or hide the most frequent tokens and their categories",
        ),
        Binding(
            "e",
            "edit",
            "Edit list",
            id="prompts.edit",
            tooltip="Edit a filter list; saving re-renders every prompt",
        ),
        Binding("y", "copy('prompt')", "Copy", id="prompts.copy", tooltip="Copy the prompt"),
        Binding(
            "Y",
            "copy('filtered')",
            "Copy filtered",
            id="prompts.copy_filtered",
            tooltip="Copy the filtered prompt (the switched-on lists removed)",
        ),
        Binding(
            "w",
            "copy('triggers')",
            "Copy triggers",
            id="prompts.copy_triggers",
            tooltip="Copy the trigger words of the image's model version",
        ),
        Binding(
            "o",
            "open('page')",
            "Open page",
            id="prompts.open_page",
            tooltip="Open the model's CivitAI page (else the image's) in the browser",
        ),
        Binding(
            "O",
            "open('folder')",
            "Open folder",
            id="prompts.open_folder",
            tooltip="Open the folder the image is saved in",
        ),
    ]

    class CopyRequested(Message):
        """The user asked to copy something of the highlighted prompt."""

        def __init__(self, what: str, entry: PromptEntry, filtered: str) -> None:
            super().__init__()
            self.what = what
            """`prompt`, `filtered` or `triggers`."""
            self.entry = entry
            self.filtered = filtered
            """The prompt with the switched-on lists applied."""

    class OpenRequested(Message):
        """The user asked to open the highlighted prompt's page or folder."""

        def __init__(self, what: str, entry: PromptEntry) -> None:
            super().__init__()
            self.what = what
            """`page` or `folder`."""
            self.entry = entry

    class EditRequested(Message):
        """The user wants to edit a filter list (the app asks which, reads it, opens the editor)."""

    class TokensRequested(Message):
        """The token view opened and has no counts yet."""

    class CategoriesChanged(Message):
        """Categories were switched on or off."""

        def __init__(self, enabled: frozenset[str]) -> None:
            super().__init__()
            self.enabled = enabled

    def __init__(
        self,
        filters: FilterSet,
        *,
        images: bool = False,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(id=id, classes=classes)
        self.filters = filters
        """The compiled lists every row is shown with."""
        self.enabled: frozenset[str] = frozenset(filters.categories)
        """Categories switched on."""
        self.entries: list[PromptEntry] = []
        """Every loaded prompt, newest first."""
        self._known: set[int] = set()
        self._live: dict[int, PromptEntry] = {}
        self._images = images
        self._query = ""
        self._tokens_loaded = False

    def compose(self) -> ComposeResult:
        with Horizontal(id="prompt-controls"):
            yield SafeInput(placeholder="search prompts (/)", id="prompt-search")
            yield Horizontal(id="category-switches")
        with Horizontal(id="prompt-body"):
            yield PromptList(self.filters, id="prompt-list")
            with ContentSwitcher(initial="prompt-detail", id="prompt-side"):
                yield PromptDetail(images=self._images, id="prompt-detail")
                yield TokenList(self.filters, id="token-list")
                yield FilterEditor(id="filter-editor")

    def on_mount(self) -> None:
        self._build_switches()
        self.loading = True

    # -- data pushed down by the app -----------------------------------------------------------

    @property
    def prompt_list(self) -> PromptList:
        """The list of prompts."""
        return self.query_one(PromptList)

    @property
    def editor(self) -> FilterEditor:
        """The list editor."""
        return self.query_one(FilterEditor)

    @property
    def token_list(self) -> TokenList:
        """The token view."""
        return self.query_one(TokenList)

    def set_entries(self, entries: list[PromptEntry]) -> None:
        """Show these prompts (newest first), applying the current search.

        Prompts that arrived live while the disk was read stay listed.
        """
        self.loading = False
        self.entries = entries
        self._known = {entry.image_id for entry in entries}
        insert_newest_first(self.entries, self._live.values(), self._known)
        self._show_search()

    def add_entries(self, entries: list[PromptEntry]) -> None:
        """Add prompts of images that just arrived (the list and the count grow live)."""
        for entry in entries:
            self._live[entry.image_id] = entry
        if entries:
            insert_newest_first(self.entries, entries, self._known)
            self._show_search()

    def set_tokens(self, counts: list[TokenCount]) -> None:
        """Fill the token view."""
        self._tokens_loaded = True
        token_list = self.token_list
        token_list.empty_text = "No tokens: no saved prompts yet."
        token_list.set_rows(counts)

    def set_filters(self, filters: FilterSet) -> None:
        """Use new lists: the list, the detail and the token view re-render at once."""
        known = set(self.filters.categories)
        self.filters = filters
        # New categories start switched on; removed ones are forgotten.
        self.enabled = frozenset(
            c for c in filters.categories if c in self.enabled or c not in known
        )
        if set(filters.categories) != known:
            self._build_switches()
        self._refresh_all()
        self.token_list.set_filters(filters)

    def set_enabled(self, enabled: Collection[str]) -> None:
        """Switch categories on/off (unknown names are ignored)."""
        self.enabled = frozenset(c for c in enabled if c in self.filters.categories)
        for checkbox in self.query(Checkbox):
            checkbox.value = checkbox.name in self.enabled
        self._refresh_all()

    # -- behaviour -------------------------------------------------------------------------------

    def _build_switches(self) -> None:
        switches = self.query_one("#category-switches", Horizontal)
        switches.remove_children()
        switches.mount_all(
            Checkbox(
                category,
                category in self.enabled,
                name=category,
                compact=True,
                classes="category-switch",
                tooltip=f"Remove tokens of the {category} list",
            )
            for category in self.filters.categories
        )

    @on(Checkbox.Changed, ".category-switch")
    def _switched(self, event: Checkbox.Changed) -> None:
        event.stop()
        name = event.checkbox.name or ""
        enabled = set(self.enabled)
        if event.value:
            enabled.add(name)
        else:
            enabled.discard(name)
        if frozenset(enabled) != self.enabled:
            self.enabled = frozenset(enabled)
            self._refresh_all()
            self.post_message(self.CategoriesChanged(self.enabled))

    def _refresh_all(self) -> None:
        self.prompt_list.set_filters(self.filters, self.enabled)
        self._show_detail()

    def _show_search(self) -> None:
        query = self._query.strip()
        self.prompt_list.empty_text = (
            f"No saved prompt matches “{display_text(query)}”."
            if query and self.entries
            else "No saved prompts yet."
        )
        self.prompt_list.set_rows(search(self.entries, self._query))
        self.border_subtitle = f"{len(self.prompt_list.rows)} of {len(self.entries)}"
        self._show_detail()

    def _show_detail(self) -> None:
        prompt_list = self.prompt_list
        self.query_one(PromptDetail).show(
            prompt_list.highlighted, self.filters, self.enabled, prompt_list.category_rich_styles()
        )

    @on(Input.Changed, "#prompt-search")
    def _search_changed(self, event: Input.Changed) -> None:
        event.stop()
        self._query = event.value
        self._show_search()

    @on(Input.Submitted, "#prompt-search")
    def _search_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.prompt_list.focus()

    @on(PromptList.Highlighted, "#prompt-list")
    def _highlighted(self, event: PromptList.Highlighted) -> None:
        event.stop()
        self._show_detail()

    @on(FilterEditor.CloseRequested)
    def _editor_closed(self, event: FilterEditor.CloseRequested) -> None:
        event.stop()
        self.show_side("prompt-detail")
        self.prompt_list.focus()

    def show_side(self, name: str) -> None:
        """Show `prompt-detail`, `token-list` or `filter-editor` beside the list."""
        self.query_one(ContentSwitcher).current = name

    def action_search(self) -> None:
        """Focus the search box."""
        self.query_one("#prompt-search", Input).focus()

    def action_tokens(self) -> None:
        """Toggle the token view."""
        switcher = self.query_one(ContentSwitcher)
        if switcher.current == "token-list":
            self.show_side("prompt-detail")
            self.prompt_list.focus()
            return
        self.show_side("token-list")
        self.token_list.focus()
        if not self._tokens_loaded:
            self.post_message(self.TokensRequested())

    def action_copy(self, what: str) -> None:
        """Ask the app to copy the prompt, the filtered prompt or the trigger words."""
        entry = self.prompt_list.highlighted
        if entry is None:
            self.app.bell()
            return
        filtered = self.filters.apply(entry.prompt, enabled=self.enabled).prompt
        self.post_message(self.CopyRequested(what, entry, filtered))

    def action_open(self, what: str) -> None:
        """Ask the app to open the model page or the folder of the highlighted prompt."""
        entry = self.prompt_list.highlighted
        if entry is None:
            self.app.bell()
            return
        self.post_message(self.OpenRequested(what, entry))

    def action_edit(self) -> None:
        """Ask the app to open a list in the editor."""
        self.post_message(self.EditRequested())
