"""The builtin downloader against the fake CDN over real HTTP on loopback.

Objects are small (a few MiB) and `segment_min` is lowered so they are fetched as ranges; the
fake CDN's per-connection throttle and slow bodies make ranges finish out of order.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
import sys
import time
from pathlib import Path

import anyio
import pytest

from civittui.config import DownloadSettings
from civittui.download.base import DownloadRequest
from civittui.download.builtin import BuiltinDownloader, policy
from civittui.download.partfile import control_path, part_path
from civittui.download.segments import merge_intervals
from civittui.errors import DownloadError
from tests.fakecivitai import FakeCivitai, RecordedRequest

KiB = 1 << 10
MiB = 1 << 20
SEGMENTED = DownloadSettings(segments=4, segment_min=MiB, connections_per_host=8)
ONE_STREAM = DownloadSettings(segments=1, segment_min=MiB, connections_per_host=8)


class Recorder:
    """A progress callback that keeps what it was told."""

    def __init__(self) -> None:
        self.calls: list[tuple[int, int | None]] = []

    def __call__(self, done: int, total: int | None, note: str | None = None) -> None:
        self.calls.append((done, total))


def parse_range(header: str | None) -> tuple[int, int | None] | None:
    """`bytes=a-b` -> (a, b+1); `bytes=a-` -> (a, None)."""
    if header is None:
        return None
    first, _, last = header.removeprefix("bytes=").partition("-")
    return int(first), (int(last) + 1 if last else None)


def file_requests(fake: FakeCivitai, key: str) -> list[RecordedRequest]:
    return [r for r in fake.requests if r.server == "files" and r.path == f"/model/{key}"]


async def fetch(
    fake: FakeCivitai,
    tmp_path: Path,
    key: str,
    *,
    settings: DownloadSettings = SEGMENTED,
    name: str = "model.safetensors",
    **fields: object,
) -> tuple[Path, str]:
    """Download `key` with a fresh downloader; return the path and its SHA256."""
    request = DownloadRequest(
        key=f"file:{key}",
        url=str(fields.pop("url", None) or fake.files.presign(key, name)),
        dest=tmp_path / name,
        kind="file",
        **fields,  # type: ignore[arg-type]
    )
    async with BuiltinDownloader(settings) as downloader:
        result = await downloader.download(request, Recorder())
    assert result.path.exists()
    digest = hashlib.sha256(result.path.read_bytes()).hexdigest()
    assert digest == result.sha256
    return result.path, digest


def leftovers(tmp_path: Path) -> list[str]:
    return sorted(p.name for p in tmp_path.iterdir())


# -- one stream -----------------------------------------------------------------------------


async def test_small_file_is_one_stream_verified_and_renamed(
    fake_civitai: FakeCivitai, tmp_path: Path
) -> None:
    sha = fake_civitai.files.put_generated("small.bin", 300 * KiB, seed=1)
    progress = Recorder()
    request = DownloadRequest(
        "file:1",
        fake_civitai.files.presign("small.bin", "small.bin"),
        tmp_path / "small.bin",
        "file",
        expected_size=300 * KiB,
        sha256=sha.upper(),
    )
    async with BuiltinDownloader(SEGMENTED) as downloader:
        result = await downloader.download(request, progress)
    assert result.path == tmp_path / "small.bin"
    assert result.sha256 == sha and result.size == 300 * KiB
    assert leftovers(tmp_path) == ["small.bin"]
    (only,) = file_requests(fake_civitai, "small.bin")
    assert only.range is None
    assert only.headers.get("accept-encoding") == "identity"
    assert progress.calls[-1] == (300 * KiB, 300 * KiB)
    assert [d for d, _ in progress.calls] == sorted(d for d, _ in progress.calls)


async def test_truncated_body_resumes_with_range(fake_civitai: FakeCivitai, tmp_path: Path) -> None:
    sha = fake_civitai.files.put_generated("cut.bin", 700 * KiB, seed=2)
    fake_civitai.files.faults.truncate("cut.bin", after_bytes=200 * KiB, times=2)
    _, digest = await fetch(fake_civitai, tmp_path, "cut.bin", settings=ONE_STREAM, sha256=sha)
    assert digest == sha
    ranges = [r.range for r in file_requests(fake_civitai, "cut.bin")]
    assert ranges == [
        None,
        f"bytes={200 * KiB}-{700 * KiB - 1}",
        f"bytes={400 * KiB}-{700 * KiB - 1}",
    ]


async def test_connection_reset_is_retried(fake_civitai: FakeCivitai, tmp_path: Path) -> None:
    sha = fake_civitai.files.put_generated("reset.bin", 500 * KiB, seed=3)
    fake_civitai.files.faults.reset("reset.bin", times=2)
    _, digest = await fetch(fake_civitai, tmp_path, "reset.bin", settings=ONE_STREAM, sha256=sha)
    assert digest == sha
    statuses = [r.status for r in file_requests(fake_civitai, "reset.bin")]
    assert statuses == [0, 0, 200]


async def test_existing_part_is_resumed_and_hashed_from_disk(
    fake_civitai: FakeCivitai, tmp_path: Path
) -> None:
    sha = fake_civitai.files.put_generated("resume.bin", 600 * KiB, seed=4)
    part_path(tmp_path / "resume.bin").write_bytes(fake_civitai.files.read("resume.bin")[:250_000])
    _, digest = await fetch(
        fake_civitai, tmp_path, "resume.bin", settings=ONE_STREAM, name="resume.bin", sha256=sha
    )
    assert digest == sha
    (only,) = file_requests(fake_civitai, "resume.bin")
    assert only.range == "bytes=250000-" and only.status == 206


async def test_complete_part_answered_416_is_verified_without_a_body(
    fake_civitai: FakeCivitai, tmp_path: Path
) -> None:
    data = os.urandom(100 * KiB)
    fake_civitai.files.put_bytes("done.bin", data, "application/octet-stream")
    part_path(tmp_path / "done.bin").write_bytes(data)
    sha = hashlib.sha256(data).hexdigest()
    _, digest = await fetch(
        fake_civitai, tmp_path, "done.bin", settings=ONE_STREAM, name="done.bin", sha256=sha
    )
    assert digest == sha
    assert [(r.range, r.status) for r in file_requests(fake_civitai, "done.bin")] == [
        (f"bytes={100 * KiB}-", 416)
    ]


async def test_oversized_part_answered_416_starts_over(
    fake_civitai: FakeCivitai, tmp_path: Path
) -> None:
    sha = fake_civitai.files.put_generated("shrunk.bin", 100 * KiB, seed=5)
    part_path(tmp_path / "shrunk.bin").write_bytes(b"\x00" * (150 * KiB))
    _, digest = await fetch(
        fake_civitai, tmp_path, "shrunk.bin", settings=ONE_STREAM, name="shrunk.bin", sha256=sha
    )
    assert digest == sha
    assert [r.status for r in file_requests(fake_civitai, "shrunk.bin")] == [416, 200]


async def test_resumed_part_answered_200_restarts_from_zero(
    fake_civitai: FakeCivitai, tmp_path: Path
) -> None:
    sha = fake_civitai.files.put_generated("norange.bin", 400 * KiB, seed=6)
    fake_civitai.files.faults.ignore_range("norange.bin")
    part_path(tmp_path / "n.bin").write_bytes(b"garbage that must not stay" * 1000)
    _, digest = await fetch(
        fake_civitai, tmp_path, "norange.bin", settings=ONE_STREAM, name="n.bin", sha256=sha
    )
    assert digest == sha


# -- segmented ------------------------------------------------------------------------------


async def test_ranges_finishing_out_of_order_assemble_byte_exact(
    fake_civitai: FakeCivitai, tmp_path: Path
) -> None:
    size = 24 * MiB + 12345
    sha = fake_civitai.files.put_generated("seg.bin", size, seed=7)
    fake_civitai.files.faults.throttle_per_connection(16 * MiB)
    # The first range is cut early and waits before resuming, so the others finish first
    # and take over halves of what it has left.
    fake_civitai.files.faults.truncate("seg.bin", after_bytes=256 * KiB, times=1)
    path, digest = await fetch(
        fake_civitai,
        tmp_path,
        "seg.bin",
        sha256=sha,
        expected_size=size,
    )
    assert digest == sha and path.stat().st_size == size
    assert leftovers(tmp_path) == ["model.safetensors"]
    recorded = file_requests(fake_civitai, "seg.bin")
    ranges = [parse_range(r.range) for r in recorded]
    assert all(r is not None for r in ranges)
    assert len({r.connection_id for r in recorded}) >= 4
    # Work stealing: some request starts strictly inside a range asked for earlier.
    assert any(
        a is not None and b is not None and a[1] is not None and a[0] < b[0] < a[1]
        for i, b in enumerate(ranges)
        for a in ranges[:i]
    )


async def test_model_file_of_unknown_size_is_probed_and_split(
    fake_civitai: FakeCivitai, tmp_path: Path
) -> None:
    sha = fake_civitai.files.put_generated("nosize.bin", 16 * MiB, seed=14)
    # Each connection is capped, so every added one raises the throughput.
    fake_civitai.files.faults.throttle_per_connection(2 * MiB)
    _, digest = await fetch(fake_civitai, tmp_path, "nosize.bin", sha256=sha)
    assert digest == sha
    recorded = file_requests(fake_civitai, "nosize.bin")
    assert recorded[0].range == "bytes=0-"
    assert len({r.connection_id for r in recorded}) == 4


async def test_a_line_one_stream_fills_stays_on_one_stream_hashed_as_it_arrives(
    fake_civitai: FakeCivitai, tmp_path: Path
) -> None:
    size = 12 * MiB
    sha = fake_civitai.files.put_generated("line.bin", size, seed=15)
    # All connections share one 6 MiB/s line: a second connection adds nothing.
    fake_civitai.files.faults.throttle_shared(6 * MiB)
    _, digest = await fetch(fake_civitai, tmp_path, "line.bin", sha256=sha, expected_size=size)
    assert digest == sha
    recorded = file_requests(fake_civitai, "line.bin")
    # The first stream asked for the whole file; at most one trial range joined, was found
    # useless and given back, and the first stream ran on over it.
    assert parse_range(recorded[0].range) == (0, size)
    assert len(recorded) <= 2
    assert leftovers(tmp_path) == ["model.safetensors"]


async def test_empty_file(fake_civitai: FakeCivitai, tmp_path: Path) -> None:
    fake_civitai.files.put_bytes("empty.bin", b"", "application/octet-stream")
    path, digest = await fetch(
        fake_civitai, tmp_path, "empty.bin", sha256=hashlib.sha256().hexdigest()
    )
    assert path.read_bytes() == b""
    assert [r.status for r in file_requests(fake_civitai, "empty.bin")] == [416, 200]


async def test_server_ignoring_range_gets_one_stream(
    fake_civitai: FakeCivitai, tmp_path: Path
) -> None:
    sha = fake_civitai.files.put_generated("ign.bin", 3 * MiB, seed=8)
    fake_civitai.files.faults.ignore_range("ign.bin")
    _, digest = await fetch(fake_civitai, tmp_path, "ign.bin", sha256=sha, expected_size=3 * MiB)
    assert digest == sha
    recorded = file_requests(fake_civitai, "ign.bin")
    assert [r.status for r in recorded] == [200]
    assert recorded[0].range is not None  # it was asked for a range and sent everything


async def test_wrong_content_range_is_never_written(
    fake_civitai: FakeCivitai, tmp_path: Path
) -> None:
    sha = fake_civitai.files.put_generated("wrong.bin", 3 * MiB, seed=9)
    fake_civitai.files.faults.wrong_content_range("wrong.bin")
    _, digest = await fetch(fake_civitai, tmp_path, "wrong.bin", sha256=sha, expected_size=3 * MiB)
    assert digest == sha
    recorded = file_requests(fake_civitai, "wrong.bin")
    assert recorded[0].status == 206 and recorded[0].range is not None
    # After the shifted answer: one plain request for the whole file.
    assert [(r.range, r.status) for r in recorded[1:]] == [(None, 200)]


async def test_url_expiring_mid_file_is_refreshed_and_finished_ranges_kept(
    fake_civitai: FakeCivitai, tmp_path: Path
) -> None:
    size = 8 * MiB
    sha = fake_civitai.files.put_generated("exp.bin", size, seed=10)
    # Capped connections: a second one joins, and its request finds the link expired.
    fake_civitai.files.faults.throttle_per_connection(2 * MiB)
    fake_civitai.files.faults.expire_after("exp.bin", requests=1)
    refreshed: list[str] = []

    async def refresh() -> str:
        url = fake_civitai.files.presign("exp.bin", "exp.safetensors")
        refreshed.append(url)
        return url

    _, digest = await fetch(
        fake_civitai, tmp_path, "exp.bin", sha256=sha, expected_size=size, refresh_url=refresh
    )
    assert digest == sha
    assert 1 <= len(refreshed) <= 3
    recorded = file_requests(fake_civitai, "exp.bin")
    assert 403 in [r.status for r in recorded]
    fetched = [parse_range(r.range) for r in recorded if r.status == 206]
    asked = [(a, b or size) for a, b in (f for f in fetched if f is not None)]
    # Every byte asked once from the start; a later range only starts where none had been
    # asked from before (a split inside a live range), so finished ranges were kept.
    assert merge_intervals(asked) == [(0, size)]
    assert len({a for a, _ in asked}) == len(asked)
    for r in fake_civitai.requests:
        assert "authorization" not in r.headers
        assert fake_civitai.api_key not in json.dumps([r.path, r.query, r.headers])


async def test_expired_url_without_refresher_fails_with_reason(
    fake_civitai: FakeCivitai, tmp_path: Path
) -> None:
    fake_civitai.files.put_generated("dead.bin", 200 * KiB, seed=11)
    url = fake_civitai.files.presign("dead.bin", "dead.bin", expires_in=-1)
    with pytest.raises(DownloadError) as err:
        await fetch(fake_civitai, tmp_path, "dead.bin", url=url)
    assert err.value.http_status == 403 and "expired" in err.value.reason
    assert "X-Amz" not in str(err.value)


async def test_hash_mismatch_keeps_nothing(fake_civitai: FakeCivitai, tmp_path: Path) -> None:
    fake_civitai.files.put_generated("bad.bin", 3 * MiB, seed=12)
    with pytest.raises(DownloadError) as err:
        await fetch(fake_civitai, tmp_path, "bad.bin", sha256="ab" * 32, expected_size=3 * MiB)
    assert err.value.reason.startswith(f"SHA256 mismatch: expected {'ab' * 32}, got ")
    assert leftovers(tmp_path) == []


async def test_html_instead_of_a_model_file_is_a_failure(
    fake_civitai: FakeCivitai, tmp_path: Path
) -> None:
    page = b"<!DOCTYPE html><html><body>Please log in</body></html>"
    fake_civitai.files.put_bytes("login.bin", page, "text/html; charset=utf-8")
    fake_civitai.files.put_bytes("disguised.bin", page * 100, "application/octet-stream")
    for key in ("login.bin", "disguised.bin"):
        with pytest.raises(DownloadError) as err:
            await fetch(fake_civitai, tmp_path, key, check_safetensors=True)
        assert "HTML page instead of the file" in err.value.reason
        assert leftovers(tmp_path) == []


async def test_safetensors_header_is_checked(fake_civitai: FakeCivitai, tmp_path: Path) -> None:
    header = json.dumps({"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}}).encode()
    good = struct.pack("<Q", len(header)) + header + b"\x01" * 16
    fake_civitai.files.put_bytes("good.st", good, "application/octet-stream")
    fake_civitai.files.put_bytes("junk.st", os.urandom(64 * KiB), "application/octet-stream")
    path, _ = await fetch(fake_civitai, tmp_path, "good.st", check_safetensors=True)
    assert path.read_bytes() == good
    path.unlink()
    with pytest.raises(DownloadError) as err:
        await fetch(fake_civitai, tmp_path, "junk.st", check_safetensors=True)
    assert "safetensors" in err.value.reason
    assert leftovers(tmp_path) == []


async def test_image_extension_comes_from_content_type(
    fake_civitai: FakeCivitai, tmp_path: Path
) -> None:
    png = b"\x89PNG\r\n\x1a\n" + os.urandom(5000)
    fake_civitai.images.put_bytes("uuid-1", png, "image/png")
    request = DownloadRequest(
        "image:1",
        fake_civitai.images.image_url("uuid-1", "1.jpeg"),
        tmp_path / "1.jpeg",
        "image",
        pick_extension=True,
    )
    async with BuiltinDownloader(SEGMENTED) as downloader:
        result = await downloader.download(request, Recorder())
    assert result.path == tmp_path / "1.png"
    assert result.path.read_bytes() == png
    assert leftovers(tmp_path) == ["1.png"]


async def test_credentials_never_leave_for_a_download_host(
    fake_civitai: FakeCivitai, tmp_path: Path
) -> None:
    fake_civitai.files.put_generated("cred.bin", 10 * KiB, seed=13)
    url = fake_civitai.files.presign("cred.bin", "cred.bin")
    with_user = url.replace("http://", "http://user:secret@", 1)
    for bad in (with_user, url + "&token=abc"):
        with pytest.raises(DownloadError) as err:
            await fetch(fake_civitai, tmp_path, "cred.bin", url=bad)
        assert "refusing" in err.value.reason and "secret" not in err.value.reason
    assert file_requests(fake_civitai, "cred.bin") == []


async def test_connections_per_host_caps_all_downloads_together(
    fake_civitai: FakeCivitai, tmp_path: Path
) -> None:
    # Four files, three connections: one file waits for a connection the others give back
    # to the pool (files this fast stay on one stream, so every response is read to its end:
    # distinct connection ids == connections ever opened).
    settings = DownloadSettings(segments=4, segment_min=MiB, connections_per_host=3)
    keys = [f"cap{i}.bin" for i in range(4)]
    shas = {
        k: fake_civitai.files.put_generated(k, 4 * MiB, seed=20 + i) for i, k in enumerate(keys)
    }
    fake_civitai.files.faults.throttle_per_connection(16 * MiB)
    results: dict[str, str] = {}
    async with BuiltinDownloader(settings) as downloader:

        async def one(key: str) -> None:
            request = DownloadRequest(
                f"file:{key}",
                fake_civitai.files.presign(key, key),
                tmp_path / key,
                "file",
                expected_size=4 * MiB,
                sha256=shas[key],
            )
            results[key] = (await downloader.download(request, Recorder())).sha256

        async with anyio.create_task_group() as tg:
            for key in keys:
                tg.start_soon(one, key)
    assert results == shas
    recorded = [r for r in fake_civitai.requests if r.server == "files"]
    assert len(recorded) >= 4
    assert len({r.connection_id for r in recorded}) <= 3


async def test_cancelled_download_leaves_a_resumable_part(
    fake_civitai: FakeCivitai, tmp_path: Path
) -> None:
    size = 4 * MiB
    sha = fake_civitai.files.put_generated("cancel.bin", size, seed=30)
    fake_civitai.files.faults.throttle_per_connection(MiB // 2)
    request = DownloadRequest(
        "file:c",
        fake_civitai.files.presign("cancel.bin", "c.bin"),
        tmp_path / "c.bin",
        "file",
        expected_size=size,
        sha256=sha,
    )
    async with BuiltinDownloader(SEGMENTED) as downloader:
        with anyio.move_on_after(0.8):
            await downloader.download(request, Recorder())
    assert not (tmp_path / "c.bin").exists()
    saved = json.loads(control_path(tmp_path / "c.bin").read_text())
    done = sum(b - a for a, b in saved["done"])
    assert 0 < done < size
    fake_civitai.files.faults.reset()
    fake_civitai.clear_requests()
    _, digest = await fetch(fake_civitai, tmp_path, "cancel.bin", name="c.bin", sha256=sha)
    assert digest == sha
    refetched = 0
    for r in file_requests(fake_civitai, "cancel.bin"):
        got = parse_range(r.range)
        assert got is not None
        start, end = got[0], got[1] or size
        refetched += end - start
        for a, b in saved["done"]:
            assert end <= a or start >= b, "a finished range was fetched again"
    assert refetched == size - done


async def test_cancelling_interrupts_a_read_the_server_keeps_waiting(
    fake_civitai: FakeCivitai, tmp_path: Path
) -> None:
    # The body is read in a worker thread: a cancellation must wake a read blocked on a
    # server that sends nothing for a minute, not wait for it, and keep what was written.
    size = 8 * MiB
    sha = fake_civitai.files.put_generated("hang.bin", size, seed=31)
    fake_civitai.files.faults.slow_body("hang.bin", 60.0)
    request = DownloadRequest(
        "file:h",
        fake_civitai.files.presign("hang.bin", "h.bin"),
        tmp_path / "h.bin",
        "file",
        expected_size=size,
        sha256=sha,
    )
    progress = Recorder()
    started = time.monotonic()
    async with BuiltinDownloader(SEGMENTED) as downloader:
        with anyio.move_on_after(1.0):
            await downloader.download(request, progress)
    assert time.monotonic() - started < 10, "the cancellation waited for the server"
    assert progress.calls and progress.calls[-1][0] > 0  # the first chunk was written
    assert part_path(tmp_path / "h.bin").exists() and not (tmp_path / "h.bin").exists()


@pytest.mark.parametrize("settings", [ONE_STREAM, SEGMENTED], ids=["one stream", "ranges"])
async def test_long_bodies_read_from_the_socket_survive_cuts(
    fake_civitai: FakeCivitai,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    settings: DownloadSettings,
) -> None:
    # Bodies this long are read past the HTTP parser, straight from the socket: a body cut
    # short is resumed from the last byte written, and the file is byte-exact.
    monkeypatch.setattr(policy, "DIRECT_MIN", 64 * KiB)
    size = 6 * MiB + 321
    sha = fake_civitai.files.put_generated("long.bin", size, seed=33)
    fake_civitai.files.faults.throttle_per_connection(8 * MiB)
    fake_civitai.files.faults.truncate("long.bin", after_bytes=MiB + 7, times=1)
    _, digest = await fetch(
        fake_civitai, tmp_path, "long.bin", settings=settings, sha256=sha, expected_size=size
    )
    assert digest == sha
    recorded = file_requests(fake_civitai, "long.bin")
    assert len(recorded) >= 2  # the cut one, and the one that took over from where it ended
    assert leftovers(tmp_path) == ["model.safetensors"]


# -- kill -9 and resume ---------------------------------------------------------------------

CHILD = """
import sys
from pathlib import Path

