"""`get --dry-run` and `status` write nothing: no target, claim, sidecar, link or state."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest

from tests.cli_helpers import Mirror, make_mirror
from tests.fakecivitai import FakeCivitai


@pytest.fixture
def mirror(fake_civitai: FakeCivitai, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Mirror:
    return make_mirror(fake_civitai, tmp_path, monkeypatch)


def _tree(base: Path) -> dict[str, bytes | None]:
    """Every path under `base` with its bytes (None for folders)."""
    if not base.exists():
        return {}
    return {
        str(p.relative_to(base)): (p.read_bytes() if p.is_file() else None)
        for p in sorted(base.rglob("*"))
    }


def test_dry_run_and_status_leave_state_and_trees_byte_identical(mirror: Mirror) -> None:
    alice = mirror.url("/user/alice")
    assert mirror.run("get", alice) == 0
    assert any(mirror.lora.rglob("*.json"))  # the run placed LoRA files and cards
    # The user deleted the Lora folder and a few sidecars; a look must not bring them back.
    import shutil

    shutil.rmtree(mirror.lora)
    for sidecar in list((mirror.root / "Users").rglob("*.txt"))[:3]:
        sidecar.unlink()
    before = _tree(mirror.tmp)
    assert (mirror.root / ".civittui" / "state.json").read_bytes()

    assert mirror.run("get", alice, "--dry-run") == 0
    assert mirror.run("get", mirror.url("/user/carol"), "--dry-run") == 0  # never mirrored
    assert mirror.run("status", alice) in (0, 1)
    assert mirror.run("status", mirror.url("/user/carol")) in (0, 1)
    assert mirror.run("status") in (0, 1)
    assert mirror.run("failures") == 0

    after = _tree(mirror.tmp)
    assert after.keys() == before.keys()
    changed = [path for path in before if before[path] != after[path]]
    assert not changed
    assert not mirror.lora.exists()


def test_dry_run_on_a_new_root_creates_nothing(mirror: Mirror) -> None:
    assert mirror.run("get", mirror.url("/user/alice"), "--dry-run") == 0
    assert not mirror.root.exists()
    assert not mirror.lora.exists()


@pytest.mark.skipif(os.name == "nt", reason="SIGSTOP is POSIX")
def test_status_beside_a_running_get_never_writes_its_state(mirror: Mirror) -> None:
    fake = mirror.fake
    fake.images.faults.slow_body(None, 0.05)
    state = mirror.root / ".civittui" / "state.json"

    def images_recorded() -> int:
        try:
            return len(json.loads(state.read_bytes()).get("image") or {})
        except (OSError, ValueError):
            return 0

    proc = mirror.spawn("get", mirror.url("/user/alice"))
    try:
        deadline = time.monotonic() + 30
        while images_recorded() == 0:
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.02)
        proc.send_signal(signal.SIGSTOP)  # hold it still: only status could touch the file now
        try:
            before = state.read_bytes()
            # A target the running get has not seen: planning it needs new folder claims.
            assert mirror.run("status", mirror.url("/user/bob")) in (0, 1)
            assert mirror.run("status") in (0, 1)
            assert mirror.run("status", "--reset-state") == 2  # a write: refused under the lock
            assert state.read_bytes() == before
        finally:
            proc.send_signal(signal.SIGCONT)
    finally:
        proc.kill()
        proc.communicate()
