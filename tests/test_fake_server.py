"""The fake CivitAI API over real HTTP: shapes, paging, filters, downloads and faults."""

from __future__ import annotations

import json
import time
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tests.fakecivitai import FakeCivitai

BROWSER_UA = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Firefox/130.0"


@pytest.fixture
def api(fake_civitai: FakeCivitai) -> httpx.Client:
    with httpx.Client(
        base_url=fake_civitai.api_base, headers={"User-Agent": "civittui/test"}, timeout=10
    ) as client:
        yield client


def _follow(api: httpx.Client, url: str, params: dict | None = None) -> list[dict]:
    """Follow metadata.nextPage until it is absent; return every item."""
    items: list[dict] = []
    response = api.get(url, params=params)
    pages = 0
    while True:
        assert response.status_code == 200, response.text
        body = response.json()
        items.extend(body["items"])
        pages += 1
        assert pages < 100
        next_page = body["metadata"].get("nextPage")
        if next_page is None:
            assert "nextCursor" not in body["metadata"]
            return items
        assert next_page.startswith(api.base_url.__str__().rstrip("/"))
        response = api.get(next_page)


# -- /api/v1/models ---------------------------------------------------------------------------
def test_models_paging_follows_next_page_without_duplicates(
    fake_civitai: FakeCivitai, api: httpx.Client
):
    items = _follow(api, "/api/v1/models", {"username": "bob", "limit": 2, "nsfw": "true"})
    ids = [m["id"] for m in items]
    assert len(ids) == len(set(ids)) == 6
    expected = {m.id for m in fake_civitai.world.models_of(fake_civitai.world.creator("bob"))}
    assert set(ids) == expected
    first = api.get("/api/v1/models", params={"username": "bob", "limit": 2, "nsfw": "true"})
    next_page = first.json()["metadata"]["nextPage"]
    query = parse_qs(urlsplit(next_page).query)
    assert query["username"] == ["bob"] and query["limit"] == ["2"] and "cursor" in query
    assert first.headers["content-type"].startswith("application/json")
    assert first.headers["cache-control"] == "public, s-maxage=300, stale-while-revalidate=150"


def test_models_limit_validation_and_page_cap(api: httpx.Client):
    r = api.get("/api/v1/models", params={"limit": 101})
    assert r.status_code == 400
    error = r.json()["error"]
    assert isinstance(error, dict) and error["issues"][0]["path"] == ["limit"]
    assert api.get("/api/v1/models", params={"limit": 100}).status_code == 200
    assert api.get("/api/v1/models", params={"limit": "abc"}).status_code == 400
    assert api.get("/api/v1/models", params={"types": "Nope"}).status_code == 400
    r = api.get("/api/v1/models", params={"limit": 100, "page": 11})
    assert r.status_code == 429 and "cursors" in r.json()["error"]
    r = api.get("/api/v1/models", params={"limit": 1, "page": 2, "username": "alice"})
    assert r.json()["metadata"]["currentPage"] == 2
    assert api.get("/api/v1/models", params={"cursor": "garbage"}).status_code == 400


def test_models_username_slugify_and_unknown(api: httpx.Client):
    for name in ("ALICE", "Alice", "al!ice", "alice"):
        r = api.get("/api/v1/models", params={"username": name})
        assert r.status_code == 200, name
        assert {m["creator"]["username"] for m in r.json()["items"]} == {"alice"}
    r = api.get("/api/v1/models", params={"username": "nobody"})
    assert r.status_code == 404 and r.json() == {"message": "User not found"}
    r = api.get("/api/v1/models", params={"username": "carol"})
    assert r.status_code == 200 and r.json()["items"] == []


def test_models_nsfw_filters_models_and_version_images(api: httpx.Client):
    sfw = {m["name"]: m for m in _follow(api, "/api/v1/models", {"username": "bob"})}
    assert "Spicy" not in sfw
    levels = sfw["Every Level"]["modelVersions"][0]["images"]
    assert [im["nsfwLevel"] for im in levels] == [1]
    full = {
        m["name"]: m for m in _follow(api, "/api/v1/models", {"username": "bob", "nsfw": "true"})
    }
    assert "Spicy" in full
    levels = full["Every Level"]["modelVersions"][0]["images"]
    assert sorted(im["nsfwLevel"] for im in levels) == [1, 2, 4, 8, 16]


