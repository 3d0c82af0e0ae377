"""Images go to the version their post was posted to, by the real server's rules.

The fake follows CivitAI: an image's `modelVersionIds` are only its *detected* resources (empty
without meta, for videos; sometimes absent), and `/images?modelVersionId=V` returns images
posted to V or detecting V. `erin` in the default world has every awkward case.
"""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from civittui.engine import attribution
from tests.cli_helpers import Mirror, make_mirror
from tests.fakecivitai import FakeCivitai, Image
from tests.fakecivitai import shapes as fake_shapes


@pytest.fixture
def mirror(fake_civitai: FakeCivitai, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Mirror:
    return make_mirror(fake_civitai, tmp_path, monkeypatch)


def _posts(fake: FakeCivitai, title: str) -> list[Image]:
    return next(p for p in fake.world.posts.values() if p.title == title).images


def _sidecars(root: Path) -> dict[int, Path]:
    """image id -> folder, for every image sidecar under `root`."""
    out: dict[int, Path] = {}
    for path in root.rglob("*.txt"):
        if path.stem.isdigit():
            out[int(path.stem)] = path.parent
    return out


def _model(fake: FakeCivitai, name: str) -> int:
    return next(m.id for m in fake.world.models.values() if m.name == name)


def test_fake_lists_posted_to_or_detected_and_hides_the_posted_to_version(
    fake_civitai: FakeCivitai,
) -> None:
    world = fake_civitai.world
    mix = world.models[_model(fake_civitai, "Dream Mix")]
    v8 = mix.versions[0]
    with httpx.Client(base_url=fake_civitai.api_base) as api:
        items = []
        params: dict[str, object] | None = {
            "modelVersionId": v8.id,
            "username": "erin",
            "nsfw": "X",
            "withMeta": "true",
            "limit": 10,
        }
        url = "/api/v1/images"
        while url:
            body = api.get(url, params=params).json()
            items += body["items"]
            url, params = body["metadata"].get("nextPage"), None
            if url:
                assert "|" in body["metadata"]["nextCursor"]  # opaque, several numbers
    ids = {im["id"] for im in items}
    posted = {im.id for p in ("v8 showcase", "v8 no meta") for im in _posts(fake_civitai, p)}
    detected = {im.id for im in _posts(fake_civitai, "made with dream mix")}
    assert ids == posted | detected
    bare = [im for im in items if im["id"] in {i.id for i in _posts(fake_civitai, "v8 no meta")}]
    assert all(im.get("modelVersionIds", []) == [] and "username" not in im for im in bare)
    assert all(im["meta"] is None for im in bare)
    assert any("modelVersionIds" not in im for im in items)  # absent in some responses
    assert all(isinstance(im["nsfwLevel"], str) for im in items)


def test_model_post_without_metadata_is_mirrored_whole(mirror: Mirror) -> None:
    fake = mirror.fake
    model_id = _model(fake, "Dream Mix")
    assert mirror.run("get", mirror.url(f"/models/{model_id}"), "-q") == 0
    on_disk = _sidecars(mirror.root)
    for title in ("v8 showcase", "v8 no meta", "v7 videos"):
        for image in _posts(fake, title):
            assert image.id in on_disk, f"{title}: image {image.id} missing"
    folders = {on_disk[im.id] for t in ("v8 showcase", "v8 no meta") for im in _posts(fake, t)}
    assert len(folders) == 1
    # Posted to erin's LoRA, merely made with Dream Mix v8: not this model's.
    assert not {im.id for im in _posts(fake, "made with dream mix")} & set(on_disk)


def test_version_listing_attributes_by_post_not_by_detected_resources(mirror: Mirror) -> None:
    fake = mirror.fake
    style = fake.world.models[_model(fake, "Erin Style")]
    assert mirror.run("get", mirror.url(f"/models/{style.id}"), "-q") == 0
    on_disk = _sidecars(mirror.root)
    made_with = _posts(fake, "made with dream mix")
    assert {im.id for im in made_with} <= set(on_disk)
    assert {on_disk[im.id].name for im in made_with} == {"Erin Style"}


def test_creator_places_every_post_in_its_model_folder(mirror: Mirror, capsys) -> None:
    fake = mirror.fake
    assert mirror.run("get", mirror.url("/user/erin")) == 0
    on_disk = _sidecars(mirror.root / "Users" / "erin")
    for title, folder in [
        ("v8 showcase", "Dream Mix"),
        ("v8 no meta", "Dream Mix"),
        ("v7 videos", "Dream Mix"),
        ("made with dream mix", "Erin Style"),
    ]:
        for image in _posts(fake, title):
            assert on_disk[image.id].name == folder, title
    assert not {im.id for im in _posts(fake, "erin's doodles")} & set(on_disk)
    assert "dropped" not in capsys.readouterr().err


def test_waiting_images_past_the_memory_cap_are_spooled_and_come_back_whole(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(attribution, "MEMORY_CAP", 10)
    gallery = attribution.Gallery([7], {})
    images = [{"id": n, "postId": 100 + n % 3, "meta": {"prompt": f"p{n}"}} for n in range(50)]
    for image in images:
        assert gallery.see(image) == []  # no evidence yet: all wait
    assert gallery.waiting() == 50 and gallery.spooled == 40
    placed = [image for post in (100, 101, 102) for _, image in gallery.decide(post, 7)]
    assert sorted(placed, key=lambda i: i["id"]) == images and gallery.waiting() == 0


def test_a_creator_crawl_spooling_its_waiting_images_loses_none(
    mirror: Mirror, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(attribution, "MEMORY_CAP", 1)
    assert mirror.run("get", mirror.url("/user/erin"), "-q") == 0
    on_disk = _sidecars(mirror.root / "Users" / "erin")
    for title in ("v8 no meta", "v7 videos", "made with dream mix"):
        for image in _posts(mirror.fake, title):
            sidecar = on_disk[image.id] / f"{image.id}.txt"
            assert json.loads(sidecar.read_text("utf-8"))["id"] == image.id, title


def test_many_unplaced_posts_use_version_listings_not_one_lookup_each(mirror: Mirror) -> None:
    fake = mirror.fake
    world = fake.world
    frank = world.add_creator("frank")
    model = world.add_model(frank, "Frank Lora", "LORA")
    version = model.versions[0]
    world.add_post(frank, version, title="showcase", images=20)
    bare = [
        world.add_post(frank, version, title=f"bare {i}", images=2, with_meta=False)
        for i in range(4)
    ]
    elsewhere = world.add_post(frank, None, title="sketch", images=2, with_meta=False)
    assert mirror.run("get", mirror.url("/user/frank"), "-q") == 0
    on_disk = _sidecars(mirror.root)
    assert {im.id for p in bare for im in p.images} <= set(on_disk)
    assert not {im.id for im in elsewhere.images} & set(on_disk)
    assert not [r for r in fake.requests if r.server == "api" and "/trpc/" in r.path]


def test_unplaceable_post_is_a_gap_and_the_run_fails(mirror: Mirror, capsys) -> None:
    fake = mirror.fake
    fake.api_faults.inject("/api/trpc/post.get", status=404, times=100)
    model_id = _model(fake, "Dream Mix")
    assert mirror.run("get", mirror.url(f"/models/{model_id}"), "-q") != 0
    err = capsys.readouterr().err
    assert "could not be placed" in err
    assert mirror.run("status") != 0
    out = capsys.readouterr().out
    assert "could not be placed" in out


def test_version_target_asks_model_versions_only_when_it_names_the_creator(
    mirror: Mirror, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = mirror.fake
    mix = fake.world.models[_model(fake, "Dream Mix")]
    v8 = mix.versions[0]
    monkeypatch.setattr(fake_shapes, "VERSION_CREATOR", True)
    assert mirror.run("get", mirror.url(f"/models/{mix.id}?modelVersionId={v8.id}"), "-q") == 0
    paths = [r.path for r in fake.requests if r.server == "api"]
    assert f"/api/v1/model-versions/{v8.id}" in paths
    assert not [p for p in paths if p.startswith("/api/v1/models/")]
    on_disk = _sidecars(mirror.root)
    assert {im.id for t in ("v8 showcase", "v8 no meta") for im in _posts(fake, t)} <= set(on_disk)
    meta = json.loads(next(mirror.root.rglob(f"model_meta_v{v8.id}.json")).read_text("utf-8"))
    assert meta["id"] == v8.id
    assert len(list(mirror.root.rglob("dreammix*.safetensors"))) == 2


def test_version_target_falls_back_on_the_model_for_the_creator(mirror: Mirror) -> None:
    fake = mirror.fake
    mix = fake.world.models[_model(fake, "Dream Mix")]
    v7 = mix.versions[1]
    assert mirror.run("get", mirror.url(f"/models/{mix.id}?modelVersionId={v7.id}"), "-q") == 0
    paths = [r.path for r in fake.requests if r.server == "api"]
    assert f"/api/v1/models/{mix.id}" in paths
    on_disk = _sidecars(mirror.root / "Users" / "erin")
    assert {im.id for im in _posts(fake, "v7 videos")} <= set(on_disk)
    assert not {im.id for im in _posts(fake, "v8 no meta")} & set(on_disk)


def _offline_status(mirror: Mirror, capsys: pytest.CaptureFixture[str]) -> dict[str, dict]:
    capsys.readouterr()
    mirror.run("status", "--json")
    return {a["key"]: a for a in json.loads(capsys.readouterr().out)}


def test_offline_status_counts_items_another_target_recorded_first(
    mirror: Mirror, capsys: pytest.CaptureFixture[str]
) -> None:
    fake = mirror.fake
    mix = _model(fake, "Dream Mix")
    post = next(p for p in fake.world.posts.values() if p.title == "v8 showcase")
    assert mirror.run("get", mirror.url(f"/models/{mix}"), "-q") == 0
    assert mirror.run("get", mirror.url("/user/erin"), "-q") == 0
    assert mirror.run("get", mirror.url(f"/posts/{post.id}"), "-q") == 0
    audits = _offline_status(mirror, capsys)
    creator = audits["user:erin"]
    erin_images = sum(
        len(p.images) for p in fake.world.posts.values() if p.user.username == "erin"
    ) - len(_posts(fake, "erin's doodles"))
    erin_files = sum(
        len(v.files)
        for m in fake.world.models.values()
        if m.creator.username == "erin"
        for v in m.versions
    )
    erin_versions = sum(
        len(m.versions) for m in fake.world.models.values() if m.creator.username == "erin"
    )
    assert creator["listed"] == erin_images + erin_files + erin_versions
    assert creator["verified"] == creator["listed"] and not creator["gaps"]
    post_audit = audits[f"post:{post.id}"]
    assert (
        post_audit["listed"] >= len(post.images) and post_audit["verified"] == post_audit["listed"]
    )


def test_online_status_shows_unplaced_images_as_a_gap(
    mirror: Mirror, capsys: pytest.CaptureFixture[str]
) -> None:
    fake = mirror.fake
    fake.api_faults.inject("/api/trpc/post.get", status=404, times=100)
    url = mirror.url(f"/models/{_model(fake, 'Dream Mix')}")
    capsys.readouterr()
    assert mirror.run("status", url, "--json") != 0
    (audit,) = json.loads(capsys.readouterr().out)
    (gap,) = [g for g in audit["gaps"] if g["kind"] == "unplaced"]
    assert "could not be placed" in gap["detail"] and "post.get" in gap["detail"]


def test_real_shapes_files_empty_html_post_page_and_foreign_download_host(
    mirror: Mirror, capsys: pytest.CaptureFixture[str]
) -> None:
    fake = mirror.fake
    world = fake.world
    gina = world.add_creator("gina")
    empty = world.add_model(gina, "No Files Yet", "LORA", files=0)
    world.add_post(gina, empty.versions[0], title="preview", images=2)
    with httpx.Client(base_url=fake.api_base) as api:
        listed = api.get("/api/v1/models", params={"username": "gina"}).json()["items"][0]
        assert listed["modelVersions"][0]["files"] == [] and isinstance(listed["nsfwLevel"], int)
        page = api.get("/api/v1/posts/1")
        assert page.status_code == 404 and "text/html" in page.headers["content-type"]
    assert mirror.run("get", mirror.url("/user/gina"), "-q") == 0
    assert len(_sidecars(mirror.root / "Users" / "gina")) == 2
    assert list((mirror.root / "Users" / "gina").rglob(f"model_meta_v{empty.versions[0].id}.json"))
    # Every downloadUrl names api.civitai.com; the files still resolve on the API base, with
    # the key, and nothing is sent anywhere else.
    capsys.readouterr()
    assert mirror.run("get", mirror.url("/user/erin"), "-q") == 0
    resolves = [r for r in fake.requests if r.path.startswith("/api/download/models/")]
    erin_files = [
        f
        for m in world.models.values()
        if m.creator.username == "erin"
        for v in m.versions
        for f in v.files
    ]
    assert len(resolves) == len(erin_files)
    assert all(r.headers.get("authorization") == f"Bearer {fake.api_key}" for r in resolves)
    assert any(r.query.get("size") == ["full"] for r in resolves)  # typed URL of a same name
    api_paths = [r.path for r in fake.requests if r.server == "api"]
    assert any(p.startswith("/api/v1/posts/") for p in api_paths)  # HTML 404 ...
    assert "/api/trpc/post.get" in api_paths  # ... so post.get


def test_version_without_files_falls_back_on_the_model(mirror: Mirror) -> None:
    world = mirror.fake.world
    gina = world.add_creator("gina")
    empty = world.add_model(gina, "No Files Yet", "LORA", files=0)
    version = empty.versions[0]
    world.add_post(gina, version, title="preview", images=2)
    url = mirror.url(f"/models/{empty.id}?modelVersionId={version.id}")
    assert mirror.run("get", url, "-q") == 0
    assert len(_sidecars(mirror.root / "Users" / "gina")) == 2
