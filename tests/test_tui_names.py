"""Queue rows name what they mirror, with sizes and what is left; `c` clears finished targets."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import Input

from civittui.engine.events import TargetStatus
from civittui.store import Store
from civittui.tui.app import make_app
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
