"""Queue rows name what they mirror, with sizes and what is left; `c` clears finished targets."""

from __future__ import annotations

import io
from pathlib import Path

from rich.console import Console
from textual.widgets import Input

from civittui.events import TargetStatus
from civittui.state import Store
from civittui.tui.launch import make_app
from civittui.tui.screens.log import LogScreen
from civittui.tui.widgets.queue import TargetList
from tests.fakecivitai import FakeCivitai
from tests.tui_support import tui_config, wait_until


async def test_a_row_shows_the_model_name_and_size_and_keeps_them_after_a_restart(
    fake_civitai: FakeCivitai, tmp_path: Path
) -> None:
    world = fake_civitai.world
    model = world.add_model(world.add_creator("erin"), "Maid [b]Classic[/b]", file_size=300_000)
    entry = model.versions[0].files[0]
    config = tui_config(tmp_path, fake_civitai)
    key = f"model:{model.id}"
    app = make_app(config)
    async with app.run_test(size=(160, 40)) as pilot:
        app.add_urls([f"{fake_civitai.api_base}/models/{model.id}"])
        await wait_until(
            pilot,
            lambda: key in app.model.targets and app.model.targets[key].status is TargetStatus.DONE,
        )
        target = app.model.targets[key]
        assert target.name == "Maid [b]Classic[/b]"
        assert target.bytes_done >= entry.size and target.bytes_found == target.bytes_done
        text = app.query_one(TargetList).render_row(target, 150).plain
        assert "Maid [b]Classic[/b]" in text  # shown as written, not parsed as markup
        assert "KiB/" in text
        await pilot.press("ctrl+q")
    with Store.open(config.state_path) as store:
        (record,) = store.targets()
        assert record.name == "Maid [b]Classic[/b]" and record.bytes_done == target.bytes_done
    again = make_app(config)
    async with again.run_test(size=(160, 40)) as pilot:
        await pilot.pause()
        row = again.query_one(TargetList).rows[0]
        assert row.name == "Maid [b]Classic[/b]" and row.bytes_done == target.bytes_done
        again.add_urls([f"{fake_civitai.api_base}/models/{model.id}"])  # counted afresh
        assert again.engine.targets()[0].status is TargetStatus.QUEUED
        await wait_until(pilot, lambda: again.engine.targets()[0].status is TargetStatus.DONE)
        assert again.engine.targets()[0].bytes_done == target.bytes_done
        await pilot.press("ctrl+q")


async def test_c_clears_finished_targets_from_the_queue_and_the_state_not_their_files(
    fake_civitai: FakeCivitai, tmp_path: Path
) -> None:
    world = fake_civitai.world
    model = world.add_model(world.add_creator("fern"), "Quick One", file_size=10_000)
    config = tui_config(tmp_path, fake_civitai)
    done_key = f"model:{model.id}"
    app = make_app(config)
    async with app.run_test(size=(120, 40)) as pilot:
        app.add_urls([f"{fake_civitai.api_base}/models/{model.id}"])
        await wait_until(
            pilot,
            lambda: (
                done_key in app.model.targets
                and app.model.targets[done_key].status is TargetStatus.DONE
            ),
        )
        app.query_one(TargetList).focus()
        await pilot.press("p")  # hold the next one in the queue
        app.query_one("#url", Input).focus()
        await pilot.press(*"civitai.com/user/nobody_here", "enter")
        app.query_one(TargetList).focus()
        await pilot.pause()
        shown = app.screen.active_bindings["c"].binding
        assert shown.show and shown.description == "Clear done"  # in the footer
        await pilot.press("c")
        await pilot.pause()
        assert [t.key for t in app.query_one(TargetList).rows] == ["user:nobody_here"]
        assert [t.key for t in app.engine.targets()] == ["user:nobody_here"]
        await pilot.press("ctrl+q")
    with Store.open(config.state_path) as store:
        assert [t.key for t in store.targets()] == ["user:nobody_here"]
        assert store.item(f"file:{model.versions[0].files[0].id}") is not None
    assert any(p.suffix == ".safetensors" for p in config.root.rglob("*"))


async def test_n_shows_every_notice_and_where_each_download_went(
    fake_civitai: FakeCivitai, tmp_path: Path
) -> None:
    post = fake_civitai.world.posts_of(fake_civitai.world.creator("carol"))[0]
    config = tui_config(tmp_path, fake_civitai)
    app = make_app(config)
    async with app.run_test(size=(120, 40)) as pilot:
        app.query_one(TargetList).focus()
        app.add_urls([f"{fake_civitai.api_base}/posts/{post.id}"])
        key = f"post:{post.id}"
        await wait_until(
            pilot,
            lambda: key in app.model.targets and app.model.targets[key].status is TargetStatus.DONE,
        )
        await wait_until(pilot, lambda: len(app.run_log.downloads) == len(post.images))
        app.notify("a [b]notice[/b] from a server\x1b[31m")
        await pilot.press("n")
        assert isinstance(app.screen, LogScreen)
        console = Console(width=400, record=True, file=io.StringIO())
        console.print(app.screen.notices_table(), app.screen.downloads_table())
        text = console.export_text()
        assert "a [b]notice[/b] from a server" in text and "\x1b" not in text
        for image in post.images:
            (saved,) = [p for p in config.root.rglob(f"{image.id}.*") if p.suffix != ".txt"]
            assert f"{image.id}  →  {saved}" in text
        await pilot.press("escape")
        assert not isinstance(app.screen, LogScreen)
        await pilot.press("ctrl+q")


async def test_a_target_a_stop_cut_short_counts_its_bytes_once_when_resumed(
    fake_civitai: FakeCivitai, tmp_path: Path
) -> None:
    """A resumed target is crawled again and its done items recounted: bytes start from 0."""
    from civittui.engine.runner import Engine

    world = fake_civitai.world
    model = world.add_model(world.add_creator("fay"), "Half Way", file_size=200_000)
    config = tui_config(tmp_path, fake_civitai)
    url = f"{fake_civitai.api_base}/models/{model.id}"
    with Store.open(config.state_path) as store:
        engine = Engine(config, store)
        engine.add_urls([url])
        await engine.serve(until_idle=True)
        (first,) = engine.targets()
        assert first.status is TargetStatus.DONE and first.bytes_done > 0
        # What a stop in the middle of the crawl leaves behind: the target still crawling.
        store.upsert_target(first.key, url, status="crawling")
    with Store.open(config.state_path) as store:
        engine = Engine(config, store, resume_queue=True)
        assert engine.targets()[0].status is TargetStatus.QUEUED
        await engine.serve(until_idle=True)
        (again,) = engine.targets()
        assert again.status is TargetStatus.DONE
        assert (again.bytes_done, again.bytes_found) == (first.bytes_done, first.bytes_found)