def test_models_types_filter_and_list_shape(fake_civitai: FakeCivitai, api: httpx.Client):
    r = api.get(
        "/api/v1/models",
        params=[("username", "alice"), ("types", "LoCon"), ("types", "Checkpoint")],
    )
    items = r.json()["items"]
    assert {m["type"] for m in items} == {"LoCon", "Checkpoint"}
    locon = next(m for m in items if m["type"] == "LoCon")
    version = locon["modelVersions"][0]
    assert "createdAt" not in version and "status" not in version
    # Real payloads name CivitAI's API host whatever host was asked.
    assert version["downloadUrl"] == f"https://api.civitai.com/api/download/models/{version['id']}"
    files = version["files"]
    assert [f["type"] for f in files] == ["Model", "Training Data"]
    assert files[0]["primary"] is True and "primary" not in files[1]
    assert "type=Training+Data" in files[1]["downloadUrl"]
    assert isinstance(files[0]["sizeKB"], float)
    entry = fake_civitai.world.files[files[0]["id"]]
    assert files[0]["hashes"]["SHA256"] == entry.content_sha256.upper()
    assert files[0]["hashes"]["SHA256"] == fake_civitai.files.sha256(entry.key).upper()
    image = version["images"][0]
    assert image["url"].endswith(f"/original=true/{image['id']}.jpeg")
    assert "meta" not in image


def test_models_version_images_capped_at_20_and_archived(api: httpx.Client):
    alice = _follow(api, "/api/v1/models", {"username": "alice", "nsfw": "true"})
    lora = next(m for m in alice if m["type"] == "LORA")
    assert [v["index"] for v in lora["modelVersions"]] == [0, 1]
    assert len(lora["modelVersions"][1]["images"]) == 20
    bob = _follow(api, "/api/v1/models", {"username": "bob", "nsfw": "true"})
    archived = next(m for m in bob if m["name"] == "Old Archive")
    assert archived["mode"] == "Archived"
    assert archived["modelVersions"][0]["files"] == []
    assert "downloadUrl" not in archived["modelVersions"][0]


# -- by id ------------------------------------------------------------------------------------
def test_model_by_id_remove_empty_and_images_without_id(api: httpx.Client):
    r = api.get("/api/v1/models/1000")
    assert r.status_code == 200
    newest, older = r.json()["modelVersions"]
    assert "trainedWords" not in newest and "description" not in newest  # removeEmpty
    assert newest["status"] == "Published" and "createdAt" in newest
    assert older["trainedWords"] == ["maid, maid apron", "classic maid"]
    assert all("id" not in im for im in older["images"])
    assert older["images"][0]["url"].rsplit("/", 1)[1].removesuffix(".jpeg").isdigit()
    assert api.get("/api/v1/models/abc").status_code == 400
    r = api.get("/api/v1/models/999999")
    assert r.status_code == 404 and r.json() == {"error": "No model with id 999999"}


def test_model_version_by_id(fake_civitai: FakeCivitai, api: httpx.Client):
    r = api.get("/api/v1/model-versions/2000")
    body = r.json()
    assert body["model"]["type"] == "LORA" and body["modelId"] == 1000
    assert len(body["images"]) == 10
    assert all("id" not in im and "meta" in im for im in body["images"])
    assert body["files"][0]["primary"] is True
    assert body["air"] == "urn:air:pony:lora:civitai:1000@2000"
    r = api.get("/api/v1/model-versions/99999")
    assert r.status_code == 404 and r.json() == {"error": "Model not found"}
    sha = body["files"][0]["hashes"]["SHA256"]
    assert api.get(f"/api/v1/model-versions/by-hash/{sha.lower()}").json()["id"] == 2000


