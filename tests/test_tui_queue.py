"""The TUI queue, workers and failures, by keys, on the real engine and the fake CivitAI."""

from __future__ import annotations

import os
from pathlib import Path

from textual.widgets import Input, Tabs

from civittui.events import TargetStatus
from civittui.tui.launch import make_app
from civittui.tui.screens.confirm import ConfirmScreen
from civittui.tui.screens.failure_details import FailureDetails
from civittui.tui.screens.path_prompt import PathPrompt
from civittui.tui.widgets.failures import FailureList
from civittui.tui.widgets.queue import QueuePane, TargetList
from civittui.tui.widgets.workers import WorkerList
from tests.fakecivitai import FakeCivitai
from tests.tui_support import tui_config, wait_until


def _carol_posts(fake: FakeCivitai) -> list:
    return fake.world.posts_of(fake.world.creator("carol"))


def _saved_images(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and p.suffix in (".png", ".jpeg", ".webp")]


async def test_url_box_is_focused_and_a_pasted_url_downloads(
    fake_civitai: FakeCivitai, tmp_path: Path
) -> None:
    config = tui_config(tmp_path, fake_civitai)
    post = _carol_posts(fake_civitai)[0]
    app = make_app(config)
    async with app.run_test(size=(120, 40)) as pilot:
        assert isinstance(app.focused, Input) and app.focused.id == "url"
        await pilot.press(*f"{fake_civitai.api_base}/posts/{post.id}", "enter")
        assert app.query_one("#url", Input).value == ""  # accepted, box cleared
        key = f"post:{post.id}"
        await wait_until(
            pilot,
            lambda: key in app.model.targets and app.model.targets[key].status is TargetStatus.DONE,
        )
        await pilot.pause(0.3)  # one repaint tick
        target = app.model.targets[key]
        assert target.done == len(post.images) and target.failed == 0
        rows = app.query_one(TargetList).rows
        assert [row.key for row in rows] == [key]
        assert rows[0].status is TargetStatus.DONE  # the row repainted with the final state
        assert len(_saved_images(config.root)) == len(post.images)
        assert app.model.bytes_done > 0
        await pilot.press("ctrl+q")
    assert app.return_code == 0


async def test_bad_url_shows_an_inline_error_and_adds_nothing(tmp_path: Path) -> None:
    app = make_app(tui_config(tmp_path))
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press(*"https://example.com/nothing", "enter")
        error = app.query_one("#url-error")
        assert error.display
        assert "not a CivitAI URL" in str(error.render())
        assert app.engine.targets() == []
        assert app.query_one("#url", Input).value == "https://example.com/nothing"
        await pilot.press("backspace")  # typing clears the error
        assert not error.display


async def test_remove_move_and_pause_and_the_queue_survives_a_restart(tmp_path: Path) -> None:
    config = tui_config(tmp_path)
    app = make_app(config)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("escape")  # leave the URL box... then pause so nothing is crawled
        app.query_one(TargetList).focus()
        await pilot.press("p")
        assert app.engine.paused and "PAUSED" in str(app.query_one("#status").render())
        for name in ("alice", "bob", "carol"):
            app.query_one("#url", Input).focus()
            await pilot.press(*f"civitai.com/user/{name}", "enter")
        target_list = app.query_one(TargetList)
        assert [r.key for r in target_list.rows] == ["user:alice", "user:bob", "user:carol"]
        target_list.focus()
        await pilot.press("end", "shift+up")  # carol one up
        await pilot.pause()
        assert [t.key for t in app.engine.targets()] == ["user:alice", "user:carol", "user:bob"]
        assert target_list.highlighted is not None and target_list.highlighted.key == "user:carol"
        await pilot.press("shift+down")
        await pilot.pause()
        assert [t.key for t in app.engine.targets()] == ["user:alice", "user:bob", "user:carol"]
        await pilot.press("home", "x")
        await pilot.pause()
        assert [t.key for t in app.engine.targets()] == ["user:bob", "user:carol"]
        assert [r.key for r in target_list.rows] == ["user:bob", "user:carol"]
        await pilot.press("p")
        assert not app.engine.paused
        app.engine.pause()  # nothing may crawl before the restart check (no API here)
        await pilot.press("ctrl+q")
    assert app.return_code == 0

    again = make_app(config)
    async with again.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        assert [r.key for r in again.query_one(TargetList).rows] == ["user:bob", "user:carol"]
        await pilot.press("ctrl+q")


