"""The active pane has one source of truth: fast pane keys and a restart on Failures settle."""

from __future__ import annotations

import time
from pathlib import Path

from textual import events
from textual.pilot import Pilot
from textual.widgets import Input, Tabs

from civittui.tui.app import CivittuiApp
from civittui.tui.launch import make_app
from civittui.tui.widgets.failures import FailureList
from civittui.tui.widgets.queue import TargetList
from tests.tui_support import tui_config, wait_until


def _state(app: CivittuiApp) -> tuple[str, str | None, object]:
    return (app.active_pane, app.query_one(Tabs).active, app.focused)


async def _assert_settled(pilot: Pilot[int], app: CivittuiApp) -> None:
    """Pane, tab and focus stop moving, and typing reaches the URL box quickly."""
    await pilot.pause(0.1)
    first = _state(app)
    for _ in range(10):
        await pilot.pause(0.03)
        assert _state(app) == first, "the active pane keeps changing"
    pane, tab, _ = first
    assert tab == f"tab-{pane}"
    started = time.monotonic()
    await pilot.press("a", *"xyz")
    url = app.query_one("#url", Input)
    await wait_until(pilot, lambda: url.value == "xyz", timeout=2.0)
    assert time.monotonic() - started < 2.0
    assert app.active_pane == "queue"


async def test_two_pane_keys_in_one_tick_settle_on_the_second(tmp_path: Path) -> None:
    for size in ((80, 24), (120, 40)):  # tabbed, and the 2x2 grid
        app = make_app(tui_config(tmp_path / str(size[0])))
        async with app.run_test(size=size) as pilot:
            app.query_one(TargetList).focus()
            await pilot.pause()
            # Both keys are queued before either is handled: the messages the first switch
            # posts (tab activated, focus) arrive after the second switch.
            app.post_message(events.Key("3", "3"))
            app.post_message(events.Key("1", "1"))
            await pilot.pause(0.1)
            assert app.active_pane == "queue"
            assert isinstance(app.focused, TargetList)
            await _assert_settled(pilot, app)
            await pilot.press("ctrl+q")
        assert app.return_code == 0


async def test_a_restart_with_failures_as_the_saved_pane_settles(tmp_path: Path) -> None:
    config = tui_config(tmp_path)
    first = make_app(config)
    async with first.run_test(size=(80, 24)) as pilot:
        first.query_one(FailureList).focus()
        await pilot.pause()
        assert first.active_pane == "failures"
        await pilot.press("ctrl+q")
    for _ in range(2):  # the saved pane brought the loop back at every start
        again = make_app(config)
        async with again.run_test(size=(80, 24)) as pilot:
            await pilot.pause(0.1)
            assert again.active_pane == "failures"  # where the user left it
            assert isinstance(again.focused, FailureList)
            await _assert_settled(pilot, again)
            again.query_one(FailureList).focus()
            await pilot.pause()
            await pilot.press("ctrl+q")
        assert again.return_code == 0


async def test_pasting_many_lines_queues_every_url_and_lists_the_bad_ones(tmp_path: Path) -> None:
    app = make_app(tui_config(tmp_path))
    async with app.run_test(size=(120, 40)) as pilot:
        app.action_toggle_pause()  # nothing to fetch here; only the queue matters
        urls = [f"https://civitai.com/images/{1000 + i}" for i in range(48)]
        lines = [*urls[:5], "", "# from my notes", "not a url", *urls[5:]]
        assert isinstance(app.focused, Input)
        app.post_message(events.Paste("\n".join(lines) + "\n"))
        await wait_until(pilot, lambda: len(app.model.targets) == 48)
        assert [t.url for t in app.model.ordered_targets()] == urls
        error = app.query_one("#url-error")
        await wait_until(pilot, lambda: "line 8" in str(error.render()))
        assert "1 line not queued" in str(error.render())
        assert app.query_one("#url", Input).value == ""
        # One line still goes into the box, as before.
        app.post_message(events.Paste("https://civitai.com/images/7\n"))
        await wait_until(pilot, lambda: app.query_one("#url", Input).value != "")
        assert app.query_one("#url", Input).value == "https://civitai.com/images/7"
        await pilot.press("ctrl+q")
