"""Command-palette entries: every action of the app, including what only a key would do."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from textual.app import SystemCommand
from textual.binding import Binding, BindingType

from civittui.tui.widgets.failures import FailureList
from civittui.tui.widgets.prompts import PromptsPane
from civittui.tui.widgets.queue import TargetList

if TYPE_CHECKING:
    from civittui.tui.app import CivittuiApp

__all__ = ["APP_BINDINGS", "PANES", "help_sections", "palette_commands"]

PANES = ("queue", "workers", "failures", "prompts")


def _binding(
    key: str,
    action: str,
    description: str,
    tooltip: str,
    *,
    show: bool = True,
    priority: bool = False,
) -> Binding:
    ident = action.replace("(", "_").replace(")", "").replace("'", "")
    return Binding(
        key, action, description, show=show, priority=priority, id=f"app.{ident}", tooltip=tooltip
    )


APP_BINDINGS: list[BindingType] = [
    _binding("ctrl+q", "quit", "Quit", "Save the queue and quit", priority=True),
    _binding("question_mark,f1", "help", "Help", "List every key"),
    _binding("a", "focus_url", "Add URL", "Focus the URL box"),
    _binding("ctrl+o", "load_batch", "Batch file", "Queue the URLs of a file", priority=True),
    _binding("p", "toggle_pause", "Pause/Resume", "Hold or continue crawling and downloads"),
    _binding("s,f2", "settings", "Settings", "Root, LoRA folder, downloader, API key, rate"),
    _binding("z", "zoom", "Zoom", "Fill the screen with the focused pane (again to restore)"),
    _binding("n", "log", "Log", "Every notice shown, and where recent downloads went"),
    _binding("u", "sync(False)", "Sync", "Fetch what is new for every target", show=False),
    _binding(
        "ctrl+u",
        "sync(True)",
        "Sync one",
        "Fetch what is new for the selected target",
        show=False,
    ),
    _binding("i", "adopt", "Adopt", "Identify the model files of a folder", show=False),
    _binding("1", "show_pane('queue')", "Queue", "Go to the queue", show=False),
    _binding("2", "show_pane('workers')", "Workers", "Go to active downloads", show=False),
    _binding("3", "show_pane('failures')", "Failures", "Go to the failure log", show=False),
    _binding("4", "show_pane('prompts')", "Prompts", "Go to saved prompts", show=False),
]
"""The app's keys (each also in the palette or the help screen)."""


def palette_commands(app: CivittuiApp) -> Iterator[SystemCommand]:
    """The app's own palette commands (Textual adds theme, quit, screenshot, …)."""

    def targets() -> TargetList:
        return app.query_one(TargetList)

    def failures() -> FailureList:
        return app.query_one(FailureList)

    def prompts(action: str, *args: str) -> Callable[[], None]:
        def run() -> None:
            app.action_show_pane("prompts")
            getattr(app.query_one(PromptsPane), f"action_{action}")(*args)

        return run

    entries: list[tuple[str, str, Callable[[], object]]] = [
        ("Add URL", "Focus the URL box to paste a CivitAI URL", app.action_focus_url),
        ("Load batch file", "Queue every URL of a text file", app.action_load_batch),
        ("Pause / resume", "Hold or continue crawling and downloads", app.action_toggle_pause),
        ("Sync all targets", "Fetch what is new (newest first)", lambda: app.action_sync(False)),
        ("Sync selected target", "Fetch what is new for it", lambda: app.action_sync(True)),
        ("Adopt a folder", "Identify model files already on disk", app.action_adopt),
        ("Remove target", "Remove the selected target", lambda: targets().action_remove()),
        ("Move target up", "Move the selected target earlier", lambda: targets().action_move(-1)),
        ("Move target down", "Move the selected target later", lambda: targets().action_move(1)),
        (
            "Clear finished",
            "Remove every done target from the queue (files stay)",
            app.queue_actions.clear_finished,
        ),
        ("Retry failure", "Retry the selected failure", lambda: failures().action_retry()),
        ("Retry all failures", "Retry every failure", lambda: failures().action_retry_all()),
        (
            "Failure details",
            "The full error of the selected failure",
            lambda: failures().action_details(),
        ),
        ("Dismiss failure", "Forget the selected failure", lambda: failures().action_dismiss()),
        (
            "Edit filter list",
            "Edit a list; prompts re-render on save",
            app.prompt_actions.choose_list_to_edit,
        ),
        ("Token view", "The most frequent tokens and their lists", prompts("tokens")),
        ("Search prompts", "Search saved prompts", prompts("search")),
        ("Copy prompt", "Copy the selected prompt", prompts("copy", "prompt")),
        ("Copy filtered prompt", "Copy it with the lists removed", prompts("copy", "filtered")),
        ("Copy trigger words", "Of the selected image's model", prompts("copy", "triggers")),
        ("Open model page", "The selected image's model on CivitAI", prompts("open", "page")),
        ("Open folder", "The folder the selected image is in", prompts("open", "folder")),
        ("Reload prompts", "Read saved prompts again", app.action_reload_prompts),
        ("Settings", "Root, LoRA folder, downloader, API key, rate", app.action_settings),
        (
            "Notices and downloads log",
            "Every notice shown, and where recent downloads went",
            app.action_log,
        ),
        ("Help: every key", "Every key binding, pane by pane", app.action_help),
        ("Zoom pane", "Fill the screen with the focused pane, or restore", app.action_zoom),
    ]
    entries += [(f"Go to {pane}", f"Show the {pane} pane", _show(app, pane)) for pane in PANES]
    entries += [
        (
            f"Toggle category {category}",
            f"Switch removing {category} tokens on or off",
            _toggle(app, category),
        )
        for category in app.prompt_actions.filters.categories
    ]
    for title, help_text, callback in entries:
        yield SystemCommand(title, help_text, callback)


def _show(app: CivittuiApp, pane: str) -> Callable[[], None]:
    return lambda: app.action_show_pane(pane)


def _toggle(app: CivittuiApp, category: str) -> Callable[[], None]:
    return lambda: app.prompt_actions.toggle_category(category)


def help_sections(app_bindings: list[BindingType]) -> list[tuple[str, list[BindingType]]]:
    """The help screen's sections: the app's keys, then each pane's and widget's."""
    from civittui.tui.widgets.filter_editor import FilterEditor
    from civittui.tui.widgets.token_list import TokenList
    from civittui.tui.widgets.virtual_list import VirtualList

    return [
        ("Anywhere", app_bindings),
        ("Queue list", TargetList.BINDINGS),
        ("Failures list", FailureList.BINDINGS),
        ("Prompts pane", PromptsPane.BINDINGS),
        ("Token view", TokenList.BINDINGS),
        ("List editor", FilterEditor.BINDINGS),
        ("Any list", VirtualList.BINDINGS),
    ]