async def test_batch_file_prompt_queues_every_url_and_reports_a_bad_line(tmp_path: Path) -> None:
    app = make_app(tui_config(tmp_path))
    good = tmp_path / "urls.txt"
    good.write_text("# mine\ncivitai.com/user/alice\n\ncivitai.com/posts/4001\n", "utf-8")
    bad = tmp_path / "bad.txt"
    bad.write_text("civitai.com/user/alice\nhttps://example.com/x\n", "utf-8")
    async with app.run_test(size=(120, 40)) as pilot:
        app.engine.pause()
        await pilot.press("ctrl+o")
        assert isinstance(app.screen, PathPrompt)
        await pilot.press(*str(bad), "enter")
        assert isinstance(app.screen, PathPrompt)  # stays open with the error
        error = app.screen.query_one("#path-error")
        assert error.display and "bad.txt:2" in str(error.render())
        assert app.engine.targets() == []
        app.screen.query_one(Input).value = str(good)
        await pilot.press("enter")
        assert not isinstance(app.screen, PathPrompt)
        await pilot.pause()
        assert [r.key for r in app.query_one(TargetList).rows] == ["user:alice", "post:4001"]
        await pilot.press("ctrl+q")


async def test_failure_appears_then_r_retries_it_and_it_succeeds(
    fake_civitai: FakeCivitai, tmp_path: Path
) -> None:
    config = tui_config(tmp_path, fake_civitai)
    post = _carol_posts(fake_civitai)[0]
    broken = post.images[0]
    fake_civitai.images.faults.status(broken.uuid, 403, times=1000)
    app = make_app(config)
    async with app.run_test(size=(120, 40)) as pilot:
        app.add_urls([f"{fake_civitai.api_base}/posts/{post.id}"])
        key = f"image:{broken.id}"
        await wait_until(pilot, lambda: app.model.failure(key) is not None)
        await wait_until(
            pilot, lambda: app.model.targets[f"post:{post.id}"].status is TargetStatus.FAILED
        )
        await pilot.pause(0.3)
        failure_list = app.query_one(FailureList)
        assert [row.key for row in failure_list.rows] == [key]
        assert "403" in failure_list.rows[0].event.reason
        # Enter shows the details; Escape closes them.
        failure_list.focus()
        await pilot.press("enter")
        assert isinstance(app.screen, FailureDetails)
        await pilot.press("escape")
        assert not isinstance(app.screen, FailureDetails)
        fake_civitai.images.faults.clear()
        await pilot.press("r")
        await wait_until(pilot, lambda: app.model.failure(key) is None)
        await pilot.pause(0.3)
        assert failure_list.rows == []
        assert any(p.stem == str(broken.id) for p in _saved_images(config.root))
        await pilot.press("ctrl+q")
    assert app.return_code == 0


