"""Failures, retry, early access, stored cool-downs and kill -9, through the real CLI."""

from __future__ import annotations

import json
import signal
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.cli_helpers import Mirror, make_mirror, sha256_file
from tests.fakecivitai import FakeCivitai


@pytest.fixture
def mirror(fake_civitai: FakeCivitai, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Mirror:
    return make_mirror(fake_civitai, tmp_path, monkeypatch)


def _model(fake: FakeCivitai, username: str, name: str):
    creator = fake.world.creator(username)
    return next(m for m in fake.world.models_of(creator) if m.name == name)


def _failures(mirror: Mirror, capsys) -> list[dict]:
    capsys.readouterr()
    assert mirror.run("failures", "--json") == 0
    return json.loads(capsys.readouterr().out)


def test_retry_one_key_after_fixing_the_cause(mirror: Mirror, capsys) -> None:
    locked = _model(mirror.fake, "bob", "Members Only")
    entry = locked.versions[0].files[0]
    assert mirror.run("get", mirror.url(f"/models/{locked.id}"), key=False) == 1
    rows = _failures(mirror, capsys)
    assert [r["key"] for r in rows] == [f"file:{entry.id}"]
    assert rows[0]["reason"].startswith("login required: set an API key")
    assert rows[0]["attempts"] == 1 and rows[0]["permanent"] is False
    assert mirror.run("retry", f"file:{entry.id}") == 0
    assert sha256_file(next(mirror.root.rglob(entry.name))) == entry.content_sha256
    assert _failures(mirror, capsys) == []


def test_permanent_failures_are_skipped_by_retry_all(mirror: Mirror, capsys) -> None:
    fake = mirror.fake
    locked = _model(fake, "bob", "Members Only")
    version = locked.versions[0]
    entry = version.files[0]
    fake.api_faults.inject(f"/api/download/models/{version.id}", status=404, times=1)
    assert mirror.run("get", mirror.url(f"/models/{locked.id}")) == 1
    rows = _failures(mirror, capsys)
    assert rows[0]["permanent"] is True and rows[0]["http_status"] == 404
    fake.clear_requests()
    assert mirror.run("retry", "--all") == 0
    assert not [r for r in fake.requests if r.path.startswith("/api/download/")]
    assert "nothing to retry" in capsys.readouterr().err
    assert mirror.run("retry", "--all", "--include-permanent") == 0
    assert sha256_file(next(mirror.root.rglob(entry.name))) == entry.content_sha256


def test_retry_all_counts_attempts(mirror: Mirror, capsys) -> None:
    bad = _model(mirror.fake, "bob", "Bad Hash")
    assert mirror.run("get", mirror.url(f"/models/{bad.id}")) == 1
    assert mirror.run("retry", "--all") == 1
    rows = _failures(mirror, capsys)
    assert rows[0]["attempts"] == 2
    # the same wrong digest twice: see tests/test_failed_waits.py
    assert rows[0]["reason"].startswith("bad file on CivitAI")
    assert "SHA256 mismatch" in rows[0]["reason"]
    assert not list(mirror.root.rglob("bad_hash.safetensors"))


def test_early_access_is_fetched_by_itself_once_the_date_passes(mirror: Mirror, capsys) -> None:
    fake = mirror.fake
    early = _model(fake, "bob", "Early Bird")
    version = early.versions[0]
    now = datetime.now(UTC)
    fake.world.now = now
    version.early_access_deadline = now + timedelta(seconds=2)
    assert mirror.run("get", mirror.url(f"/models/{early.id}")) == 1
    rows = _failures(mirror, capsys)
    assert rows[0]["reason"].startswith("early access until")
    assert rows[0]["retry_at"] is not None
    time.sleep(2.2)
    fake.world.now = datetime.now(UTC)
    # An unrelated run picks the due item up by itself.
    assert mirror.run("get", mirror.url("/user/carol/images")) == 0
    entry = version.files[0]
    assert sha256_file(next(mirror.root.rglob(entry.name))) == entry.content_sha256
    assert _failures(mirror, capsys) == []


def test_429_cool_down_survives_a_restart(mirror: Mirror) -> None:
    fake = mirror.fake
    (mirror.config_file).write_text("[rate]\nretries = 0\n", "utf-8")
    fake.api_faults.inject("/api/v1/models", status=429, retry_after="3", times=1)
    assert mirror.run("get", mirror.url("/user/carol")) == 1
    limited = [r for r in fake.requests if r.status == 429]
    assert len(limited) == 1
    assert mirror.run("get", mirror.url("/user/carol/images")) == 0
    after = [r for r in fake.requests if r.server == "api" and r.started > limited[0].started]
    assert after and after[0].started - limited[0].started >= 3.0 - 0.05


def test_status_explains_every_gap(mirror: Mirror, capsys) -> None:
    url = mirror.url("/user/bob")
    assert mirror.run("get", url, key=False) == 1
    capsys.readouterr()
    assert mirror.run("status", url, "--json", key=False) == 1
    audit = json.loads(capsys.readouterr().out)[0]
    kinds = {gap["kind"] for gap in audit["gaps"]}
    assert {"login required", "early access", "failed"} <= kinds
    assert audit["listed"] == audit["verified"] + len(audit["gaps"])
    # a file that vanished after it was done is a gap too
    done = next(p for p in (mirror.root / "Users" / "bob").rglob("*.png"))
    done.unlink()
    assert mirror.run("status", "--json", key=False) == 1
    offline = json.loads(capsys.readouterr().out)
    assert any(g["kind"] == "vanished" for a in offline for g in a["gaps"])


def test_corrupt_state_is_a_clear_error_with_a_way_out(mirror: Mirror, capsys) -> None:
    state = mirror.root / ".civittui" / "state.json"
    state.parent.mkdir(parents=True)
    state.write_text('{"image": {"1": ', "utf-8")
    assert mirror.run("get", mirror.url("/user/carol/images")) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "state.json" in err and "corrupt" in err
    assert state.read_text("utf-8") == '{"image": {"1": '  # never destroyed
    assert "civittui status --reset-state" in err
    assert mirror.run("status", "--reset-state") == 0
    moved = [p for p in state.parent.iterdir() if p.name.startswith("state.json.corrupt")]
    assert len(moved) == 1 and moved[0].read_text("utf-8") == '{"image": {"1": '
    assert mirror.run("get", mirror.url("/user/carol/images")) == 0


def test_kill_9_at_any_moment_loses_nothing(mirror: Mirror) -> None:
    fake = mirror.fake
    fake.images.faults.slow_body(None, 0.03)
    url = mirror.url("/user/alice")
    state = mirror.root / ".civittui" / "state.json"
    for delay in (0.8, 1.3, 1.9, 2.6):
        proc = mirror.spawn("get", url)
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.communicate()
        if state.exists():
            json.loads(state.read_text("utf-8"))  # always complete, valid JSON
    done_before = {
        p.name for p in (mirror.root / "Users").rglob("*") if p.is_file() and p.suffix != ".part"
    }
    fake.images.faults.reset()
    fake.clear_requests()
    assert mirror.run("get", url) == 0
    fetched = [r.path.rsplit("/", 3) for r in fake.requests if r.server == "images"]
    fetched_ids = {parts[1] for parts in fetched if len(parts) == 4}
    creator = fake.world.creator("alice")
    uuid_of = {
        f"{image.id}": image.uuid for post in fake.world.posts_of(creator) for image in post.images
    }
    for name in done_before:
        stem, _, suffix = name.partition(".")
        if stem in uuid_of and suffix != "txt":
            assert uuid_of[stem] not in fetched_ids, f"{name} was downloaded twice"
    for post in fake.world.posts_of(creator):
        for image in post.images:
            assert next((mirror.root / "Users").rglob(f"{image.id}.txt"))


def test_a_done_file_that_vanished_is_fetched_again(mirror: Mirror) -> None:
    url = mirror.url("/user/carol/images")
    assert mirror.run("get", url) == 0
    images = sorted(p for p in (mirror.root / "Posts").rglob("*") if p.suffix in (".png", ".webp"))
    gone = images[0]
    served = gone.read_bytes()
    gone.unlink()
    mirror.fake.clear_requests()
    assert mirror.run("get", url) == 0
    assert gone.read_bytes() == served
    assert len([r for r in mirror.fake.requests if r.server == "images"]) == 1


def test_retry_all_picks_up_items_an_interrupted_retry_left_pending(mirror: Mirror) -> None:
    from civittui.store import Store

    locked = _model(mirror.fake, "bob", "Members Only")
    entry = locked.versions[0].files[0]
    assert mirror.run("get", mirror.url(f"/models/{locked.id}"), key=False) == 1
    with Store.open(mirror.root / ".civittui" / "state.json") as store:
        record = store.item(f"file:{entry.id}")
        assert record is not None
        store.mark_pending(record.key, target=record.target, name=record.name, spec=None)
    assert mirror.run("retry", "--all") == 0
    assert sha256_file(next(mirror.root.rglob(entry.name))) == entry.content_sha256


def test_status_names_what_the_nsfw_setting_hides(mirror: Mirror, capsys) -> None:
    fake = mirror.fake
    url = mirror.url("/user/bob")
    assert mirror.run("get", url, "--nsfw", "soft") in (0, 1)
    capsys.readouterr()
    assert mirror.run("status", url, "--json", "--nsfw", "soft") == 1
    audit = json.loads(capsys.readouterr().out)[0]
    hidden = {g["key"] for g in audit["gaps"] if g["kind"] == "hidden by nsfw"}
    creator = fake.world.creator("bob")
    mature = {
        f"image:{image.id}"
        for post in fake.world.posts_of(creator)
        if post.model_version_id is not None
        for image in post.images
        if image.nsfw_level > 2
    }
    assert hidden and hidden == mature
    assert audit["listed"] == audit["verified"] + len(audit["gaps"])
    # at every level nothing is hidden any more
    assert mirror.run("status", url, "--json") == 1
    audit = json.loads(capsys.readouterr().out)[0]
    assert not [g for g in audit["gaps"] if g["kind"] == "hidden by nsfw"]
