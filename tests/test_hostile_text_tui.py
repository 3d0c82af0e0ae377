"""Server and user text in the TUI: shown without escapes or bidi, never parsed as markup."""

from __future__ import annotations

from pathlib import Path

from textual import events
from textual.pilot import Pilot
from textual.widgets import Input, Static

from civittui.events import TargetStatus
from civittui.textsafe import display_text
from civittui.tui.app import CivittuiApp
from civittui.tui.launch import make_app
from civittui.tui.screens.failure_details import FailureDetails
from civittui.tui.screens.path_prompt import PathPrompt
from civittui.tui.widgets.failures import FailureList
from civittui.tui.widgets.prompts import PromptsPane
from tests.fakecivitai import FakeCivitai
from tests.hostile_text import CREATOR, HOSTILE, MARKUP, OSC52, UNSAFE, hostile_world
from tests.tui_support import tui_config, wait_until


def _screen_text(app: CivittuiApp) -> str:
    """What the terminal would show: every cell of the composed screen, toasts included."""
    strips = app.screen._compositor.render_strips()
    return "\n".join("".join(segment.text for segment in strip) for strip in strips)


def _assert_clean(app: CivittuiApp) -> str:
    text = _screen_text(app)
    found = UNSAFE.findall(text)
    assert not found, f"unsafe characters on screen: {found!r}"
    return text


def _errors(app: CivittuiApp) -> list[str]:
    """The error notices of a run (an engine that stopped says why there)."""
    return [n.message for n in app.run_log.notices if n.severity == "error"]


def _settled(app: CivittuiApp, key: str) -> bool:
    target = app.model.targets.get(key)
    return target is not None and target.status in (TargetStatus.DONE, TargetStatus.FAILED)


async def _run_hostile(pilot: Pilot[int], app: CivittuiApp) -> None:
    key = f"user:{CREATOR}"
    await wait_until(pilot, lambda: _settled(app, key) and bool(app.model.failures))
    await pilot.pause(0.3)  # a repaint tick


async def test_hostile_names_prompts_and_reasons_are_shown_stripped(tmp_path: Path) -> None:
    with FakeCivitai(world=hostile_world) as fake:
        fake.api_faults.inject(
            "/api/download/models/", status=403, body={"message": HOSTILE}, times=9
        )
        config = tui_config(tmp_path, fake)
        app = make_app(config, urls=[f"{fake.api_base}/user/{CREATOR}"])
        async with app.run_test(size=(160, 50), notifications=True) as pilot:
            await _run_hostile(pilot, app)
            text = _assert_clean(app)  # queue, failures and the archived-model toast
            assert "]52;c;cHduZWQ=" in text  # shown, only defused
            assert MARKUP in text  # markup shown as written, not interpreted
            app.action_reload_prompts()
            prompts = app.query_one(PromptsPane)
            await wait_until(pilot, lambda: len(prompts.entries) == 2)
            await pilot.pause(0.1)
            text = _assert_clean(app)
            assert "masterpiece" in text
            app.query_one(FailureList).focus()
            await pilot.press("enter")
            await wait_until(pilot, lambda: isinstance(app.screen, FailureDetails))
            text = _assert_clean(app)
            assert "pwned-title" in text
            await pilot.press("escape", "ctrl+q")
        assert app.return_code == 0, _errors(app)


async def test_markup_in_the_kept_queue_typed_urls_and_batch_lines_never_crashes(
    tmp_path: Path,
) -> None:
    with FakeCivitai(world=hostile_world) as fake:
        config = tui_config(tmp_path, fake)
        url = f"{fake.api_base}/user/{CREATOR}"
        app = make_app(config, urls=[url])
        async with app.run_test(size=(120, 40), notifications=True) as pilot:
            await _run_hostile(pilot, app)
            await pilot.press("ctrl+q")
        assert app.return_code == 0, _errors(app)

        # The state holds the target whose model name is markup; the app starts again.
        again = make_app(config, urls=[url])  # re-adding re-crawls: the same toast again
        async with again.run_test(size=(120, 40), notifications=True) as pilot:
            await _run_hostile(pilot, again)
            assert again.is_running
            url_box = again.query_one("#url", Input)
            url_box.focus()
            await pilot.press(*"https://civitai.com/models/[/]oops", "enter")
            error = again.query_one("#url-error", Static)
            await wait_until(pilot, lambda: bool(str(error.render())))
            assert "[/]" in str(error.render())

            batch = tmp_path / "b["
            batch.mkdir()
            listing = batch / "]urls.txt"  # the path itself reads "b[/]urls.txt"
            listing.write_text("https://civitai.com/images/[/][bold]\n", "utf-8")
            await pilot.press("ctrl+o")
            await wait_until(pilot, lambda: isinstance(again.screen, PathPrompt))
            again.screen.query_one("#path", Input).value = str(listing)
            await pilot.press("enter")
            path_error = again.screen.query_one("#path-error", Static)
            await wait_until(pilot, lambda: bool(str(path_error.render())))
            assert "[/][bold]" in str(path_error.render())
            _assert_clean(again)
            await pilot.press("escape")
            good = tmp_path / "ok[" / "]urls.txt"
            good.parent.mkdir()
            good.write_text(f"{fake.api_base}/user/carol\n", "utf-8")
            await pilot.press("ctrl+o")
            await wait_until(pilot, lambda: isinstance(again.screen, PathPrompt))
            again.screen.query_one("#path", Input).value = str(good)
            await pilot.press("enter")  # the toast names the path: "ok[/]urls.txt"
            await wait_until(pilot, lambda: "user:carol" in again.model.targets)
            await pilot.pause(0.2)
            assert "ok[/]urls.txt" in _screen_text(again)
            assert again.query_one(FailureList) is not None
            await pilot.press("ctrl+q")
        assert again.return_code == 0


async def test_a_pasted_line_with_escapes_shows_defused_in_the_url_and_search_boxes(
    tmp_path: Path,
) -> None:
    app = make_app(tui_config(tmp_path))
    async with app.run_test(size=(160, 50)) as pilot:
        url = app.query_one("#url", Input)
        assert app.focused is url
        app.post_message(events.Paste(HOSTILE))
        await wait_until(pilot, lambda: url.value != "")
        assert url.value == display_text(HOSTILE)
        _assert_clean(app)
        search = app.query_one("#prompt-search", Input)
        search.focus()
        await pilot.pause()
        app.post_message(events.Paste(f"{OSC52}maid"))
        await wait_until(pilot, lambda: search.value != "")
        assert search.value == "]52;c;cHduZWQ=maid"
        _assert_clean(app)
        await pilot.press("ctrl+q")
