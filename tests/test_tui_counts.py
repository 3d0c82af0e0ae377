"""Honest numbers and words in the TUI: retry counts, plurals, empty-search text."""

from __future__ import annotations

from pathlib import Path

from civittui.engine.events import TargetStatus
from civittui.tui.app import CivittuiApp, make_app
from civittui.tui.screens.failure_details import FailureDetails
from civittui.tui.widgets.failures import FailureList
from tests.fakecivitai import FakeCivitai
from tests.tui_support import tui_config, wait_until


def _screen_text(app: CivittuiApp) -> str:
    strips = app.screen._compositor.render_strips()
    return "\n".join("".join(segment.text for segment in strip) for strip in strips)


def _bad_hash_model(fake: FakeCivitai) -> int:
    return next(m.id for m in fake.world.models.values() if m.name == "Bad Hash")


def _settled_after(app: CivittuiApp, key: str, file_key: str, attempts: int) -> bool:
    target = app.model.targets.get(key)
    row = app.model.failure(file_key)
    return (
        target is not None
        and target.status is TargetStatus.FAILED
        and row is not None
        and row.event.attempts == attempts
        and row.state == "failed"
    )


async def test_retrying_a_failure_again_and_again_counts_it_once(
    fake_civitai: FakeCivitai, tmp_path: Path
) -> None:
    model_id = _bad_hash_model(fake_civitai)
    key = f"model:{model_id}"
    app = make_app(
        tui_config(tmp_path, fake_civitai), urls=[f"{fake_civitai.api_base}/models/{model_id}"]
    )
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: bool(app.model.failures) and key in app.model.targets)
        file_key = app.model.failures[0].key
        await wait_until(pilot, lambda: _settled_after(app, key, file_key, 1))
        assert app.model.targets[key].failed == 1
        failures = app.query_one(FailureList)
        failures.focus()
        for attempts, press in ((2, "r"), (3, "R"), (4, "r")):
            await wait_until(pilot, lambda: getattr(failures.highlighted, "key", "") == file_key)
            await pilot.press(press)
            if press == "R":  # the same wrong bytes twice made it permanent: R asks first
                await wait_until(pilot, lambda: type(app.screen).__name__ == "ConfirmScreen")
                await pilot.press("y")
            await wait_until(pilot, lambda a=attempts: _settled_after(app, key, file_key, a))
            target = app.model.targets[key]
            assert target.failed == 1, (
                f"after {press}: {target.done}/{target.failed}/{target.found}"
            )

        # The details say where it came from and was going, and what a retry can do.
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, FailureDetails))
        text = _screen_text(app)
        version_id = fake_civitai.world.models[model_id].versions[0].id
        assert f"/models/{model_id}?modelVersionId={version_id}" in text
        assert "bad_hash.safetensors" in text and "file  -" not in text
        assert "bad file on CivitAI" in text
        assert "disk" not in text and "retryable" not in text
        await pilot.press("escape", "ctrl+q")


async def test_one_target_and_one_failure_are_singular(tmp_path: Path) -> None:
    app = make_app(tui_config(tmp_path), urls=["https://civitai.com/images/5"])
    async with app.run_test(size=(120, 40)) as pilot:
        app.action_toggle_pause()
        queue = app.query_one("#queue")
        await wait_until(pilot, lambda: str(queue.border_subtitle).startswith("1 target "))
        assert str(queue.border_subtitle) in (
            "1 target · 1 item queued",
            "1 target · 0 items queued",
        )
        await pilot.press("ctrl+q")