import anyio

from civittui.config import DownloadSettings
from civittui.download.base import DownloadRequest
from civittui.download.builtin import BuiltinDownloader


async def main() -> None:
    url, dest, sha = sys.argv[1], Path(sys.argv[2]), sys.argv[3]
    settings = DownloadSettings(segments=4, segment_min=1 << 20)
    async with BuiltinDownloader(settings) as downloader:
        request = DownloadRequest("file:k", url, dest, "file", sha256=sha, expected_size=8 << 20)
        await downloader.download(request, lambda done, total, note=None: None)


anyio.run(main)
"""


async def test_kill_9_then_resume_fetches_only_missing_ranges(
    fake_civitai: FakeCivitai, tmp_path: Path
) -> None:
    size = 8 * MiB
    sha = fake_civitai.files.put_generated("kill.bin", size, seed=40)
    fake_civitai.files.faults.throttle_per_connection(1 * MiB)
    dest = tmp_path / "k.safetensors"
    control = control_path(dest)
    root = Path(__file__).resolve().parent.parent
    child = await anyio.open_process(
        [sys.executable, "-c", CHILD, fake_civitai.files.presign("kill.bin", "k"), str(dest), sha],
        cwd=root,
        env={**os.environ, "PYTHONPATH": str(root)},
        stdout=None,
        stderr=None,
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            await anyio.sleep(0.05)
            try:
                done = sum(b - a for a, b in json.loads(control.read_text())["done"])
            except (OSError, ValueError):
                continue
            if done >= 2 * MiB:
                break
        else:
            pytest.fail("the child never recorded progress")
    finally:
        child.kill()  # SIGKILL on POSIX, TerminateProcess on Windows
        await child.wait()
    saved = json.loads(control.read_text())["done"]
    on_disk = sum(b - a for a, b in saved)
    assert 0 < on_disk < size
    assert part_path(dest).stat().st_size == size  # preallocated
    fake_civitai.files.faults.reset()
    fake_civitai.clear_requests()

    _, digest = await fetch(fake_civitai, tmp_path, "kill.bin", name=dest.name, sha256=sha)
    assert digest == sha
    refetched = 0
    for r in file_requests(fake_civitai, "kill.bin"):
        got = parse_range(r.range)
        assert got is not None and r.status == 206
        start, end = got[0], got[1] or size
        refetched += end - start
        for a, b in saved:
            assert end <= a or start >= b, f"bytes {start}-{end} overlap finished {a}-{b}"
    assert refetched == size - on_disk
    assert leftovers(tmp_path) == [dest.name]


async def test_complete_big_part_without_control_file_is_verified(
    fake_civitai: FakeCivitai, tmp_path: Path
) -> None:
    size = 3 * MiB
    sha = fake_civitai.files.put_generated("whole.bin", size, seed=50)
    part_path(tmp_path / "w.bin").write_bytes(fake_civitai.files.read("whole.bin"))
    _, digest = await fetch(
        fake_civitai, tmp_path, "whole.bin", name="w.bin", sha256=sha, expected_size=size
    )
    assert digest == sha
    assert [(r.range, r.status) for r in file_requests(fake_civitai, "whole.bin")] == [
        (f"bytes={size}-", 416)
    ]
