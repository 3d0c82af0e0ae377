"""The fake CDNs (presigned file store and image CDN) over real HTTP."""

from __future__ import annotations

import hashlib
import threading
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tests.fakecivitai import FakeCivitai

DATA = bytes(range(256)) * 40  # 10 240 bytes


@pytest.fixture
def client() -> httpx.Client:
    with httpx.Client(timeout=10) as c:
        yield c


def _put(fake: FakeCivitai, key: str = "u1/model.safetensors") -> str:
    fake.files.put_bytes(key, DATA, "application/octet-stream")
    return fake.files.presign(key, "model.safetensors")


def test_presigned_get_serves_bytes_with_headers(fake_civitai: FakeCivitai, client: httpx.Client):
    url = _put(fake_civitai)
    assert urlsplit(url).hostname == "localhost"
    query = parse_qs(urlsplit(url).query)
    assert query["response-content-disposition"] == ['attachment; filename="model.safetensors"']
    assert "X-Amz-Signature" in query and "X-Amz-Expires" in query
    assert "response-content-disposition=attachment%3B%20filename%3D%22model" in url
    r = client.get(url)
    assert r.status_code == 200
    assert r.content == DATA
    assert r.headers["content-length"] == str(len(DATA))
    assert r.headers["accept-ranges"] == "bytes"
    assert r.headers["content-disposition"] == 'attachment; filename="model.safetensors"'
    assert fake_civitai.files.sha256("u1/model.safetensors") == hashlib.sha256(DATA).hexdigest()
    head = client.head(url)
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-length"] == str(len(DATA))


def test_unicode_filename_is_sent_as_utf8(fake_civitai: FakeCivitai, client: httpx.Client):
    fake_civitai.files.put_bytes("k", b"x", "application/octet-stream")
    r = client.get(fake_civitai.files.presign("k", "메이드 클래식.safetensors"))
    raw = {k.lower(): v for k, v in r.headers.raw}[b"content-disposition"]
    assert raw.decode("utf-8") == 'attachment; filename="메이드 클래식.safetensors"'


@pytest.mark.parametrize(
    ("kwargs", "what"),
    [
        ({"headers": {"Authorization": "Bearer fake-key-0123456789abcdef"}}, "Authorization"),
        ({"params": {"token": "abc"}}, "token"),
        ({"headers": {"Cookie": "__Secure-civitai-token=abc"}}, "cookie"),
    ],
)
def test_credentials_are_rejected_and_recorded(
    fake_civitai: FakeCivitai, client: httpx.Client, kwargs: dict, what: str
):
    url = _put(fake_civitai)
    r = client.get(url, **kwargs)
    assert r.status_code == 400
    assert what.lower() in r.text.lower()
    (rec,) = [q for q in fake_civitai.requests if q.server == "files"]
    assert rec.status == 400


def test_ranges(fake_civitai: FakeCivitai, client: httpx.Client):
    url = _put(fake_civitai)
    size = len(DATA)
    cases = {
        "bytes=10-19": (10, 19),
        "bytes=10000-": (10000, size - 1),
        "bytes=-100": (size - 100, size - 1),
        "bytes=0-999999": (0, size - 1),
    }
    for header, (a, b) in cases.items():
        r = client.get(url, headers={"Range": header})
        assert r.status_code == 206, header
        assert r.headers["content-range"] == f"bytes {a}-{b}/{size}"
        assert r.content == DATA[a : b + 1]
        assert r.headers["content-length"] == str(b - a + 1)
    for header in ("bytes=10240-", "bytes=99999-100000", "bytes=-0"):
        r = client.get(url, headers={"Range": header})
        assert r.status_code == 416, header
        assert r.headers["content-range"] == f"bytes */{size}"
    # Multiple ranges are not supported by object stores: full body.
    r = client.get(url, headers={"Range": "bytes=0-1,5-6"})
    assert r.status_code == 200 and r.content == DATA


