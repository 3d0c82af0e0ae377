"""What the app does for the Prompts pane: read prompts and token counts, edit and add to lists.

Disk work runs here (thread workers for the big reads), never in a widget; results go to the
pane as messages posted from the thread.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from textual.message import Message
from textual.worker import get_current_worker

from civittui.errors import FilterListError
from civittui.events import ItemFinished
from civittui.prompts.filters import FilterSet, add_term
from civittui.prompts.lists import read_list_text, save_list_text, user_filters_dir
from civittui.prompts.tools import TokenCount, count_tokens
from civittui.tui.opener import SITE, OpenError, open_target
from civittui.tui.prompt_links import page_url, trigger_words
from civittui.tui.prompt_source import PromptEntry, load_prompts, read_sidecars
from civittui.tui.screens.choose import ChooseScreen
from civittui.tui.widgets.filter_editor import FilterEditor
from civittui.tui.widgets.prompts import PromptsPane

if TYPE_CHECKING:
    from civittui.tui.app import CivittuiApp

__all__ = ["PromptController", "PromptsAppended", "PromptsLoaded", "TokensCounted"]

TOKENS_TOP = 500  # the token view lists this many of the most frequent tokens
DISABLED_SETTING = "tui.disabled_categories"


class PromptsLoaded(Message):
    """The saved prompts were read (posted from a thread)."""

    def __init__(self, entries: list[PromptEntry]) -> None:
        super().__init__()
        self.entries = entries


class PromptsAppended(Message):
    """Sidecars written during this run were read (posted from a thread)."""

    def __init__(self, entries: list[PromptEntry]) -> None:
        super().__init__()
        self.entries = entries


class TokensCounted(Message):
    """Token frequencies were counted (posted from a thread)."""

    def __init__(self, counts: list[TokenCount]) -> None:
        super().__init__()
        self.counts = counts


class PromptController:
    """Prompt browsing and list editing for one app.

    Args:
        app: the running app (its config, store and Prompts pane).
        filters: the lists in effect at start.
    """

    def __init__(self, app: CivittuiApp, filters: FilterSet) -> None:
        self.app = app
        self.filters = filters
        """The lists the pane shows prompts with (replaced when a list is saved)."""

    @property
    def pane(self) -> PromptsPane:
        """The Prompts pane."""
        return self.app.query_one(PromptsPane)

    def restore_categories(self) -> None:
        """Switch off the categories the user switched off last time."""
        disabled = self.app.store.get_setting(DISABLED_SETTING, [])
        if isinstance(disabled, list) and disabled:
            self.pane.set_enabled([c for c in self.filters.categories if c not in disabled])

    def remember_categories(self, enabled: frozenset[str]) -> None:
        """Keep the switched-off categories in the state store."""
        disabled = [c for c in self.filters.categories if c not in enabled]
        self.app.store.set_setting(DISABLED_SETTING, disabled)

    def toggle_category(self, category: str) -> None:
        """Switch one category on or off."""
        pane = self.pane
        pane.set_enabled(pane.enabled ^ {category})
        self.remember_categories(pane.enabled)

    # -- reading (threads) ---------------------------------------------------------------------

    def load_prompts(self) -> None:
        """Read every saved prompt in a thread; the pane gets them in a `PromptsLoaded`."""
        root = self.app.config.root

        def read() -> None:
            worker = get_current_worker()
            entries = load_prompts(root, cancelled=lambda: worker.is_cancelled)
            if not worker.is_cancelled:
                self.app.post_message(PromptsLoaded(entries))

        self.app.run_worker(read, thread=True, exclusive=True, group="prompts", name="prompts")

    def downloaded(self, items: Iterable[ItemFinished]) -> None:
        """Show the prompts of the images among this tick's downloads."""
        self.add_sidecars(
            # `{imageId}.txt` beside a downloaded image (the image's own name may differ)
            [
                Path(item.path).parent / f"{item.key.removeprefix('image:')}.txt"
                for item in items
                if item.key.startswith("image:")
            ]
        )

    def add_sidecars(self, paths: list[Path]) -> None:
        """Read the sidecars of images that just arrived; the pane gets a `PromptsAppended`.

        Called once per repaint tick with that tick's images, so the list grows live at the
        repaint rate, without re-reading the whole root.
        """
        if not paths:
            return

        def read() -> None:
            entries = read_sidecars(paths)
            if entries:
                self.app.post_message(PromptsAppended(entries))

        self.app.run_worker(read, thread=True, group="prompts-live", name="prompts-live")

    def count_tokens(self) -> None:
        """Count tokens over saved prompts in a thread; the pane gets a `TokensCounted`."""
        root, filters = self.app.config.root, self.filters

        def count() -> None:
            worker = get_current_worker()
            counts = count_tokens(root, filters, top=TOKENS_TOP)
            if not worker.is_cancelled:
                self.app.post_message(TokensCounted(counts))

        self.app.run_worker(count, thread=True, exclusive=True, group="tokens", name="tokens")

    # -- copy and open (user-initiated only) ---------------------------------------------------

    def copy(self, what: str, entry: PromptEntry, filtered: str) -> None:
        """Copy the prompt, the filtered prompt or the trigger words to the clipboard (OSC 52:
        the terminal decides whether to allow it)."""
        if what == "triggers":
            sidecar, root = entry.sidecar, self.app.config.root
            words = trigger_words(sidecar, root) if sidecar is not None else []
            if not words:
                self.app.notify("no trigger words: the model's metadata is not on disk")
                return
            text, label = ", ".join(words), "trigger words"
        elif what == "filtered":
            text, label = filtered, "filtered prompt"
        else:
            text, label = entry.prompt, "prompt"
        self.app.copy_to_clipboard(text)
        self.app.notify(f"copied the {label} of image {entry.image_id} ({len(text)} characters)")

    def open(self, what: str, entry: PromptEntry) -> None:
        """Open the model's CivitAI page or the image's folder with the desktop's opener."""
        sidecar = entry.sidecar
        try:
            if what == "folder":
                if sidecar is None:
                    raise OpenError("this prompt has no folder on disk")
                target: str | Path = sidecar.parent
            else:
                target = (
                    page_url(sidecar, self.app.config.root, entry.image_id)
                    if sidecar is not None
                    else f"{SITE}/images/{entry.image_id}"
                )
            open_target(target)
        except OpenError as exc:
            self.app.notify(str(exc), severity="error")
            return
        self.app.notify(f"opened {target}")

    # -- lists ---------------------------------------------------------------------------------

    def choose_list_to_edit(self) -> None:
        """Ask which list to edit, then open it."""

        def picked(category: str | None) -> None:
            if category is not None:
                self.open_editor(category)

        self.app.push_screen(ChooseScreen("Edit which list?", self.filters.categories), picked)

    def open_editor(self, category: str) -> None:
        """Open `category`'s list (the user's copy, or the shipped one to copy) in the editor."""
        directory = user_filters_dir(self.app.config)
        try:
            text = read_list_text(directory, category)
        except FilterListError as exc:
            self.app.notify(str(exc), severity="error")
            return
        self.app.action_show_pane("prompts")
        pane = self.pane
        pane.show_side("filter-editor")
        pane.editor.open(category, text, str(directory))

    def save_list(self, category: str, text: str) -> None:
        """Validate and save an edited list; every shown prompt re-renders with it."""
        directory = user_filters_dir(self.app.config)
        editor = self.app.query_one(FilterEditor)
        try:
            path = save_list_text(directory, category, text)
            self._use(FilterSet.load(directory))
        except FilterListError as exc:
            editor.show_status(str(exc), error=True)
            return
        editor.mark_saved(f"saved {path}; downloads, refilter and tokens use it")

    def add_token(self, token: str) -> None:
        """Ask for a category, then add `token` to that list."""

        def picked(category: str | None) -> None:
            if category is None:
                return
            directory = user_filters_dir(self.app.config)
            try:
                add_term(directory, category, token)
                self._use(FilterSet.load(directory))
            except FilterListError as exc:
                self.app.notify(str(exc), severity="error")
                return
            self.app.notify(f"added {token!r} to {category}")

        self.app.push_screen(
            ChooseScreen(f"Add {token!r} to which list?", self.filters.categories), picked
        )

    def _use(self, filters: FilterSet) -> None:
        self.filters = filters
        self.pane.set_filters(filters)
        self.app.engine.use_filters(filters)  # the next images' sidecars use them too
