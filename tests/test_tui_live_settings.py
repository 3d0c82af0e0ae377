"""Settings and filter lists saved in the TUI apply to the running engine and to the CLI."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from textual.widgets import Input, OptionList, TextArea

from civittui.cli import main
from civittui.events import TargetStatus
from civittui.tui.launch import make_app
from civittui.tui.screens.choose import ChooseScreen
from civittui.tui.screens.settings import SettingsScreen
from civittui.tui.widgets.queue import TargetList
from tests.fakecivitai import FakeCivitai
from tests.tui_support import tui_config, wait_until


async def test_an_api_key_and_concurrency_saved_in_settings_apply_to_the_next_request(
    fake_civitai: FakeCivitai, tmp_path: Path
) -> None:
    config = replace(tui_config(tmp_path, fake_civitai), api_key="")
    post = fake_civitai.world.posts_of(fake_civitai.world.creator("carol"))[0]
    app = make_app(config)
    async with app.run_test(size=(120, 40)) as pilot:
        app.query_one(TargetList).focus()
        await pilot.press("s")
        assert isinstance(app.screen, SettingsScreen)
        app.screen.query_one("#api_key", Input).value = fake_civitai.api_key
        app.screen.query_one("#min_interval", Input).value = "0.07"
        app.screen.query_one("#images", Input).value = "1"
        await pilot.press("ctrl+s")
        assert not isinstance(app.screen, SettingsScreen)
        fake_civitai.clear_requests()
        # ~0.2 s an image (they are ~100 bytes): each one stays in flight long enough to be
        # seen, and with more than one allowed they would overlap.
        fake_civitai.images.faults.throttle_shared(500)
        key = f"post:{post.id}"
        app.add_urls([f"{fake_civitai.api_base}/posts/{post.id}"])
        most = 0

        def done() -> bool:
            nonlocal most
            most = max(most, sum(k.startswith("image:") for k in app.model.workers))
            target = app.model.targets.get(key)
            return target is not None and target.status is TargetStatus.DONE

        await wait_until(pilot, done, timeout=60)
        assert most == 1  # one image at a time, as just set (the default is 4)
        calls = fake_civitai.requests_to("api")
        assert calls
        for call in calls:
            authorization = {k.lower(): v for k, v in call.headers.items()}.get("authorization")
            assert authorization == f"Bearer {fake_civitai.api_key}"
        assert app.engine._gate._rate.min_interval == 0.07
        await pilot.press("ctrl+q")


async def test_a_list_edited_in_the_tui_is_used_by_the_next_download_and_by_refilter(
    fake_civitai: FakeCivitai, tmp_path: Path
) -> None:
    # No filters_dir in the config: the editor's folder beside the config file is the one.
    config = replace(tui_config(tmp_path, fake_civitai), filters_dir=None)
    config.config_file.write_text("", "utf-8")  # type: ignore[union-attr]
    world = fake_civitai.world
    post = world.posts_of(world.creator("carol"))[0]
    image = post.images[0]
    token = "wunderkammer"
    image.meta = {**(image.meta or {}), "prompt": f"1girl, {token}, smile"}
    app = make_app(config)
    async with app.run_test(size=(120, 40)) as pilot:
        app.query_one(TargetList).focus()
        await pilot.press("p")  # nothing downloads before the list is saved
        app.prompt_actions.choose_list_to_edit()
        await pilot.pause()
        assert isinstance(app.screen, ChooseScreen)
        app.screen.query_one(OptionList).highlighted = 2  # etc
        await pilot.press("enter")
        area = app.query_one("#filter-text", TextArea)
        area.move_cursor(area.document.end)
        area.insert(f"\n{token}\n")
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert (tmp_path / "filters" / "etc.txt").read_text("utf-8").splitlines()[-1] == token
        app.query_one(TargetList).focus()
        await pilot.press("p")
        key = f"post:{post.id}"
        app.add_urls([f"{fake_civitai.api_base}/posts/{post.id}"])
        await wait_until(
            pilot,
            lambda: key in app.model.targets and app.model.targets[key].status is TargetStatus.DONE,
        )
        await pilot.press("ctrl+q")
    (sidecar,) = config.root.rglob(f"{image.id}.txt")
    filtered = json.loads(sidecar.read_text("utf-8"))["filtered"]
    assert token not in filtered["prompt"] and token in filtered["removed"]["etc"]
    # refilter reads the same folder: a list edited after the download re-filters the sidecar
    (tmp_path / "filters" / "etc.txt").write_text("# etc\nsmile\n", "utf-8")
    args = ["--config", str(config.config_file), "--root", str(config.root)]
    assert main(["refilter", *args]) == 0
    filtered = json.loads(sidecar.read_text("utf-8"))["filtered"]
    assert token in filtered["prompt"] and "smile" in filtered["removed"]["etc"]
