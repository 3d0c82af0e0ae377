"""Copy a prompt, its filtered form and trigger words; open the model page and the folder."""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path

import pytest

from civittui.events import TargetStatus
from civittui.tui.launch import make_app
from civittui.tui.opener import OPENER_ENV, OpenError, civitai_url
from civittui.tui.widgets.prompt_list import PromptList
from tests.fakecivitai import FakeCivitai
from tests.tui_support import tui_config, wait_until

_RECORDER = """
import json, sys
with open(sys.argv[1], "a", encoding="utf-8") as out:
    out.write(json.dumps(sys.argv[2:]) + "\\n")
"""


def _recorded(path: Path) -> list[list[str]]:
    """The argv lists the stand-in opener recorded so far."""
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text("utf-8").splitlines()]


async def test_copy_and_open_from_the_prompts_pane(
    fake_civitai: FakeCivitai, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = fake_civitai.world
    gina = world.add_creator("gina")
    model = world.add_model(gina, "Gina Style", file_size=10_000)
    version = model.versions[0]
    version.trained_words = ["gina style", "soft light"]
    world.add_post(gina, version, images=1, kinds=["png"])
    script = tmp_path / "opener.py"
    script.write_text(_RECORDER, "utf-8")
    record = tmp_path / "opened.jsonl"
    monkeypatch.setenv(OPENER_ENV, shlex.join([sys.executable, str(script), str(record)]))
    config = tui_config(tmp_path, fake_civitai)
    app = make_app(config)
    async with app.run_test(size=(120, 40)) as pilot:
        key = f"model:{model.id}"
        app.add_urls([f"{fake_civitai.api_base}/models/{model.id}"])
        await wait_until(
            pilot,
            lambda: key in app.model.targets and app.model.targets[key].status is TargetStatus.DONE,
        )
        prompt_list = app.query_one(PromptList)
        await wait_until(pilot, lambda: len(prompt_list.rows) == 1)
        entry = prompt_list.rows[0]
        assert entry.sidecar is not None
        app.action_show_pane("prompts")
        await pilot.pause()
        await pilot.press("y")
        assert app.clipboard == entry.prompt
        await pilot.press("Y")
        filtered = app.prompt_actions.filters.apply(entry.prompt).prompt
        assert app.clipboard == filtered
        await pilot.press("w")
        assert app.clipboard == "gina style, soft light"
        await pilot.press("o")  # one at a time: two openers may finish in any order
        await wait_until(pilot, lambda: len(_recorded(record)) == 1)
        await pilot.press("O")
        await wait_until(pilot, lambda: len(_recorded(record)) == 2)
        page, folder = _recorded(record)
        assert page == [f"https://civitai.com/models/{model.id}?modelVersionId={version.id}"]
        assert folder == [str(entry.sidecar.parent)]
        await pilot.press("ctrl+q")


def test_only_civitai_pages_are_opened() -> None:
    assert civitai_url("https://civitai.com/models/1?modelVersionId=2")
    for bad in (
        "http://civitai.com/models/1",
        "https://civitai.com.evil.example/models/1",
        "https://user:pw@civitai.com/",
        "file:///etc/passwd",
        "javascript:alert(1)",
    ):
        with pytest.raises(OpenError):
            civitai_url(bad)
