"""A target that fails as a whole (user not found, network gone) is a failure like an item's."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from civittui.tui.launch import make_app
from civittui.tui.widgets.failures import FailureList
from tests.cli_helpers import Mirror, make_mirror
from tests.fakecivitai import FakeCivitai
from tests.tui_support import tui_config, wait_until


@pytest.fixture
def mirror(fake_civitai: FakeCivitai, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Mirror:
    return make_mirror(fake_civitai, tmp_path, monkeypatch)


def test_a_missing_user_is_listed_and_retry_key_runs_it_again(mirror: Mirror, capsys) -> None:
    url = mirror.url("/user/ghost")
    assert mirror.run("get", url) == 1
    capsys.readouterr()
    assert mirror.run("failures", "--json") == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["key"], r["name"]) for r in rows] == [("user:ghost", url)]
    assert rows[0]["reason"]
    assert mirror.run("failures") == 0
    assert "user:ghost" in capsys.readouterr().out
    # The user appears (a typo fixed on the server side, a network back): retry by key.
    world = mirror.fake.world
    ghost = world.add_creator("ghost")
    entry = world.add_model(ghost, "Boo", "Checkpoint").versions[0].files[0]
    assert mirror.run("retry", "user:ghost") == 0
    assert next(mirror.root.rglob(entry.name)).stat().st_size == entry.size
    capsys.readouterr()
    assert mirror.run("failures", "--json") == 0
    assert json.loads(capsys.readouterr().out) == []


def test_retry_all_runs_a_target_the_network_failed(mirror: Mirror) -> None:
    fake = mirror.fake
    creator = fake.world.add_creator("nina")
    entry = fake.world.add_model(creator, "Net", "Checkpoint").versions[0].files[0]
    fake.api_faults.inject("/api/v1/models", status=503, retry_after="0", times=50)
    assert mirror.run("get", mirror.url("/user/nina")) == 1
    fake.api_faults.clear()
    assert mirror.run("retry", "--all") == 0
    assert next(mirror.root.rglob(entry.name)).stat().st_size == entry.size
    assert mirror.run("retry", "--all") == 0  # nothing left: "nothing to retry"


async def test_the_failures_pane_shows_a_failed_target_and_r_retries_it(
    fake_civitai: FakeCivitai, tmp_path: Path
) -> None:
    config = tui_config(tmp_path, fake_civitai)
    app = make_app(config)
    async with app.run_test(size=(120, 40)) as pilot:
        app.add_urls([f"{fake_civitai.api_base}/user/ghost"])
        await wait_until(pilot, lambda: app.model.failure("user:ghost") is not None)
        await pilot.pause(0.3)
        failure_list = app.query_one(FailureList)
        assert [row.key for row in failure_list.rows] == ["user:ghost"]
        ghost = fake_civitai.world.add_creator("ghost")
        entry = fake_civitai.world.add_model(ghost, "Boo", "Checkpoint").versions[0].files[0]
        failure_list.focus()
        await pilot.press("r")
        await wait_until(pilot, lambda: app.model.failure("user:ghost") is None)
        await wait_until(pilot, lambda: any(config.root.rglob(entry.name)))
        await pilot.press("ctrl+q")
    assert app.return_code == 0


def test_an_image_civitai_lists_nothing_for_is_not_found_not_done(mirror: Mirror, capsys) -> None:
    """`/images/70255`, a typo: the API answers an empty page. That is a failure, not success."""
    url = mirror.url("/images/70255")
    assert mirror.run("get", url) == 1
    capsys.readouterr()
    assert mirror.run("failures", "--json") == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["key"], r["reason"].split(":")[0]) for r in rows] == [
        ("image:70255", "not found on CivitAI")
    ]
    assert mirror.run("status") == 1  # a gap, not "gaps 0"
    # A post that exists still mirrors, and the same image fetched with another target is no gap.
    post = mirror.fake.world.posts_of(mirror.fake.world.creator("alice"))[0]
    image = post.images[0]
    assert (
        mirror.run("get", mirror.url(f"/posts/{post.id}"), mirror.url(f"/images/{image.id}")) == 0
    )
