"""TUI help, command palette, settings, zoom and the app-wide bindings."""

from __future__ import annotations

import os
import stat
import tomllib
from pathlib import Path

import pytest
from textual.binding import Binding
from textual.command import CommandPalette
from textual.widgets import Input, Select, Static

from civittui.errors import UrlError
from civittui.tui.app import CivittuiApp, css_path
from civittui.tui.launch import make_app
from civittui.tui.screens.help import HelpScreen
from civittui.tui.screens.settings import SettingsScreen
from civittui.tui.widgets.failures import FailureList
from civittui.tui.widgets.filter_editor import FilterEditor
from civittui.tui.widgets.prompts import PromptsPane
from civittui.tui.widgets.queue import QueuePane, TargetList
from civittui.tui.widgets.token_list import TokenList
from civittui.tui.widgets.virtual_list import VirtualList
from tests.tui_support import tui_config

ALL_BINDINGS = [
    *CivittuiApp.BINDINGS,
    *TargetList.BINDINGS,
    *FailureList.BINDINGS,
    *PromptsPane.BINDINGS,
    *TokenList.BINDINGS,
    *FilterEditor.BINDINGS,
    *VirtualList.BINDINGS,
]


def test_every_binding_has_an_id_a_description_and_a_tooltip() -> None:
    ids = []
    for binding in ALL_BINDINGS:
        assert isinstance(binding, Binding)
        assert binding.id and binding.description and binding.tooltip, binding
        ids.append(binding.id)
    assert len(ids) == len(set(ids))


def test_the_stylesheet_is_found_from_a_checkout() -> None:
    path = css_path()
    assert path.name == "civittui.tcss" and path.is_file()
    assert "VirtualList" in path.read_text("utf-8")


def test_a_bad_url_on_the_command_line_stops_before_the_screen(tmp_path: Path) -> None:
    with pytest.raises(UrlError, match="not a CivitAI URL"):
        make_app(tui_config(tmp_path), urls=["https://example.com/x"])


async def test_urls_given_at_start_are_queued(tmp_path: Path) -> None:
    app = make_app(tui_config(tmp_path), urls=["civitai.com/user/alice"])
    app.engine.pause()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        assert [row.key for row in app.query_one(TargetList).rows] == ["user:alice"]
        await pilot.press("ctrl+q")


async def test_help_lists_the_keys_of_every_pane(tmp_path: Path) -> None:
    app = make_app(tui_config(tmp_path))
    async with app.run_test(size=(120, 40)) as pilot:
        app.query_one(TargetList).focus()
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        rows = app.screen.rows()
        sections = {section for section, _, _ in rows}
        assert {"Anywhere", "Queue list", "Failures list", "Prompts pane", "Token view"} <= sections
        assert ("Anywhere", "ctrl+q", "Save the queue and quit") in rows
        assert (
            "Failures list",
            "R",
            "Retry every failure (asks before retrying permanent ones)",
        ) in rows
        assert ("Queue list", "⇧↑ / -", "Move the selected target earlier in the queue") in rows
        assert ("Anywhere", "? / f1", "List every key") in rows
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)
        await pilot.press("f1")
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("q")
        await pilot.press("ctrl+q")


async def test_the_palette_offers_every_action_and_runs_it(tmp_path: Path) -> None:
    app = make_app(tui_config(tmp_path))
    async with app.run_test(size=(120, 40)) as pilot:
        titles = {command.title for command in app.get_system_commands(app.screen)}
        for expected in (
            "Add URL",
            "Load batch file",
            "Pause / resume",
            "Remove target",
            "Move target up",
            "Move target down",
            "Retry failure",
            "Retry all failures",
            "Failure details",
            "Dismiss failure",
            "Edit filter list",
            "Token view",
            "Search prompts",
            "Settings",
            "Help: every key",
            "Zoom pane",
            "Go to failures",
            "Toggle category sex",
        ):
            assert expected in titles
        every = [command.title for command in app.get_system_commands(app.screen)]
        assert len([t for t in every if "key" in t.lower()]) == 1  # one help entry, not two
        await pilot.press("ctrl+p")
        assert isinstance(app.screen, CommandPalette)
        await pilot.press(*"pause / res")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await pilot.pause()
        assert app.engine.paused
        await pilot.press("ctrl+q")


