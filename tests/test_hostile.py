"""A hostile CivitAI look-alike: bad records, bombs, trickles, endless cursors, oversized files.

Each case once aborted or hung the whole run; now the bad part is dropped or failed with a
reason and the run goes on. Real CLI runs against `tests/hostile_server.py` on loopback.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterator
from pathlib import Path

import pytest

from civittui.civitai import client as client_module
from civittui.cli import main
from civittui.download.builtin import policy as builtin_module
from tests.fakecivitai.media import png_bytes, safetensors_bytes
from tests.hostile_server import (
    HostileCivitai,
    HostileHandler,
    file_entry,
    image,
    images_page,
    model,
)


@pytest.fixture
def hostile(monkeypatch: pytest.MonkeyPatch) -> Iterator[HostileCivitai]:
    for name in ("CIVITAI_API_KEY", "CIVITTUI_CONFIG", "CIVITTUI_ROOT", "CIVITTUI_API_BASE"):
        monkeypatch.delenv(name, raising=False)
    with HostileCivitai() as server:
        yield server


def run(server: HostileCivitai, tmp: Path, *args: str, config: str = "") -> int:
    """`civittui ARGS` against the hostile server; retries off unless the config says so."""
    path = tmp / "config.toml"
    path.write_text(config or "[rate]\nretries = 0\n", "utf-8")
    base = ["--config", str(path), "--root", str(tmp / "mirror"), "--api-base", server.api_base]
    return main([*args, *base, "--min-interval", "0"])


def serve_png(server: HostileCivitai, image_id: int) -> None:
    body = png_bytes(image_id)
    server.cdn(f"/img/{image_id}.jpeg", lambda h: h.send_body(200, body, "image/png"))


def test_bad_image_records_are_dropped_with_reasons(
    hostile: HostileCivitai, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cdn = hostile.cdn_base
    bad: list[dict] = [
        image("7", cdn),
        image(-3, cdn),
        image(True, cdn),
        image(1.5, cdn),
        image([1], cdn),
        {k: v for k, v in image(8, cdn).items() if k != "id"},
        image(9, cdn, url=["x"]),
        image(10, cdn, meta={"prompt": 5}),
    ]
    nested: object = "deep"
    for _ in range(600):
        nested = {"a": nested}
    bad.append(image(11, cdn, meta={"prompt": "x", "extra": nested}))
    good = [image(101, cdn), image(102, cdn)]
    for each in good:
        serve_png(hostile, each["id"])
    page = images_page([bad[0], good[0], *bad[1:], good[1]])
    hostile.api("/api/v1/images", lambda h: h.json(page))
    # A dry run names the same drops and reasons as the run.
    assert (
        run(hostile, tmp_path, "get", f"{hostile.api_base}/user/mallory/images", "--dry-run") == 0
    )
    planned = capsys.readouterr().err
    assert "dropped 9 (" in planned and "image id is not a positive whole number" in planned
    code = run(hostile, tmp_path, "get", f"{hostile.api_base}/user/mallory/images")
    err = capsys.readouterr().err
    assert code == 0, err
    folder = tmp_path / "mirror" / "Posts" / "500"
    assert sorted(p.name for p in folder.iterdir()) == ["101.png", "101.txt", "102.png", "102.txt"]
    assert "dropped 9" in err
    assert "image id is not a positive whole number" in err


def serve_file(server: HostileCivitai, file_id: int, body: bytes, **headers: str) -> str:
    """`/api/download/models/{id}` redirects to the CDN, which serves `body`."""
    location = f"{server.cdn_base}/files/{file_id}.bin"
    server.api(f"/api/download/models/{file_id}", lambda h: h.redirect(location))
    server.cdn(
        f"/files/{file_id}.bin",
        lambda h: h.send_body(200, body, "application/octet-stream", headers or None),
    )
    return hashlib.sha256(body).hexdigest()


def no_images(server: HostileCivitai) -> None:
    server.api("/api/v1/images", lambda h: h.json(images_page([])))


def test_bad_model_records_fail_their_target_only(
    hostile: HostileCivitai, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    no_images(hostile)
    good = safetensors_bytes(4096, 1)
    sha = serve_file(hostile, 1, good)
    files = [
        file_entry(1, "good.safetensors", len(good), sha),
        file_entry(2, "inf.safetensors", 100, None, sizeKB=math.inf),  # sent as `Infinity`
        file_entry(3, "nan.safetensors", 100, None, sizeKB=math.nan),
        {**file_entry(4, "x.safetensors", 100, None), "id": "4"},
    ]
    records = {
        10: model(10, files=files),
        11: model(11, version_id=31, type=5),
        12: {**model(12, version_id=32), "modelVersions": None},
    }
    for model_id, record in records.items():
        hostile.api(f"/api/v1/models/{model_id}", lambda h, r=record: h.json(r))
    deep = b'{"id": 13, "x": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    hostile.api("/api/v1/models/13", lambda h: h.raw_json(deep))
    urls = [f"{hostile.api_base}/models/{n}" for n in (11, 12, 13, 10)]
    code = run(hostile, tmp_path, "get", *urls)
    err = capsys.readouterr().err
    assert code == 1, err
    assert "Traceback" not in err
    assert "model type is not text" in err
    assert "model modelVersions is not a list" in err
    assert "malformed JSON" in err
    assert "file sizeKB is not a finite size: 2" in err
    assert "file id is not a positive whole number: 1" in err
    on_disk = list((tmp_path / "mirror").rglob("*.safetensors"))
    assert [p.read_bytes() for p in on_disk] == [good]


def test_a_gzip_bomb_is_refused_past_the_body_cap(
    hostile: HostileCivitai,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # 8 MiB of JSON in a 9 KB gzip body (the real bomb: 3 MB -> 9 GB of RSS); cap at 1 MiB.
    monkeypatch.setattr(client_module, "MAX_BODY", 1 << 20)
    body = b'{"items": [], "metadata": {}' + b" " * (8 << 20) + b"}"
    hostile.api("/api/v1/images", lambda h: h.raw_json(body, gzipped=True))
    code = run(hostile, tmp_path, "get", f"{hostile.api_base}/user/mallory/images")
    err = capsys.readouterr().err
    assert code == 1, err
    assert "CivitAI sent a response larger than 1 MiB (refused)" in err


@pytest.mark.parametrize("declared", [True, False])
def test_a_huge_page_is_refused_past_the_body_cap(
    hostile: HostileCivitai,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    declared: bool,
) -> None:
    monkeypatch.setattr(client_module, "MAX_BODY", 1 << 20)
    size = 4 << 20
    chunks = [b'{"items": [], "metadata": {}', *[b" " * (64 << 10)] * 64, b"}"]
    total = sum(map(len, chunks))
    hostile.api(
        "/api/v1/images",
        lambda h: h.stream(
            chunks, content_type="application/json", length=total if declared else None
        ),
    )
    code = run(hostile, tmp_path, "get", f"{hostile.api_base}/user/mallory/images")
    err = capsys.readouterr().err
    assert code == 1, err
    assert "larger than 1 MiB" in err
    assert total > size


@pytest.mark.timeout(30)
def test_an_api_trickling_a_byte_at_a_time_hits_the_request_deadline(
    hostile: HostileCivitai,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # One byte every 0.1 s never trips the per-read timeout: the run waited forever.
    monkeypatch.setattr(client_module, "API_DEADLINE", 0.5)
    hostile.api("/api/v1/images", lambda h: h.trickle(every=0.1, content_type="application/json"))
    code = run(hostile, tmp_path, "get", f"{hostile.api_base}/user/mallory/images")
    err = capsys.readouterr().err
    assert code == 1, err
    assert "network error talking to CivitAI (timed out) after 0 retries" in err


def test_a_cursor_that_loops_over_the_same_items_is_stopped(
    hostile: HostileCivitai, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    serve_png(hostile, 101)
    item = image(101, hostile.cdn_base)

    def page(h: HostileHandler) -> None:
        cursor = int(h.query.get("cursor", ["0"])[0])
        following = f"{hostile.api_base}/api/v1/images?cursor={cursor + 1}" if cursor < 50 else None
        h.json(images_page([item], following))

    hostile.api("/api/v1/images", page)
    code = run(hostile, tmp_path, "get", f"{hostile.api_base}/user/mallory/images")
    err = capsys.readouterr().err
    assert code == 0, err
    assert len(hostile.requests_to("api", "/api/v1/images")) == 1 + client_module.STALE_PAGES
    assert "no new items (a looping cursor)" in err


# -- downloads ------------------------------------------------------------------------------


def model_with(hostile: HostileCivitai, *files: dict) -> str:
    """Serve model 10 with `files`; returns its page URL."""
    no_images(hostile)
    record = model(10, files=list(files))
    hostile.api("/api/v1/models/10", lambda h: h.json(record))
    return f"{hostile.api_base}/models/10"


def failures(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> list[dict]:
    capsys.readouterr()
    config = tmp_path / "config.toml"
    assert (
        main(["failures", "--json", "--config", str(config), "--root", str(tmp_path / "mirror")])
        == 0
    )
    return json.loads(capsys.readouterr().out)


def test_a_nested_safetensors_header_whose_hash_matches_is_a_failure(
    hostile: HostileCivitai, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # CivitAI confirms the SHA256 of whatever was uploaded; a header of 100k nested arrays
    # raised RecursionError, and the `.part` made every rerun crash the same way.
    header = b"[" * 100_000 + b"]" * 100_000
    body = len(header).to_bytes(8, "little") + header
    sha = serve_file(hostile, 1, body)
    url = model_with(hostile, file_entry(1, "evil.safetensors", len(body), sha))
    for _ in range(2):
        code = run(hostile, tmp_path, "get", url)
        err = capsys.readouterr().err
        assert code == 1, err
        assert "Traceback" not in err
        [failure] = failures(tmp_path, capsys)
        assert "not a safetensors file (header nested too deeply)" in failure["reason"]
    assert not list((tmp_path / "mirror").rglob("evil.safetensors*"))


def test_retry_after_nan_from_the_cdn_is_ignored(
    hostile: HostileCivitai, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = safetensors_bytes(4096, 2)
    sha = serve_file(hostile, 1, good)
    answers = iter(["busy"])

    def flaky(h: HostileHandler) -> None:
        if next(answers, None) == "busy":
            h.send_body(503, b"busy", "text/plain", {"Retry-After": "nan"})
        else:
            h.send_body(200, good, "application/octet-stream")

    hostile.cdn("/files/1.bin", flaky)
    url = model_with(hostile, file_entry(1, "m.safetensors", len(good), sha))
    code = run(hostile, tmp_path, "get", url)
    err = capsys.readouterr().err
    assert code == 0, err
    [path] = (tmp_path / "mirror").rglob("m.safetensors")
    assert path.read_bytes() == good


def test_a_body_longer_than_announced_by_the_api_is_refused_before_writing(
    hostile: HostileCivitai, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A 290 KB model grew to 52 MB: the Content-Length disagrees with the API's size.
    good = safetensors_bytes(290 * 1024, 3)
    sha = hashlib.sha256(good).hexdigest()
    big = 52 << 20
    location = f"{hostile.cdn_base}/files/1.bin"
    hostile.api("/api/download/models/1", lambda h: h.redirect(location))
    hostile.cdn(
        "/files/1.bin",
        lambda h: h.stream(iter([good] + [b"\0" * (1 << 20)] * 52), length=big + len(good)),
    )
    url = model_with(hostile, file_entry(1, "m.safetensors", len(good), sha))
    code = run(hostile, tmp_path, "get", url)
    err = capsys.readouterr().err
    assert code == 1, err
    [failure] = failures(tmp_path, capsys)
    assert f"the server offers {big + len(good):,} bytes of {len(good):,}" in failure["reason"]
    assert sum(p.stat().st_size for p in (tmp_path / "mirror").rglob("*") if p.is_file()) < 1 << 20


def test_an_endless_body_stops_past_the_expected_size(
    hostile: HostileCivitai, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = safetensors_bytes(64 * 1024, 4)
    sha = hashlib.sha256(good).hexdigest()
    location = f"{hostile.cdn_base}/files/1.bin"
    hostile.api("/api/download/models/1", lambda h: h.redirect(location))

    def endless() -> Iterator[bytes]:
        yield good
        while True:
            yield b"\0" * (64 << 10)

    hostile.cdn("/files/1.bin", lambda h: h.stream(endless()))  # chunked: no length at all
    url = model_with(hostile, file_entry(1, "m.safetensors", len(good), sha))
    code = run(hostile, tmp_path, "get", url)
    err = capsys.readouterr().err
    assert code == 1, err
    [failure] = failures(tmp_path, capsys)
    assert "the server sent more than the" in failure["reason"]
    assert not list((tmp_path / "mirror").rglob("m.safetensors*"))


def test_an_endless_image_stops_at_the_image_cap(
    hostile: HostileCivitai,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(builtin_module, "IMAGE_MAX_BYTES", 256 << 10)
    png = png_bytes(101)

    def endless() -> Iterator[bytes]:
        yield png
        while True:
            yield b"\0" * (64 << 10)

    hostile.cdn("/img/101.jpeg", lambda h: h.stream(endless(), content_type="image/png"))
    page = images_page([image(101, hostile.cdn_base)])
    hostile.api("/api/v1/images", lambda h: h.json(page))
    code = run(hostile, tmp_path, "get", f"{hostile.api_base}/user/mallory/images")
    err = capsys.readouterr().err
    assert code == 1, err
    [failure] = failures(tmp_path, capsys)
    assert (
        f"the server sent more than the {256 << 10} bytes expected of the image"
        in (failure["reason"])
    )


@pytest.mark.timeout(30)
def test_a_download_trickling_a_byte_at_a_time_is_stalled(
    hostile: HostileCivitai,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # One byte every 50 ms keeps the per-read timeout (60 s) happy forever.
    monkeypatch.setattr(builtin_module, "STALL_WINDOW", 0.3)
    monkeypatch.setattr(builtin_module, "STALL_MIN_BYTES", 1024)
    monkeypatch.setattr(builtin_module, "MAX_ATTEMPTS", 1)
    location = f"{hostile.cdn_base}/files/1.bin"
    hostile.api("/api/download/models/1", lambda h: h.redirect(location))
    hostile.cdn(
        "/files/1.bin",
        lambda h: h.trickle(every=0.05, content_type="application/octet-stream", length=4096),
    )
    url = model_with(hostile, file_entry(1, "m.safetensors", 4096, None))
    code = run(hostile, tmp_path, "get", url)
    err = capsys.readouterr().err
    assert code == 1, err
    [failure] = failures(tmp_path, capsys)
    assert "the download stalled (less than 1 KiB in 0.3 s)" in failure["reason"]


# -- state from elsewhere -------------------------------------------------------------------


def test_retry_in_a_moved_root_is_a_failure_line(
    hostile: HostileCivitai, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Failures keep absolute folders; after `mv A B`, `retry --root B` raised ValueError.
    hostile.api("/api/download/models/1", lambda h: h.send_body(500, b"", "text/plain"))
    url = model_with(hostile, file_entry(1, "m.safetensors", 5000, None))
    assert run(hostile, tmp_path, "get", url) == 1
    (tmp_path / "mirror").rename(tmp_path / "moved")
    config = tmp_path / "config.toml"
    base = ["--config", str(config), "--root", str(tmp_path / "moved")]
    capsys.readouterr()
    code = main(["retry", "--all", *base, "--api-base", hostile.api_base, "--min-interval", "0"])
    err = capsys.readouterr().err
    assert code == 1, err
    assert "Traceback" not in err
    assert "refusing a path outside the mirror" in err
    assert "was the mirror moved?" in err


@pytest.mark.parametrize("name", ["../../../outside", "a/b", "", ".."])
def test_a_hand_edited_folder_claim_is_one_line(
    hostile: HostileCivitai, tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str
) -> None:
    url = model_with(hostile)
    assert run(hostile, tmp_path, "get", url) == 0
    state = tmp_path / "mirror" / ".civittui" / "state.json"
    data = json.loads(state.read_text("utf-8"))
    claim = next(iter(data["dirs"].values()))
    claim["name"] = name
    state.write_text(json.dumps(data), "utf-8")
    capsys.readouterr()
    assert run(hostile, tmp_path, "get", url) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert f"folder claim name {name!r} is not a plain folder or file name" in err
    assert not (tmp_path / "outside").exists()
