"""A failure waits for `retry`: a start resumes only what was interrupted, and the same wrong
bytes twice are a bad file on CivitAI, not fetched again by themselves."""

from __future__ import annotations

import json
from pathlib import Path

import anyio
import pytest

from civittui.config import Config, load_config
from civittui.engine.events import TargetStatus
from civittui.engine.runner import Engine
from civittui.store import Store
from tests.cli_helpers import Mirror, make_mirror
from tests.fakecivitai import FakeCivitai


@pytest.fixture
def mirror(fake_civitai: FakeCivitai, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Mirror:
    return make_mirror(fake_civitai, tmp_path, monkeypatch)


def _bad_hash_model(mirror: Mirror):
    creator = mirror.fake.world.creator("bob")
    return next(m for m in mirror.fake.world.models_of(creator) if m.name == "Bad Hash")


def _config(mirror: Mirror) -> Config:
    options = {
        "root": str(mirror.root),
        "lora_dir": str(mirror.lora),
        "api_base": mirror.fake.api_base,
        "api_key": mirror.fake.api_key,
        "rate.min_interval": "0",
    }
    return load_config(config_path=mirror.config_file, options=options)


def _downloads(mirror: Mirror) -> list[str]:
    return [r.path for r in mirror.fake.requests if r.path.startswith("/api/download/")]


def _failures(mirror: Mirror, capsys: pytest.CaptureFixture[str]) -> list[dict]:
    capsys.readouterr()
    assert mirror.run("failures", "--json") == 0
    return json.loads(capsys.readouterr().out)


def test_a_start_does_not_run_a_failed_target_again(mirror: Mirror) -> None:
    bad = _bad_hash_model(mirror)
    assert mirror.run("get", mirror.url(f"/models/{bad.id}")) == 1
    mirror.fake.clear_requests()
    with Store.open(_config(mirror).state_path) as store:
        engine = Engine(_config(mirror), store, resume_queue=True)
        (target,) = engine.targets()
        assert target.status is TargetStatus.FAILED and target.failed == 1
        anyio.run(lambda: engine.serve(until_idle=True))
        assert engine.targets()[0].status is TargetStatus.FAILED
    assert _downloads(mirror) == []  # no file fetched again


def test_a_resumed_target_leaves_its_failed_items_to_retry(mirror: Mirror) -> None:
    bad = _bad_hash_model(mirror)
    assert mirror.run("get", mirror.url(f"/models/{bad.id}")) == 1
    config = _config(mirror)
    with Store.open(config.state_path) as store:  # as a stop mid-crawl leaves it
        (record,) = store.targets()
        store.upsert_target(record.key, record.url, status="crawling")
    mirror.fake.clear_requests()
    with Store.open(config.state_path) as store:
        engine = Engine(config, store, resume_queue=True)
        assert engine.targets()[0].status is TargetStatus.QUEUED
        anyio.run(lambda: engine.serve(until_idle=True))
        target = engine.targets()[0]
        assert target.status is TargetStatus.FAILED and target.failed == 1
    assert _downloads(mirror) == []


def test_the_same_wrong_bytes_twice_are_a_permanent_bad_file(
    mirror: Mirror, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = _bad_hash_model(mirror)
    key = f"file:{bad.versions[0].files[0].id}"
    assert mirror.run("get", mirror.url(f"/models/{bad.id}")) == 1
    (row,) = _failures(mirror, capsys)
    assert row["permanent"] is False and row["reason"].startswith("SHA256 mismatch")
    assert mirror.run("retry", "--all") == 1
    (row,) = _failures(mirror, capsys)
    assert row["attempts"] == 2 and row["permanent"] is True
    assert row["reason"].startswith("bad file on CivitAI: the same wrong bytes twice")
    mirror.fake.clear_requests()
    assert mirror.run("retry", "--all") == 0
    assert "nothing to retry" in capsys.readouterr().err
    assert mirror.run("get", mirror.url(f"/models/{bad.id}")) == 1  # listed, not fetched
    assert _downloads(mirror) == []
    assert mirror.run("retry", key) == 1  # asked for by its key: tried once more
    assert len(_downloads(mirror)) == 1
    assert _failures(mirror, capsys)[0]["attempts"] == 3