async def test_retry_all_asks_before_retrying_permanent_failures_and_d_dismisses(
    fake_civitai: FakeCivitai, tmp_path: Path
) -> None:
    config = tui_config(tmp_path, fake_civitai)
    post = _carol_posts(fake_civitai)[0]
    gone, busy = post.images[0], post.images[1]
    fake_civitai.images.faults.status(gone.uuid, 404, times=1000)
    fake_civitai.images.faults.status(busy.uuid, 403, times=1000)
    app = make_app(config)
    async with app.run_test(size=(120, 40)) as pilot:
        app.add_urls([f"{fake_civitai.api_base}/posts/{post.id}"])
        await wait_until(pilot, lambda: len(app.model.failures) == 2)
        await pilot.pause(0.3)
        permanent = [row.key for row in app.model.failures if row.event.permanent]
        assert permanent == [f"image:{gone.id}"]
        failure_list = app.query_one(FailureList)
        failure_list.focus()
        busy_key, gone_key = f"image:{busy.id}", f"image:{gone.id}"
        tries = {row.key: row.event.attempts for row in app.model.failures}
        await pilot.press("R")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("n")  # only the retryable one
        await wait_until(
            pilot,
            lambda: (
                (row := app.model.failure(busy_key)) is not None
                and row.event.attempts > tries[busy_key]
            ),
        )
        gone_row = app.model.failure(gone_key)
        assert gone_row is not None and gone_row.event.attempts == tries[gone_key]
        assert gone_row.state == "failed"
        # dismiss the permanent one
        await pilot.pause(0.3)
        index = failure_list.index_of(f"image:{gone.id}")
        assert index is not None
        failure_list.cursor = index
        await pilot.press("d")
        await pilot.pause(0.3)
        assert app.model.failure(f"image:{gone.id}") is None
        assert f"image:{gone.id}" not in [f.key for f in app.engine.failures()]
        await pilot.press("ctrl+q")


async def test_small_terminal_shows_one_pane_with_tabs_and_number_keys_switch(
    tmp_path: Path,
) -> None:
    app = make_app(tui_config(tmp_path))
    async with app.run_test(size=(80, 24)) as pilot:
        tabs = app.query_one(Tabs)
        assert tabs.display
        assert app.query_one(QueuePane).display
        assert not app.query_one("#failures").display
        app.query_one(TargetList).focus()
        await pilot.press("3")
        assert app.query_one("#failures").display and not app.query_one("#queue").display
        assert isinstance(app.focused, FailureList)
        assert tabs.active == "tab-failures"
        await pilot.press("4")
        assert app.query_one("#prompts").display
        await pilot.press("1")
        assert app.query_one("#queue").display
        await pilot.press("ctrl+q")

    big = make_app(tui_config(tmp_path / "big"))
    async with big.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        assert not big.query_one(Tabs).display
        for pane in ("#queue", "#workers", "#failures", "#prompts"):
            assert big.query_one(pane).display and big.query_one(pane).region.area > 0
        await pilot.press("ctrl+q")


def test_settings_file_is_private(tmp_path: Path) -> None:
    # The settings screen writes through write_config_values; checked end to end in
    # test_tui_screens. Here: the helper picks the config file in use.
    from civittui.tui.screens.settings import settings_path

    config = tui_config(tmp_path)
    assert settings_path(config) == tmp_path / "config.toml"
    if os.name == "posix":
        assert not (tmp_path / "config.toml").exists()


async def test_workers_show_a_live_row_per_download_and_finished_rows_leave(
    fake_civitai: FakeCivitai, tmp_path: Path
) -> None:
    world = fake_civitai.world
    model = world.add_model(world.add_creator("dave"), "Slow One", "LORA", file_size=256 * 1024)
    entry = model.versions[0].files[0]
    fake_civitai.files.faults.throttle_per_connection(128 * 1024)  # two seconds for the file
    config = tui_config(tmp_path, fake_civitai)
    app = make_app(config)
    async with app.run_test(size=(120, 40)) as pilot:
        app.add_urls([f"{fake_civitai.api_base}/models/{model.id}"])
        worker_list = app.query_one(WorkerList)
        key = f"file:{entry.id}"
        await wait_until(
            pilot,
            lambda: (
                (index := worker_list.index_of(key)) is not None
                and 0 < worker_list.rows[index].done < entry.size
            ),
        )
        await pilot.pause(0.3)
        row = worker_list.rows[worker_list.index_of(key) or 0]
        text = worker_list.render_row(row, 100).plain
        assert entry.name[:10] in text and "%" in text and "/s" in text
        assert "1 active" in str(app.query_one("#workers").border_subtitle)
        await wait_until(
            pilot, lambda: app.model.targets[f"model:{model.id}"].status is TargetStatus.DONE
        )
        await pilot.pause(0.3)
        assert worker_list.index_of(key) is None
        assert any(p.name == entry.name for p in config.root.rglob("*"))
        await pilot.press("ctrl+q")