def test_bad_or_expired_signature(fake_civitai: FakeCivitai, client: httpx.Client):
    url = _put(fake_civitai)
    tampered = url.replace("filename%3D%22model", "filename%3D%22other")
    r = client.get(tampered)
    assert r.status_code == 403 and "SignatureDoesNotMatch" in r.text
    r = client.get(url.split("?")[0])
    assert r.status_code == 403
    short = fake_civitai.files.presign("u1/model.safetensors", "m", expires_in=0.2)
    assert client.get(short).status_code == 200
    time.sleep(0.3)
    r = client.get(short)
    assert r.status_code == 403 and "Request has expired" in r.text


def test_expire_after_n_requests_then_fresh_url_works(
    fake_civitai: FakeCivitai, client: httpx.Client
):
    url = _put(fake_civitai)
    fake_civitai.files.faults.expire_after("u1/model.safetensors", requests=2)
    assert client.get(url).status_code == 200
    assert client.get(url, headers={"Range": "bytes=0-9"}).status_code == 206
    r = client.get(url)
    assert r.status_code == 403 and "Request has expired" in r.text
    fresh = fake_civitai.files.presign("u1/model.safetensors", "model.safetensors")
    assert client.get(fresh).status_code == 200
    assert client.get(fresh).status_code == 200
    assert client.get(url).status_code == 403


def test_expire_all_signatures(fake_civitai: FakeCivitai, client: httpx.Client):
    url = _put(fake_civitai)
    fake_civitai.files.faults.expire_all_signatures()
    assert client.get(url).status_code == 403
    fresh = fake_civitai.files.presign("u1/model.safetensors", "model.safetensors")
    assert client.get(fresh).status_code == 200
    fake_civitai.files.faults.reset()
    assert client.get(url).status_code == 200


def test_generated_objects_are_deterministic_and_not_periodic(
    fake_civitai: FakeCivitai, client: httpx.Client
):
    size = 3 * 1024 * 1024 + 12345
    digest = fake_civitai.files.put_generated("big", size, seed=7)
    other = fake_civitai.files.put_generated("big2", size, seed=8)
    assert digest != other
    url = fake_civitai.files.presign("big", "big.bin")
    body = client.get(url).content
    assert len(body) == size == fake_civitai.files.size("big")
    assert hashlib.sha256(body).hexdigest() == digest
    # Aligned blocks differ, so a misplaced segment changes the digest.
    blocks = {body[i : i + 65536] for i in range(0, 3 * 1024 * 1024, 65536)}
    assert len(blocks) == 48
    part = client.get(url, headers={"Range": "bytes=70000-2000000"}).content
    assert part == body[70000:2000001]


def test_put_file_served_with_ranges(
    fake_civitai: FakeCivitai, client: httpx.Client, tmp_path: Path
):
    path = tmp_path / "f.bin"
    path.write_bytes(DATA * 10)
    fake_civitai.files.put_file("f", path, "application/octet-stream")
    url = fake_civitai.files.presign("f", "f.bin")
    assert client.get(url).content == DATA * 10
    r = client.get(url, headers={"Range": "bytes=5-"})
    assert r.status_code == 206 and r.content == (DATA * 10)[5:]
    assert fake_civitai.files.sha256("f") == hashlib.sha256(DATA * 10).hexdigest()


def test_image_cdn_serves_by_uuid(fake_civitai: FakeCivitai, client: httpx.Client):
    fake_civitai.images.put_bytes("0000-uuid", b"\x89PNG fake", "image/png")
    url = fake_civitai.images.image_url("0000-uuid", "123.jpeg")
    assert "/xG1nkqKTMzGDvpLrqFT7WA/0000-uuid/original=true/123.jpeg" in url
    r = client.get(url)
    assert r.status_code == 200
    assert r.headers["content-type"] == "image/png"
    assert r.content == b"\x89PNG fake"
    other = fake_civitai.images.image_url("0000-uuid", "whatever.webp", "width=450")
    assert client.get(other).content == b"\x89PNG fake"
    assert client.get(fake_civitai.images.image_url("nope", "1.jpeg")).status_code == 404
    assert client.get(url, headers={"Authorization": "Bearer x"}).status_code == 400


