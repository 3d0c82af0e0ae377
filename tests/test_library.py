"""`adopt`, `sync` and content deduplication, end to end against the fake CivitAI."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli_helpers import Mirror, make_mirror
from tests.fakecivitai import FakeCivitai
from tests.fakecivitai.cdn import FakeCdn
from tests.fakecivitai.data import World


def _small_world(files: FakeCdn, images: FakeCdn) -> World:
    """hana: one LoRA with two versions, a post on each; kim: a checkpoint and a post."""
    world = World(files, images)
    hana = world.add_creator("hana_kim")
    lora = world.add_model(hana, "Maid Classic", "LORA", versions=["v1", "v2"])
    new, old = lora.versions
    world.add_post(hana, old, title="old", images=3, kinds=["png"])
    world.add_post(hana, new, title="new", images=2, kinds=["jpeg"])
    kim = world.add_creator("kim")
    ckpt = world.add_model(kim, "Base", "Checkpoint")
    world.add_post(kim, ckpt.versions[0], title="base", images=1, kinds=["png"])
    return world


@pytest.fixture
def mirror(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Mirror]:
    with FakeCivitai(_small_world) as fake:
        yield make_mirror(fake, tmp_path, monkeypatch)


def _file_downloads(mirror: Mirror) -> list[str]:
    return [r.path for r in mirror.fake.requests_to("files") if r.method == "GET"]


def _adopt_json(mirror: Mirror, capsys: pytest.CaptureFixture[str], *args: str) -> dict:
    capsys.readouterr()
    assert mirror.run("adopt", *args, "--json") == 0
    return json.loads(capsys.readouterr().out)


def test_adopted_lora_gets_card_preview_and_meta_and_get_downloads_none_of_it(
    mirror: Mirror, capsys: pytest.CaptureFixture[str]
) -> None:
    world = mirror.fake.world
    lora = world.models_of(world.creator("hana_kim"))[0]
    files = [f for v in lora.versions for f in v.files]
    mirror.lora.mkdir(parents=True)
    for i, entry in enumerate(files):  # renamed, as people do
        (mirror.lora / f"my lora {i}.safetensors").write_bytes(mirror.fake.files.read(entry.key))
    (mirror.lora / "merged.ckpt").write_bytes(b"my own merge" * 100)
    (mirror.lora / "notes.txt").write_text("not a model")

    report = _adopt_json(mirror, capsys)
    assert report["scanned"] == 3 and report["hashed"] == 3
    assert sorted(a["file_id"] for a in report["adopted"]) == sorted(f.id for f in files)
    assert [(Path(u["path"]).name, u["reason"]) for u in report["unknown"]] == [
        ("merged.ckpt", "not on CivitAI")
    ]
    # 1 by-hash + 1 /models?ids= + 1 AutoV2 lookup for the unknown file
    assert report["api_calls"] == 3
    for i, _ in enumerate(files):
        card = json.loads((mirror.lora / f"my lora {i}.json").read_text("utf-8"))
        assert "civitai" in card["notes"] or str(lora.id) in card["notes"]
        assert list(mirror.lora.glob(f"my lora {i}.preview.*"))
    for version in lora.versions:
        assert (mirror.root / "Users" / "hana_kim" / f"model_meta_v{version.id}.json").exists()
        assert (mirror.root / "Users" / "hana_kim" / f"model_meta_v{version.id}.txt").exists()

    mirror.fake.clear_requests()
    assert mirror.run("get", mirror.url("/user/hana_kim")) == 0
    assert _file_downloads(mirror) == []  # not one model file from the CDN
    placed = list((mirror.lora / "Users" / "hana_kim").rglob("*.safetensors"))
    assert len(placed) == len(files)
    adopted_inodes = {(mirror.lora / f"my lora {i}.safetensors").stat().st_ino for i in range(2)}
    assert {p.stat().st_ino for p in placed} == adopted_inodes  # linked, per lora_link


def test_a_users_card_is_never_clobbered_and_dry_run_writes_nothing(
    mirror: Mirror, capsys: pytest.CaptureFixture[str]
) -> None:
    world = mirror.fake.world
    entry = world.models_of(world.creator("hana_kim"))[0].versions[0].files[0]
    mirror.lora.mkdir(parents=True)
    (mirror.lora / "a.safetensors").write_bytes(mirror.fake.files.read(entry.key))
    (mirror.lora / "a.json").write_text('{"mine": true}')

    report = _adopt_json(mirror, capsys, "--dry-run")
    assert [a["file_id"] for a in report["adopted"]] == [entry.id]
    assert not (mirror.root / ".civittui" / "state.json").exists()
    assert not list(mirror.lora.glob("a.preview.*")) and not (mirror.root / "Users").exists()

    _adopt_json(mirror, capsys)
    assert json.loads((mirror.lora / "a.json").read_text()) == {"mine": True}
    assert list(mirror.lora.glob("a.preview.*"))


def test_second_adopt_hashes_nothing_unchanged(
    mirror: Mirror, capsys: pytest.CaptureFixture[str]
) -> None:
    world = mirror.fake.world
    entry = world.models_of(world.creator("kim"))[0].versions[0].files[0]
    mirror.lora.mkdir(parents=True)
    (mirror.lora / "base.safetensors").write_bytes(mirror.fake.files.read(entry.key))
    other = mirror.lora / "other.pt"
    other.write_bytes(b"x" * 5000)
    assert _adopt_json(mirror, capsys)["hashed"] == 2
    again = _adopt_json(mirror, capsys)
    assert again["hashed"] == 0 and len(again["adopted"]) == 1
    other.write_bytes(b"y" * 5001)  # changed: hashed again
    assert _adopt_json(mirror, capsys)["hashed"] == 1
    other.rename(mirror.lora / "renamed.pt")  # a new path: hashed, the old entry forgotten
    assert _adopt_json(mirror, capsys)["hashed"] == 1
    state = json.loads((mirror.root / ".civittui" / "state.json").read_text("utf-8"))
    cached = state["hashes"]["1"]["files"]
    assert sorted(Path(p).name for p in cached) == ["base.safetensors", "renamed.pt"]


def test_by_hash_route_takes_at_most_100(mirror: Mirror) -> None:
    import httpx

    url = mirror.fake.api_base + "/api/v1/model-versions/by-hash"
    assert httpx.post(url, json=["A" * 64] * 101).status_code == 400
    assert httpx.post(url, json=["A" * 10]).status_code == 400
    entry = next(iter(mirror.fake.world.files.values()))
    body = httpx.post(url, json=[entry.sha256]).json()
    assert [v["id"] for v in body] == [
        v.id for v in mirror.fake.world.versions.values() if entry in v.files
    ]
    ids = httpx.post(url + "/ids", json=[entry.sha256]).json()
    assert ids[0]["hash"] == entry.sha256.upper()


def test_sync_fetches_exactly_what_is_new_then_nothing(
    mirror: Mirror, capsys: pytest.CaptureFixture[str]
) -> None:
    world = mirror.fake.world
    assert mirror.run("get", mirror.url("/user/hana_kim")) == 0
    lora = world.models_of(world.creator("hana_kim"))[0]
    old = lora.versions[-1]
    newer = world.add_version(lora, "v3")
    post = world.add_post(world.creator("hana_kim"), old, title="late", images=2, kinds=["png"])
    mirror.fake.clear_requests()
    capsys.readouterr()

    assert mirror.run("sync") == 0
    out = capsys.readouterr().out
    assert "hana_kim: 1 new version, 1 new file, 2 new images" in out
    new_images = {i.id for i in post.images}
    got = [r.path for r in mirror.fake.requests_to("images")]
    assert len(got) == len(set(got))  # nothing fetched twice
    files = _file_downloads(mirror)
    assert files == [f"/{newer.files[0].key}"] or len(files) == 1
    for image_id in new_images:
        assert list((mirror.root / "Users" / "hana_kim").rglob(f"{image_id}.txt"))

    mirror.fake.clear_requests()
    capsys.readouterr()
    assert mirror.run("sync") == 0
    assert "hana_kim: nothing new" in capsys.readouterr().out
    assert mirror.fake.requests_to("files") == [] and mirror.fake.requests_to("images") == []
    api = mirror.fake.requests_to("api")
    assert len(api) <= 2  # one page per listing
    assert mirror.run("sync", mirror.url("/user/hana_kim"), "--json") == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["key"], r["new"], r["status"]) for r in rows] == [("user:hana_kim", {}, "done")]


def test_a_duplicate_sha256_is_linked_not_downloaded(mirror: Mirror) -> None:
    world = mirror.fake.world
    entry = world.models_of(world.creator("kim"))[0].versions[0].files[0]
    thief = world.add_creator("reuploader")
    copy = world.add_model(thief, "Base again", "Checkpoint", files=0)
    same = world.files_cdn.read(entry.key)
    twin = world.add_file(copy.versions[0], "same.safetensors", content=same)
    assert mirror.run("get", mirror.url("/user/kim")) == 0
    mirror.fake.clear_requests()
    assert mirror.run("get", mirror.url("/user/reuploader")) == 0
    assert _file_downloads(mirror) == []
    first = next((mirror.root / "Users" / "kim").rglob(entry.name))
    second = next((mirror.root / "Users" / "reuploader").rglob(twin.name))
    assert first.stat().st_ino == second.stat().st_ino


def test_unknown_files_say_why(mirror: Mirror, capsys: pytest.CaptureFixture[str]) -> None:
    world = mirror.fake.world
    kim_model = world.models_of(world.creator("kim"))[0]
    gone = kim_model.versions[0].files[0]
    assert mirror.run("get", mirror.url("/user/kim")) == 0
    world.delete_model(kim_model)  # recorded by this library, then deleted on CivitAI
    mirror.lora.mkdir(parents=True)
    (mirror.lora / "gone.safetensors").write_bytes(mirror.fake.files.read(gone.key))
    look_alike = mirror.lora / "look_alike.safetensors"
    look_alike.write_bytes(b"a re-saved build" * 64)
    hana = world.models_of(world.creator("hana_kim"))[0].versions[0].files[0]
    import hashlib

    hana.hashes["AutoV2"] = hashlib.sha256(look_alike.read_bytes()).hexdigest()[:10].upper()
    (mirror.lora / "mine.pth").write_bytes(b"private" * 10)

    report = _adopt_json(mirror, capsys)
    reasons = {Path(u["path"]).name: u["reason"] for u in report["unknown"]}
    assert reasons == {
        "gone.safetensors": "deleted",
        "look_alike.safetensors": "only an AutoV2 match",
        "mine.pth": "not on CivitAI",
    }
    capsys.readouterr()
    assert mirror.run("adopt") == 0
    assert "unknown " in capsys.readouterr().out


def test_a_failing_target_does_not_stop_the_sync_of_the_others(
    mirror: Mirror, capsys: pytest.CaptureFixture[str]
) -> None:
    assert mirror.run("get", mirror.url("/user/kim")) == 0
    assert mirror.run("get", mirror.url("/user/hana_kim")) == 0
    world = mirror.fake.world
    lora = world.models_of(world.creator("hana_kim"))[0]
    world.add_version(lora, "v3")
    mirror.fake.api_faults.inject("/api/v1/models?username=kim", status=404, times=10)
    capsys.readouterr()
    assert mirror.run("sync") == 1
    out = capsys.readouterr().out
    assert "hana_kim: 1 new version, 1 new file" in out
    assert "\nkim: failed — deleted on CivitAI or not visible" in "\n" + out


def test_sync_every_repeats_until_stopped(mirror: Mirror) -> None:
    import queue
    import signal
    import threading

    assert mirror.run("get", mirror.url("/user/kim")) == 0
    proc = mirror.spawn("sync", "--every", "0.2s")
    lines: queue.Queue[str] = queue.Queue()
    assert proc.stdout is not None

    def read() -> None:
        with proc.stdout:  # type: ignore[union-attr]
            for line in proc.stdout:  # type: ignore[union-attr]
                lines.put(line)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        assert lines.get(timeout=30).startswith("kim: nothing new")
        assert lines.get(timeout=30).startswith("kim: nothing new")  # a second round
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
        assert proc.stderr is not None
        proc.stderr.close()
        reader.join(timeout=30)
    assert proc.returncode == 128 + signal.SIGTERM


def test_sync_every_rejects_a_bad_duration(
    mirror: Mirror, capsys: pytest.CaptureFixture[str]
) -> None:
    assert mirror.run("sync", "--every", "soon") == 2
    assert "--every" in capsys.readouterr().err


def test_a_reupload_of_an_adopted_file_is_linked_from_it(
    mirror: Mirror, capsys: pytest.CaptureFixture[str]
) -> None:
    world = mirror.fake.world
    entry = world.models_of(world.creator("kim"))[0].versions[0].files[0]
    mirror.lora.mkdir(parents=True)
    adopted = mirror.lora / "base.safetensors"
    adopted.write_bytes(mirror.fake.files.read(entry.key))
    _adopt_json(mirror, capsys)
    thief = world.add_creator("reuploader")
    copy = world.add_model(thief, "Base again", "Checkpoint", files=0)
    twin = world.add_file(copy.versions[0], "same.safetensors", content=adopted.read_bytes())
    mirror.fake.clear_requests()
    assert mirror.run("get", mirror.url("/user/reuploader")) == 0
    assert _file_downloads(mirror) == []
    linked = next((mirror.root / "Users" / "reuploader").rglob(twin.name))
    assert linked.stat().st_ino == adopted.stat().st_ino
