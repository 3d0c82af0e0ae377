"""An image's sidecar is written without its own fsync and made durable by the state flush that
records the image: a record never names an image whose sidecar is missing or half-written, and
a sidecar a power cut emptied (its record lost with it) is written again by the next run."""

from __future__ import annotations

import json
import os
import random
import shutil
import time
from pathlib import Path

import pytest

from civittui.fsio import sync_files
from civittui.state import ItemStatus, Store
from tests.cli_helpers import Mirror, make_mirror
from tests.fakecivitai import FakeCivitai
from tests.fakecivitai.data import make_big_creator


@pytest.fixture
def mirror(fake_civitai: FakeCivitai, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Mirror:
    return make_mirror(fake_civitai, tmp_path, monkeypatch)


def _sidecar_ids(mirror: Mirror) -> dict[int, Path]:
    return {int(p.stem): p for p in mirror.root.rglob("*.txt") if p.stem.isdigit()}


def _done_images(state: Path) -> list[int]:
    with Store.open(state, read_only=True) as store:
        return [
            int(rec.key.split(":", 1)[1])
            for rec in store.items(status=ItemStatus.DONE)
            if rec.key.startswith("image:")
        ]


@pytest.mark.skipif(os.name == "nt", reason="kill -9 is POSIX")
def test_kill_9_mid_mirror_never_leaves_a_done_image_without_its_sidecar(mirror: Mirror) -> None:
    creator = make_big_creator(mirror.fake.world, models=2, versions=1, images=600)
    url = mirror.url(f"/user/{creator.username}")
    state = mirror.root / ".civittui" / "state.json"
    rng = random.Random(20261130)
    checked = 0
    for _round in range(4):
        proc = mirror.spawn("get", url)
        try:
            deadline = time.monotonic() + 30
            while not state.exists() and proc.poll() is None:
                assert time.monotonic() < deadline, "no state written"
                time.sleep(0.01)
            time.sleep(rng.uniform(0.3, 1.5))  # past a flush or two: records on disk
        finally:
            proc.kill()
            proc.communicate(timeout=30)
        sidecars = _sidecar_ids(mirror)
        for image_id in _done_images(state):
            sidecar = sidecars.get(image_id)
            assert sidecar is not None, f"image {image_id} recorded done without its sidecar"
            assert json.loads(sidecar.read_text("utf-8"))["id"] == image_id
            checked += 1
    assert checked > 0, "no run got as far as recording an image"
    assert mirror.run("get", url) == 0
    assert len(_done_images(state)) == 600
    assert set(_sidecar_ids(mirror)) == set(_done_images(state))


def test_an_empty_sidecar_of_an_unrecorded_image_is_written_again(mirror: Mirror) -> None:
    creator = make_big_creator(mirror.fake.world, models=1, versions=1, images=5)
    url = mirror.url(f"/user/{creator.username}")
    assert mirror.run("get", url) == 0
    # A power cut before the flush's sync: the record is lost, the sidecar's name survived
    # without its bytes.
    shutil.rmtree(mirror.root / ".civittui")
    image_id, sidecar = sorted(_sidecar_ids(mirror).items())[0]
    sidecar.write_bytes(b"")
    mirror.fake.clear_requests()
    assert mirror.run("get", url) == 0
    assert json.loads(sidecar.read_text("utf-8"))["id"] == image_id
    assert not [r for r in mirror.fake.requests if r.server == "images"]  # the image stays


def test_sync_files_skips_what_was_removed_since(tmp_path: Path) -> None:
    kept = tmp_path / "kept.txt"
    kept.write_text("{}", "utf-8")
    sync_files([kept, tmp_path / "gone.txt", tmp_path / "gone" / "1.txt"])
    sync_files([])
    assert kept.read_text("utf-8") == "{}"


def test_a_flush_records_an_item_whose_written_files_it_synced(tmp_path: Path) -> None:
    sidecar = tmp_path / "7.txt"
    sidecar.write_text('{"id": 7}', "utf-8")
    state = tmp_path / ".civittui" / "state.json"
    with Store.open(state) as store:
        store.mark_done(
            "image:7", target="user:a", name="7.png", path=str(tmp_path / "7.png"), size=3,
            sha256=None, written=[sidecar],
        )  # fmt: skip
        assert store.flush()
        assert not store.dirty
    with Store.open(state, read_only=True) as store:
        record = store.item("image:7")
        assert record is not None and record.status is ItemStatus.DONE
