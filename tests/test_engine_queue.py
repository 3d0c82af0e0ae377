"""The engine's queue as the TUI resumes it from the state."""

from __future__ import annotations

from pathlib import Path

from civittui.config import Config
from civittui.engine.runner import Engine
from civittui.events import TargetStatus
from civittui.state import Store


def test_resumed_queue_keeps_order_status_and_skips_foreign_hosts(tmp_path: Path) -> None:
    config = Config(root=tmp_path / "root", api_base="https://civitai.com")
    with Store.open(config.state_path) as store:
        store.upsert_target(
            "user:alice",
            "https://civitai.com/user/alice",
            status="done",
            found=5,
            done=5,
            failed=0,
            skipped=0,
            error=None,
        )
        store.upsert_target(
            "user:x",
            "http://127.0.0.1:1/user/x",
            status="queued",
            found=0,
            done=0,
            failed=0,
            skipped=0,
            error=None,
        )
        store.upsert_target(
            "post:7",
            "https://civitai.red/posts/7",
            status="crawling",
            found=1,
            done=0,
            failed=0,
            skipped=0,
            error=None,
        )
    with Store.open(config.state_path) as store:
        engine = Engine(config, store, resume_queue=True)
        targets = engine.targets()
        assert [t.key for t in targets] == ["user:alice", "post:7"]
        assert targets[0].status is TargetStatus.DONE and targets[0].done == 5
        assert targets[1].status is TargetStatus.QUEUED  # an interrupted crawl starts over
        engine.move_target("post:7", -1)
        assert [t.key for t in engine.targets()] == ["post:7", "user:alice"]
    with Store.open(config.state_path) as store:
        assert [t.key for t in store.targets()][:2] == ["post:7", "user:alice"]
