"""The TUI's sync and adopt actions, on the real engine and the fake CivitAI."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from textual.widgets import Input

from civittui.engine.events import TargetStatus
from civittui.tui.app import make_app
from civittui.tui.screens.path_prompt import PathPrompt
from civittui.tui.widgets.queue import TargetList
from tests.fakecivitai import FakeCivitai
from tests.test_library import _small_world
from tests.tui_support import tui_config, wait_until


@pytest.fixture
def fake() -> Iterator[FakeCivitai]:
    with FakeCivitai(_small_world) as server:
        yield server


def _done(app: object, key: str) -> bool:
    targets = app.model.targets  # type: ignore[attr-defined]
    return key in targets and targets[key].status is TargetStatus.DONE


async def test_sync_key_fetches_only_what_is_new_and_the_row_says_how_many(
    fake: FakeCivitai, tmp_path: Path
) -> None:
    config = tui_config(tmp_path, fake)
    app = make_app(config, urls=[f"{fake.api_base}/user/hana_kim"])
    async with app.run_test(size=(140, 40)) as pilot:
        await wait_until(pilot, lambda: _done(app, "user:hana_kim"))
        world = fake.world
        old = world.models_of(world.creator("hana_kim"))[0].versions[-1]
        post = world.add_post(world.creator("hana_kim"), old, title="late", images=2)
        fake.clear_requests()
        app.query_one(TargetList).focus()
        await pilot.press("u")
        for image in post.images:
            await wait_until(
                pilot, lambda i=image: any(config.root.rglob(f"{i.id}.txt")), timeout=20
            )
        await wait_until(pilot, lambda: _done(app, "user:hana_kim"))
        await pilot.pause(0.3)
        assert len(fake.requests_to("images")) == 2  # the two new images, nothing else
        row = app.query_one(TargetList).render_row(app.model.targets["user:hana_kim"], 140)
        assert "2 new" in row.plain
        await pilot.press("ctrl+q")


async def test_adopt_action_asks_for_a_folder_and_adopts_it(
    fake: FakeCivitai, tmp_path: Path
) -> None:
    config = tui_config(tmp_path, fake)
    entry = fake.world.models_of(fake.world.creator("kim"))[0].versions[0].files[0]
    folder = tmp_path / "old models"
    folder.mkdir()
    (folder / "base.safetensors").write_bytes(fake.files.read(entry.key))
    app = make_app(config)
    async with app.run_test(size=(140, 40)) as pilot:
        app.query_one(TargetList).focus()
        await pilot.press("i")
        await wait_until(pilot, lambda: isinstance(app.screen, PathPrompt))
        app.screen.query_one(Input).value = str(folder)
        await pilot.press("enter")
        await wait_until(pilot, lambda: (folder / "base.json").exists())
        await wait_until(pilot, lambda: app.store.item(f"file:{entry.id}") is not None)
        await pilot.press("ctrl+q")
