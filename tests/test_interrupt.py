"""Ctrl+C during a model download: the item stays pending and resumable, the target not done."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from civittui.state import ItemStatus, Store
from tests.cli_helpers import Mirror, kept_bytes, make_mirror, sha256_file
from tests.fakecivitai import FakeCivitai

pytestmark = pytest.mark.skipif(os.name == "nt", reason="SIGINT to a child is a POSIX signal")

_SIZE = 3 * 1024 * 1024


@pytest.fixture
def mirror(fake_civitai: FakeCivitai, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Mirror:
    return make_mirror(fake_civitai, tmp_path, monkeypatch)


def _wait_for(what: Callable[[], bool], seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while not what():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_ctrl_c_during_a_model_download_keeps_it_pending_and_resumable(mirror: Mirror) -> None:
    fake = mirror.fake
    creator = fake.world.add_creator("ivan")
    model = fake.world.add_model(creator, "Slow One", "Checkpoint", files=0)
    entry = fake.world.add_file(model.versions[0], "slow.safetensors", size=_SIZE)
    fake.files.faults.throttle_per_connection(256 * 1024)
    url = mirror.url(f"/models/{model.id}")
    proc = mirror.spawn("get", url)
    try:
        _wait_for(lambda: kept_bytes(mirror.root, entry.name) > 0 or proc.poll() is not None)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert "Traceback" not in err

    state = mirror.root / ".civittui" / "state.json"
    with Store.open(state, read_only=True) as store:
        target = next(t for t in store.targets() if t.key.startswith("model:"))
        assert target.status != "done"
        record = store.item(f"file:{entry.id}")
        assert record is not None and record.status is ItemStatus.PENDING
        assert record.spec and record.spec["type"] == "file"
    assert next(mirror.root.rglob(f"{entry.name}.part"))  # the bytes it had stay

    # Offline status sees the gap and says so with its exit code.
    assert mirror.run("status") == 1

    # `retry --all` resumes it from the `.part` (a ranged request, not from byte 0).
    fake.files.faults.throttle_per_connection(None)
    fake.clear_requests()
    assert mirror.run("retry", "--all") == 0
    assert sha256_file(next(mirror.root.rglob(entry.name))) == entry.content_sha256
    ranged = [r for r in fake.requests if r.server == "files" and r.status == 206]
    assert ranged and all(not (r.range or "").startswith("bytes=0-") for r in ranged)
    with Store.open(state, read_only=True) as store:
        done = store.item(f"file:{entry.id}")
        assert done is not None and done.status is ItemStatus.DONE
    assert mirror.run("status") == 0


def test_an_interrupted_target_is_resumed_by_the_next_queue_start(mirror: Mirror) -> None:
    """The TUI starts with the stored queue: an interrupted target must be queued, not done."""
    import anyio

    from civittui.config import load_config
    from civittui.engine.runner import Engine

    fake = mirror.fake
    creator = fake.world.add_creator("judy")
    model = fake.world.add_model(creator, "Slow Two", "Checkpoint", files=0)
    entry = fake.world.add_file(model.versions[0], "slow2.safetensors", size=_SIZE)
    fake.files.faults.throttle_per_connection(256 * 1024)
    proc = mirror.spawn("get", mirror.url(f"/models/{model.id}"))
    try:
        _wait_for(lambda: kept_bytes(mirror.root, entry.name) > 0 or proc.poll() is not None)
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130
    fake.files.faults.throttle_per_connection(None)

    config = load_config(
        config_path=mirror.config_file,
        options={
            "root": str(mirror.root),
            "lora_dir": str(mirror.lora),
            "api_base": fake.api_base,
            "api_key": fake.api_key,
            "rate.min_interval": "0",
        },
    )
    with Store.open(config.state_path) as store:
        engine = Engine(config, store, resume_queue=True)
        assert [t.status for t in engine.targets()] == ["queued"]
        summary = anyio.run(lambda: engine.serve(until_idle=True))
    assert summary.failed == 0
    assert sha256_file(next(mirror.root.rglob(entry.name))) == entry.content_sha256


async def test_ctrl_q_in_the_app_keeps_the_download_pending_and_the_next_start_resumes_it(
    fake_civitai: FakeCivitai, tmp_path: Path
) -> None:
    from civittui.tui.launch import make_app
    from tests.tui_support import tui_config, wait_until

    fake = fake_civitai
    creator = fake.world.add_creator("kate")
    model = fake.world.add_model(creator, "Slow Three", "Checkpoint", files=0)
    entry = fake.world.add_file(model.versions[0], "slow3.safetensors", size=_SIZE)
    fake.files.faults.throttle_per_connection(256 * 1024)
    config = tui_config(tmp_path, fake)
    app = make_app(config)
    async with app.run_test(size=(120, 40)) as pilot:
        app.add_urls([f"{fake.api_base}/models/{model.id}"])
        await wait_until(pilot, lambda: kept_bytes(config.root, entry.name) > 0)
        await pilot.press("ctrl+q")
    with Store.open(config.state_path, read_only=True) as store:
        assert [t.status for t in store.targets()] == ["queued"]
        record = store.item(f"file:{entry.id}")
        assert record is not None and record.status is ItemStatus.PENDING and record.spec

    fake.files.faults.throttle_per_connection(None)
    app = make_app(config)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: any(config.root.rglob(entry.name)))
        await pilot.press("ctrl+q")
    assert sha256_file(next(config.root.rglob(entry.name))) == entry.content_sha256


def test_a_target_stopped_mid_crawl_is_a_gap_offline(mirror: Mirror) -> None:
    """Offline status cannot know the items a stopped crawl never listed: the target is a gap."""
    fake = mirror.fake
    # The fake's images are ~100 bytes, one chunk each: a shared line of 200 B/s, not a delay
    # between chunks, keeps the run going past the first state write (~1 s in).
    fake.images.faults.throttle_shared(200)
    proc = mirror.spawn("get", mirror.url("/user/alice"))
    state = mirror.root / ".civittui" / "state.json"
    try:
        _wait_for(lambda: state.exists() or proc.poll() is not None)
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130
    with Store.open(state, read_only=True) as store:
        assert [t.status for t in store.targets()] == ["queued"]
    assert mirror.run("status") == 1
