"""Which pane is active, and whether the four panes show as a grid or one at a time (tabs)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.events import DescendantFocus
from textual.widgets import Tabs

from civittui.tui.commands import PANES
from civittui.tui.widgets.prompts import PromptsPane

if TYPE_CHECKING:
    from civittui.tui.app import CivittuiApp

__all__ = ["PaneController"]

_TABBED_BELOW = (110, 34)  # under this many columns or rows, one pane at a time


class PaneController:
    """The active pane and the layout of one app.

    Args:
        app: the running app.
        active: the pane to start in (the one the user left last time).
    """

    def __init__(self, app: CivittuiApp, active: str) -> None:
        self.app = app
        self.active = active
        """The pane the user is in: the one source of truth (tabs and classes only show it)."""
        self.tabbed = False

    def layout_for(self, width: int, height: int) -> None:
        app = self.app
        self.tabbed = width < _TABBED_BELOW[0] or height < _TABBED_BELOW[1]
        app.query_one("#panes").set_class(self.tabbed, "-tabbed")
        app.query_one("#pane-tabs").display = self.tabbed
        if self.tabbed:
            self.sync_tabs()
        self.compact_prompts()

    def compact_prompts(self) -> None:
        """In the 2x2 grid the Prompts pane stacks its list over the detail (too narrow else)."""
        app = self.app
        prompts = app.query_one(PromptsPane)
        prompts.set_class(not self.tabbed and app.screen.maximized is not prompts, "-compact")

    def activate(self, name: str, *, focus: bool = True) -> None:
        """Make `name` the active pane: `active` is the one source of truth, the tab bar and the
        `-active` classes only show it."""
        app = self.app
        self.active = name
        self._mark_active()
        if self.tabbed:
            self.sync_tabs()
        if focus:
            selector = {
                "queue": "#targets",
                "workers": "#worker-list",
                "failures": "#failure-list",
                "prompts": "#prompt-list",
            }[name]
            app.query_one(selector).focus()

    def _mark_active(self) -> None:
        """Put `-active` on the active pane only, restyling the panes themselves and nothing
        inside them: no rule inside a pane depends on it, and restyling the hundreds of widgets
        of two panes was most of a switch's 150-200 ms."""
        app = self.app
        changed = False
        for pane in app.query_one("#panes").children:
            active = pane.id == self.active
            if pane.has_class("-active") != active:
                pane.set_class(active, "-active", update=False)
                app.stylesheet.apply(pane)
                pane.refresh()
                changed = True
        if changed and self.tabbed:  # in the grid only the borders' colours change
            app.query_one("#panes").refresh(layout=True)

    def sync_tabs(self) -> None:
        """Show the active pane in the tab bar (only drawn on small terminals)."""
        tabs = self.app.query_one(Tabs)
        if tabs.active != f"tab-{self.active}":
            tabs.active = f"tab-{self.active}"  # posts a TabActivated that `tab_activated` ignores

    def tab_activated(self, event: Tabs.TabActivated) -> None:
        """A tab the user clicked. A message the bar posted for an earlier switch arrives after
        later ones: acting on it re-activated the pane just left, and the two switches fed each
        other forever (100% CPU, input ignored). Only the tab still shown as active counts."""
        app = self.app
        tabs = app.query_one(Tabs)
        if event.tab.id != tabs.active:
            return  # stale: the bar has moved on since
        name = (event.tab.id or "tab-queue").removeprefix("tab-")
        if name in PANES and name != self.active:
            self.activate(name)

    def focused(self, event: DescendantFocus) -> None:
        """Keep the active pane on the pane that holds the focus (a click, Tab, a dialog)."""
        app = self.app
        if event.widget is not app.focused:
            return  # stale: focus moved on before this message arrived
        for ancestor in event.widget.ancestors_with_self:
            if ancestor.id in PANES:
                if ancestor.id != self.active:
                    self.activate(str(ancestor.id), focus=False)
                break