async def test_settings_are_written_to_the_config_file_privately(tmp_path: Path) -> None:
    config = tui_config(tmp_path)
    app = make_app(config)
    async with app.run_test(size=(120, 40)) as pilot:
        app.query_one(TargetList).focus()
        await pilot.press("s")
        assert isinstance(app.screen, SettingsScreen)
        screen = app.screen
        key_box = screen.query_one("#api_key", Input)
        assert key_box.password  # the key is masked while typed
        screen.query_one("#root", Input).value = str(tmp_path / "elsewhere")
        screen.query_one("#downloader", Select).value = "aria2"
        key_box.value = "secret-key-123"
        screen.query_one("#min_interval", Input).value = "-3"
        await pilot.press("ctrl+s")
        assert isinstance(app.screen, SettingsScreen)  # a bad value keeps the dialog open
        assert "min_interval" in str(screen.query_one("#settings-error", Static).render())
        screen.query_one("#min_interval", Input).value = "2.5"
        await pilot.press("ctrl+s")
        assert not isinstance(app.screen, SettingsScreen)
        await pilot.press("ctrl+q")
    written = tomllib.loads(config.config_file.read_text("utf-8"))  # type: ignore[union-attr]
    assert written["root"] == str(tmp_path / "elsewhere")
    assert written["downloader"] == "aria2"
    assert written["api_key"] == "secret-key-123"
    assert written["rate"]["min_interval"] == 2.5
    if os.name == "posix":
        mode = stat.S_IMODE(config.config_file.stat().st_mode)  # type: ignore[union-attr]
        assert mode == 0o600


async def test_zoom_fills_the_screen_with_the_focused_pane_and_restores(tmp_path: Path) -> None:
    app = make_app(tui_config(tmp_path))
    async with app.run_test(size=(120, 40)) as pilot:
        failures = app.query_one(FailureList)
        failures.focus()
        await pilot.press("z")
        await pilot.pause()
        assert app.screen.maximized is app.query_one("#failures")
        assert app.query_one("#failures").region.width == 120
        await pilot.press("z")
        await pilot.pause()
        assert app.screen.maximized is None
        await pilot.press("2")
        assert app.focused is app.query_one("#worker-list")
        await pilot.press("a")  # back to the URL box from anywhere
        assert app.focused is app.query_one(QueuePane).url_input
        await pilot.press("ctrl+q")


def test_the_readme_key_table_names_every_key_of_the_app() -> None:
    """Each binding's keys appear in the README's table, in the row of the pane it works in."""
    readme = (Path(__file__).parent.parent / "README.md").read_text("utf-8")
    section = readme.split("## The app", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| ")]
    names = {"question_mark": "?", "slash": "/", "delete": "del", "minus": "-", "plus": "+"}
    names |= {"shift+up": "shift+↑", "shift+down": "shift+↓"}
    where = {
        CivittuiApp: "anywhere",
        TargetList: "queue list",
        FailureList: "failures list",
        PromptsPane: "prompts",
        TokenList: "token view",
    }
    for cls, place in where.items():
        for binding in cls.BINDINGS:
            assert isinstance(binding, Binding)
            for key in binding.key.split(","):
                if key in ("equals_sign",):  # `=` is `+` without shift: one key on the keyboard
                    continue
                shown = names.get(key, key)
                label = "Enter" if key == "enter" else f"`{shown}`"
                matches = [r for r in rows if f"| {place} |" in r and label in r.split("|")[1]]
                assert matches, f"README lacks {label} ({binding.description}) for {place}"


async def test_a_click_on_a_footer_key_presses_it(tmp_path: Path) -> None:
    from civittui.tui.screens.log import LogScreen
    from civittui.tui.widgets.footer import KeyFooter

    app = make_app(tui_config(tmp_path))
    async with app.run_test(size=(160, 40)) as pilot:
        app.query_one(TargetList).focus()
        await pilot.pause()
        footer = app.query_one(KeyFooter)
        keys = [key for _, _, key in footer._spans]
        assert keys[:4] == ["x", "shift+up", "shift+down", "c"]  # the focused list's keys first
        start, _, _ = next(span for span in footer._spans if span[2] == "n")
        await pilot.click(KeyFooter, offset=(start + 1, 0))
        await pilot.pause()
        assert isinstance(app.screen, LogScreen)
        await pilot.press("ctrl+q")
