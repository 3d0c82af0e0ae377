"""Pause stops running downloads at once (their finished ranges kept); resume goes on from them."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import anyio
import pytest

from civittui.config import load_config
from civittui.engine.runner import Engine
from civittui.state import ItemStatus, Store
from tests.cli_helpers import Mirror, kept_bytes, make_mirror, sha256_file
from tests.fakecivitai import FakeCivitai

_SIZE = 3 * 1024 * 1024


@pytest.fixture
def mirror(fake_civitai: FakeCivitai, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Mirror:
    return make_mirror(fake_civitai, tmp_path, monkeypatch)


async def _until(what: Callable[[], bool], seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while not what():
        assert time.monotonic() < deadline, "timed out"
        await anyio.sleep(0.02)


async def test_pause_stops_the_transfer_and_resume_continues_from_its_ranges(
    mirror: Mirror,
) -> None:
    fake = mirror.fake
    creator = fake.world.add_creator("hank")
    model = fake.world.add_model(creator, "Slow Pause", "Checkpoint", files=0)
    entry = fake.world.add_file(model.versions[0], "pause.safetensors", size=_SIZE)
    fake.files.faults.throttle_per_connection(256 * 1024)
    config = load_config(
        config_path=mirror.config_file,
        options={
            "root": str(mirror.root),
            "api_base": fake.api_base,
            "rate.min_interval": "0",
        },
    )
    with Store.open(config.state_path) as store:
        engine = Engine(config, store)
        engine.add_urls([mirror.url(f"/models/{model.id}")])
        async with anyio.create_task_group() as tg:
            tg.start_soon(lambda: engine.serve(until_idle=True))
            await _until(lambda: kept_bytes(mirror.root, entry.name) > 0)
            engine.pause()
            await _until(lambda: engine.transferring == 0)  # stopped, not finishing
            kept = kept_bytes(mirror.root, entry.name)
            assert 0 < kept < _SIZE
            record = store.item(f"file:{entry.id}")
            assert record is None or record.status is ItemStatus.PENDING
            (target,) = engine.targets()
            assert target.failed == 0 and target.done == 1  # the metadata only
            before = len(fake.requests_to("files"))
            fake.files.faults.throttle_per_connection(None)
            engine.resume()
        summary = engine.summary
    assert (summary.done, summary.failed) == (2, 0)  # the file and its version's metadata
    assert sha256_file(next(mirror.root.rglob(entry.name))) == entry.content_sha256
    after = [r for r in fake.requests_to("files")[before:] if r.status]
    assert after, "resume fetched nothing"
    # From the finished ranges: no request after the pause starts the file over.
    assert all(r.range and not r.range.startswith("bytes=0-") for r in after)