# -- /api/v1/images ---------------------------------------------------------------------------
def test_images_paging_of_a_big_post(fake_civitai: FakeCivitai, api: httpx.Client):
    big = next(p for p in fake_civitai.world.posts.values() if len(p.images) > 200)
    items = _follow(
        api, "/api/v1/images", {"postId": big.id, "limit": 100, "nsfw": "X", "sort": "Newest"}
    )
    ids = [im["id"] for im in items]
    assert len(ids) == len(set(ids)) == len(big.images)
    r = api.get("/api/v1/images", params={"postId": big.id, "limit": 201})
    assert r.status_code == 400
    r = api.get("/api/v1/images", params={"postId": big.id})
    assert len(r.json()["items"]) == 100  # default limit
    assert api.get("/api/v1/images", params={"username": "al-ice"}).status_code == 400


def test_images_nsfw_mapping_including_true_pitfall(fake_civitai: FakeCivitai, api: httpx.Client):
    post = next(p for p in fake_civitai.world.posts.values() if p.title == "levels")

    def levels(**params: str) -> list[int]:
        r = api.get("/api/v1/images", params={"postId": post.id, **params})
        return sorted(im["browsingLevel"] for im in r.json()["items"])

    assert levels() == [1]
    assert levels(nsfw="false") == [1]
    assert levels(nsfw="None") == [1]
    assert levels(nsfw="Soft") == [1, 2]
    assert levels(nsfw="Mature") == [1, 2, 4]
    assert levels(nsfw="X") == [1, 2, 4, 8, 16]
    assert levels(nsfw="true") == [4, 8, 16]  # 60: mature only, no PG
    assert levels(nsfw="X", browsingLevel="2") == [2]
    r = api.get("/api/v1/images", params={"postId": post.id, "nsfw": "X"})
    names = {im["browsingLevel"]: im["nsfwLevel"] for im in r.json()["items"]}
    assert names == {1: "None", 2: "Soft", 4: "Mature", 8: "X", 16: "X"}
    assert api.get("/api/v1/images", params={"nsfw": "Safe"}).status_code == 400


def test_images_with_meta_and_flat_meta(fake_civitai: FakeCivitai, api: httpx.Client):
    post = next(p for p in fake_civitai.world.posts.values() if p.title == "bad")
    base = {"postId": post.id, "nsfw": "X"}
    plain = api.get("/api/v1/images", params=base).json()["items"]
    assert all(im["meta"] is None for im in plain)
    flat = api.get("/api/v1/images", params={**base, "withMeta": "true"}).json()["items"]
    assert "prompt" in flat[0]["meta"]
    wrapped = api.get(
        "/api/v1/images", params={**base, "withMeta": "true", "flatMeta": "false"}
    ).json()["items"]
    assert set(wrapped[0]["meta"]) == {"id", "meta"} and "prompt" in wrapped[0]["meta"]["meta"]
    image_id = flat[0]["id"]
    legacy = api.get("/api/v1/images", params={"imageId": image_id, "withMeta": "true"}).json()
    assert set(legacy["items"][0]["meta"]) == {"id", "meta"}
    item = flat[0]
    assert item["postId"] == post.id and item["username"] == "bob"
    assert post.model_version_id in item["modelVersionIds"]
    assert item["url"].endswith(f"/original=true/{fake_civitai.world.images[image_id].uuid}.jpeg")


def test_images_by_username_include_unattached_posts(fake_civitai: FakeCivitai, api: httpx.Client):
    items = _follow(api, "/api/v1/images", {"username": "carol", "nsfw": "X", "limit": 4})
    assert len(items) == 6
    assert {im["postId"] for im in items} == {
        p.id for p in fake_civitai.world.posts_of(fake_civitai.world.creator("carol"))
    }
    assert all(im["modelVersionIds"] == [] for im in items)