def test_ignore_range_and_wrong_content_range(fake_civitai: FakeCivitai, client: httpx.Client):
    url = _put(fake_civitai)
    faults = fake_civitai.files.faults
    faults.ignore_range("u1/model.safetensors")
    r = client.get(url, headers={"Range": "bytes=100-"})
    assert r.status_code == 200 and r.content == DATA
    faults.reset()
    faults.wrong_content_range()
    r = client.get(url, headers={"Range": "bytes=100-199"})
    assert r.status_code == 206
    assert not r.headers["content-range"].startswith("bytes 100-")
    faults.reset()
    assert client.get(url, headers={"Range": "bytes=100-199"}).headers["content-range"] == (
        f"bytes 100-199/{len(DATA)}"
    )


def test_truncate_then_recovers(fake_civitai: FakeCivitai, client: httpx.Client):
    url = _put(fake_civitai)
    fake_civitai.files.faults.truncate("u1/model.safetensors", after_bytes=1000)
    got = bytearray()
    with pytest.raises(httpx.RemoteProtocolError), client.stream("GET", url) as r:
        assert r.headers["content-length"] == str(len(DATA))
        for block in r.iter_raw():
            got += block
    assert bytes(got) == DATA[:1000]
    assert client.get(url).content == DATA


def test_reset_drops_connection_with_status_zero(fake_civitai: FakeCivitai, client: httpx.Client):
    url = _put(fake_civitai)
    fake_civitai.files.faults.reset("u1/model.safetensors", times=2)
    for _ in range(2):
        with pytest.raises((httpx.ReadError, httpx.RemoteProtocolError)):
            client.get(url)
    assert client.get(url).status_code == 200
    statuses = [q.status for q in fake_civitai.requests if q.server == "files"]
    assert statuses == [0, 0, 200]


def test_status_fault(fake_civitai: FakeCivitai, client: httpx.Client):
    url = _put(fake_civitai)
    fake_civitai.files.faults.status(None, 503, times=2)
    assert [client.get(url).status_code for _ in range(3)] == [503, 503, 200]


def test_slow_body(fake_civitai: FakeCivitai, client: httpx.Client):
    fake_civitai.files.put_generated("s", 4 * 65536, seed=1)
    fake_civitai.files.faults.slow_body("s", 0.05)
    t0 = time.monotonic()
    client.get(fake_civitai.files.presign("s", "s.bin"))
    assert time.monotonic() - t0 >= 0.15


def test_throttle_per_connection(fake_civitai: FakeCivitai):
    size = 200_000
    fake_civitai.files.put_generated("t", size, seed=3)
    url = fake_civitai.files.presign("t", "t.bin")
    fake_civitai.files.faults.throttle_per_connection(400_000)
    durations: list[float] = []

    def fetch() -> None:
        with httpx.Client(timeout=10) as c:
            t0 = time.monotonic()
            assert len(c.get(url).content) == size
            durations.append(time.monotonic() - t0)

    threads = [threading.Thread(target=fetch) for _ in range(2)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    total = time.monotonic() - t0
    # Each connection alone is capped (~0.5 s); two connections run in parallel, not serially.
    assert all(0.3 < d < 2.0 for d in durations), durations
    assert total < 1.5 * max(durations) + 0.2


def test_recording_headers_and_connection_ids(fake_civitai: FakeCivitai):
    url = _put(fake_civitai)
    with httpx.Client(headers={"User-Agent": "civittui/test"}) as c1:
        c1.get(url)
        c1.get(url, headers={"Range": "bytes=0-0"})
    with httpx.Client() as c2:
        c2.get(url)
    recs = [q for q in fake_civitai.requests if q.server == "files"]
    assert len(recs) == 3
    assert recs[0].connection_id == recs[1].connection_id != recs[2].connection_id
    assert recs[0].headers["user-agent"] == "civittui/test"
    assert recs[1].range == "bytes=0-0" and recs[1].status == 206
    assert recs[0].path == "/model/u1/model.safetensors"
    assert recs[0].query["X-Amz-Expires"] == ["86400"]
    assert recs[0].started <= recs[1].started <= recs[2].started
    fake_civitai.clear_requests()
    assert fake_civitai.requests == []