def test_image_urls_serve_real_content_types(fake_civitai: FakeCivitai, api: httpx.Client):
    post = next(p for p in fake_civitai.world.posts.values() if p.title and "XL" in p.title)
    items = api.get("/api/v1/images", params={"postId": post.id, "nsfw": "X"}).json()["items"]
    types = set()
    with httpx.Client() as cdn:
        for im in items:
            r = cdn.get(im["url"])
            assert r.status_code == 200
            types.add(r.headers["content-type"])
            if im["type"] == "video":
                assert im["url"].endswith(".mp4")
    assert types == {"image/png", "image/jpeg", "image/webp", "video/mp4"}


# -- posts ------------------------------------------------------------------------------------
def test_posts_endpoint_absent_by_default_then_switchable(
    fake_civitai: FakeCivitai, api: httpx.Client
):
    r = api.get("/api/v1/posts/4000")
    assert r.status_code == 404 and r.headers["content-type"].startswith("text/html")
    fake_civitai.api_faults.enable_posts_endpoint()
    body = api.get("/api/v1/posts/4000").json()
    assert body["title"] == "メイド クラシック/maid classic - v1.0 XL Showcase"
    assert body["user"]["username"] == "alice" and len(body["images"]) == 4


def test_trpc_post_get_needs_key_or_civitai_origin(fake_civitai: FakeCivitai, api: httpx.Client):
    params = {"input": json.dumps({"json": {"id": 4001}})}
    r = api.get("/api/trpc/post.get", params=params)
    assert r.status_code == 401
    assert "Please use the public API instead" in r.json()["error"]["json"]["message"]
    r = api.get("/api/trpc/post.get", params=params, headers={"Authorization": "Bearer wrong"})
    assert r.status_code == 401
    r = api.get("/api/trpc/post.get", params=params, headers={"Referer": "https://evil.com/"})
    assert r.status_code == 401
    for headers in (
        {"Authorization": f"Bearer {fake_civitai.api_key}"},
        {"Referer": "https://civitai.com/"},
        {"Origin": "https://civitai.red"},
    ):
        r = api.get("/api/trpc/post.get", params=params, headers=headers)
        assert r.status_code == 200, headers
        post = r.json()["result"]["data"]["json"]
        assert post["id"] == 4001 and post["title"] is None


# -- downloads --------------------------------------------------------------------------------
def _version(fake: FakeCivitai, model_name: str, index: int = 0):
    model = next(m for m in fake.world.models.values() if m.name == model_name)
    return model.versions[index]


def test_download_redirects_to_presigned_file(fake_civitai: FakeCivitai, api: httpx.Client):
    version = _version(fake_civitai, "메이드 클래식/maid classic - v1.0")
    r = api.get(f"/api/download/models/{version.id}")
    assert r.status_code == 307
    assert r.headers["cache-control"] == "no-store, max-age=0"
    location = r.headers["location"]
    assert location.startswith(fake_civitai.files.base_url)
    assert fake_civitai.api_key not in location
    with httpx.Client() as cdn:
        body = cdn.get(location)
    assert body.status_code == 200
    assert body.headers["content-length"] == str(version.files[0].size)
    raw = {k.lower(): v for k, v in body.headers.raw}[b"content-disposition"].decode()
    assert raw == f'attachment; filename="{version.files[0].name}"'
    locon = _version(fake_civitai, "../../etc/passwd")
    r = api.get(f"/api/download/models/{locon.id}", params={"type": "Training Data"})
    assert r.status_code == 307 and "trainingData.zip" in r.headers["location"]
    r = api.get(f"/api/download/models/{locon.id}", params={"fileId": locon.files[1].id})
    assert "trainingData.zip" in r.headers["location"]
    r = api.get(f"/api/download/models/{locon.id}", params={"fp": "fp32"})
    assert r.status_code == 404


def test_download_login_required(fake_civitai: FakeCivitai, api: httpx.Client):
    version = _version(fake_civitai, "Members Only")
    url = f"/api/download/models/{version.id}"
    r = api.get(url)
    assert r.status_code == 401 and r.json()["error"] == "Unauthorized"
    assert api.get(url, headers={"Authorization": "Bearer bad"}).status_code == 401
    key = fake_civitai.api_key
    assert api.get(url, headers={"Authorization": f"Bearer {key}"}).status_code == 307
    assert api.get(url, params={"token": key}).status_code == 307
    assert api.get(url, headers={"Cookie": f"__Secure-civitai-token={key}"}).status_code == 307
    r = api.get(url, headers={"User-Agent": BROWSER_UA}, follow_redirects=True)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert "reason=download-auth" in str(r.url)


def test_download_early_access_until_deadline(fake_civitai: FakeCivitai, api: httpx.Client):
    version = _version(fake_civitai, "Early Bird")
    url = f"/api/download/models/{version.id}"
    auth = {"Authorization": f"Bearer {fake_civitai.api_key}"}
    r = api.get(url, headers=auth)
    assert r.status_code == 403 and r.json()["error"] == "Early Access"
    assert r.json()["deadline"].startswith(version.early_access_deadline.strftime("%Y-%m-%dT"))
    fake_civitai.world.now = version.early_access_deadline + timedelta(minutes=1)
    assert api.get(url, headers=auth).status_code == 307


def test_download_not_found_archived_and_wrong_hash(fake_civitai: FakeCivitai, api: httpx.Client):
    r = api.get("/api/download/models/987654")
    assert r.status_code == 404 and r.json() == {"error": "File not found"}
    archived = _version(fake_civitai, "Old Archive")
    r = api.get(f"/api/download/models/{archived.id}")
    assert r.status_code == 410 and "archived" in r.json()["error"]
    bad = _version(fake_civitai, "Bad Hash")
    location = api.get(f"/api/download/models/{bad.id}").headers["location"]
    with httpx.Client() as cdn:
        import hashlib

        served = hashlib.sha256(cdn.get(location).content).hexdigest()
    assert served == bad.files[0].content_sha256 != bad.files[0].sha256


def test_presigned_url_rejects_forwarded_authorization(
    fake_civitai: FakeCivitai, api: httpx.Client
):
    version = _version(fake_civitai, "메이드 클래식/maid classic - v1.0")
    # A client that re-sends the API key to the storage host is refused.
    r = httpx.get(
        f"{fake_civitai.api_base}/api/download/models/{version.id}",
        headers={"Authorization": f"Bearer {fake_civitai.api_key}"},
    )
    with httpx.Client(headers={"Authorization": f"Bearer {fake_civitai.api_key}"}) as leaky:
        assert leaky.get(r.headers["location"]).status_code == 400
    leaked = [
        q for q in fake_civitai.requests if q.server == "files" and "authorization" in q.headers
    ]
    assert leaked and leaked[0].status == 400


# -- API faults -------------------------------------------------------------------------------
def test_inject_429_with_and_without_retry_after_and_503(
    fake_civitai: FakeCivitai, api: httpx.Client
):
    faults = fake_civitai.api_faults
    faults.inject("/api/v1/models", status=429, retry_after=7)
    faults.inject("/api/v1/images", status=429)
    r = api.get("/api/v1/models")
    assert r.status_code == 429 and r.headers["retry-after"] == "7"
    r = api.get("/api/v1/images")
    assert r.status_code == 429 and "retry-after" not in r.headers
    assert api.get("/api/v1/models").status_code == 200  # cleared after one use
    faults.inject("/api/v1/images", status=503, retry_after=2, times=2)
    assert [api.get("/api/v1/images").status_code for _ in range(3)] == [503, 503, 200]
    faults.inject("/api/v1/models/1000", status=500, body={"message": "boom"})
    r = api.get("/api/v1/models/1000")
    assert r.status_code == 500 and r.json() == {"message": "boom"}


def test_reset_truncate_html_slow(fake_civitai: FakeCivitai, api: httpx.Client):
    faults = fake_civitai.api_faults
    faults.reset("/api/v1/models", times=1)
    with pytest.raises((httpx.ReadError, httpx.RemoteProtocolError)):
        api.get("/api/v1/models")
    assert api.get("/api/v1/models").status_code == 200
    faults.truncate("/api/v1/model-versions/")
    with pytest.raises(httpx.RemoteProtocolError):
        api.get("/api/v1/model-versions/2000")
    faults.html("/api/v1/images", status=503)
    r = api.get("/api/v1/images")
    assert r.status_code == 503 and r.headers["content-type"].startswith("text/html")
    assert "Just a moment" in r.text
    faults.html("/api/v1/images")
    assert api.get("/api/v1/images").status_code == 403
    faults.slow("/api/v1/models?username=alice", 0.3)
    t0 = time.monotonic()
    assert api.get("/api/v1/models", params={"username": "alice"}).status_code == 200
    assert time.monotonic() - t0 >= 0.3
    statuses = [q.status for q in fake_civitai.requests if q.server == "api"]
    assert statuses[:2] == [0, 200]


def test_request_recording(fake_civitai: FakeCivitai, api: httpx.Client):
    fake_civitai.clear_requests()
    api.get("/api/v1/models", params=[("types", "LORA"), ("types", "LoCon")])
    api.get("/api/v1/images", headers={"Authorization": "Bearer x"})
    with httpx.Client() as other:
        other.get(f"{fake_civitai.api_base}/api/v1/models/1000")
    first, second, third = fake_civitai.requests
    assert first.server == "api" and first.method == "GET" and first.path == "/api/v1/models"
    assert first.query == {"types": ["LORA", "LoCon"]}
    assert first.headers["user-agent"] == "civittui/test"
    assert second.headers["authorization"] == "Bearer x"
    assert first.connection_id == second.connection_id != third.connection_id
    assert first.status == second.status == 200
    assert first.started < second.started < third.started


def test_fan_posts_are_in_the_gallery_but_not_the_showcase(
    fake_civitai: FakeCivitai, api: httpx.Client
):
    world = fake_civitai.world
    version = world.models[1000].versions[0]
    gallery = _follow(api, "/api/v1/images", {"modelVersionId": version.id, "nsfw": "X"})
    assert {im["username"] for im in gallery} == {"alice", "dave"}
    showcase = api.get("/api/v1/models/1000").json()["modelVersions"][0]["images"]
    own = {im.id for im in world.creator_images_of_version(version)}
    assert {int(im["url"].rsplit("/", 1)[1].split(".")[0]) for im in showcase} == own
    alice = _follow(api, "/api/v1/images", {"username": "alice", "nsfw": "X", "limit": 200})
    assert "dave" not in {im["username"] for im in alice}


def test_deleted_image_and_model(fake_civitai: FakeCivitai, api: httpx.Client):
    world = fake_civitai.world
    image = world.posts[4000].images[0]
    url = fake_civitai.images.image_url(image.uuid, "x.jpeg")
    world.delete_image(image)
    assert httpx.get(url).status_code == 404
    assert api.get("/api/v1/images", params={"imageId": image.id}).json()["items"] == []
    version_id = world.models[1001].versions[0].id
    world.delete_model(world.models[1001])
    assert api.get("/api/v1/models/1001").status_code == 404
    assert api.get(f"/api/v1/model-versions/{version_id}").status_code == 404
    assert api.get(f"/api/download/models/{version_id}").status_code == 404


def test_world_builders_and_big_creator(fake_civitai: FakeCivitai, api: httpx.Client):
    from tests.fakecivitai import make_big_creator

    world = fake_civitai.world
    t0 = time.monotonic()
    make_big_creator(world, models=10, versions=2, images=300, username="big")
    assert time.monotonic() - t0 < 2
    models = _follow(api, "/api/v1/models", {"username": "big", "limit": 3})
    assert len(models) == 10
    images = _follow(api, "/api/v1/images", {"username": "big", "limit": 200})
    assert len(images) == 300
    dave = world.add_creator("dave")
    model = world.add_model(dave, "Dave's LoRA", "LORA", versions=2, files=1)
    post = world.add_post(dave, model.versions[0], title="hi", images=3)
    assert len(world.add_images(post, 2)) == 2
    r = api.get("/api/v1/images", params={"postId": post.id})
    assert len(r.json()["items"]) == 5
