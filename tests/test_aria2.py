"""The aria2 downloader against a real `aria2c --enable-rpc` fetching from the fake CDN."""

from __future__ import annotations

import hashlib
import os
import secrets
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from civittui import USER_AGENT
from civittui.download.aria2 import Aria2Downloader, aria2_placement
from civittui.download.base import DownloadRequest
from civittui.errors import DownloadError, EngineSetupError
from tests.fakecivitai import FakeCivitai


@dataclass(frozen=True)
class Aria2:
    url: str
    secret: str

    def call(self, method: str, *params: object) -> object:
        body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": [f"token:{self.secret}"]}
        body["params"] += list(params)  # type: ignore[operator]
        return httpx.post(self.url, json=body, timeout=5).json()["result"]

    def results(self) -> list[object]:
        """Everything aria2 still lists: active, waiting, stopped."""
        active = self.call("aria2.tellActive", ["gid"])
        waiting = self.call("aria2.tellWaiting", 0, 100, ["gid"])
        stopped = self.call("aria2.tellStopped", 0, 100, ["gid"])
        return [*active, *waiting, *stopped]  # type: ignore[misc]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def aria2(tmp_path: Path) -> Iterator[Aria2]:
    exe = shutil.which("aria2c")
    if exe is None:
        if os.environ.get("CI"):
            pytest.fail("aria2c is required in CI")
        pytest.skip("aria2c is not installed")
    port, secret = _free_port(), secrets.token_hex(16)
    daemon = subprocess.Popen(
        [
            exe,
            "--no-conf",
            "--enable-rpc",
            f"--rpc-listen-port={port}",
            f"--rpc-secret={secret}",
            "--rpc-listen-all=false",
            f"--dir={tmp_path / 'aria2-default'}",
            "--daemon=false",
            "--quiet",
            f"--stop-with-process={os.getpid()}",
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                if daemon.poll() is not None or time.monotonic() > deadline:
                    pytest.fail("aria2c did not start")
                time.sleep(0.02)
        yield Aria2(f"http://127.0.0.1:{port}/jsonrpc", secret)
    finally:
        daemon.kill()  # a graceful stop costs aria2 a second per test; it keeps nothing
        daemon.wait()


class Seen:
    """Progress calls, as (done, total, note)."""

    def __init__(self) -> None:
        self.calls: list[tuple[int, int | None, str | None]] = []

    def __call__(self, done: int, total: int | None, note: str | None = None) -> None:
        self.calls.append((done, total, note))


def _downloader(aria2: Aria2, root: Path, **kwargs: Any) -> Aria2Downloader:
    return Aria2Downloader(
        rpc_url=aria2.url, secret=aria2.secret, local_root=root, poll_interval=0.05, **kwargs
    )


def _request(url: str, dest: Path, size: int, sha: str | None, **kw: Any) -> DownloadRequest:
    return DownloadRequest(
        key="file:1", url=url, dest=dest, kind="file", expected_size=size, sha256=sha, **kw
    )


async def test_download_reports_real_bytes_and_verifies(
    fake_civitai: FakeCivitai, aria2: Aria2, tmp_path: Path
) -> None:
    size = 600_000
    sha = fake_civitai.files.put_generated("v/1/model.safetensors", size, seed=11)
    url = fake_civitai.files.presign("v/1/model.safetensors", "model.safetensors")
    fake_civitai.files.faults.throttle_per_connection(1_000_000)
    dest = tmp_path / "alice" / "Lora ✓" / "model & co.safetensors"
    seen = Seen()
    async with _downloader(aria2, tmp_path) as downloader:
        result = await downloader.download(_request(url, dest, size, sha.upper()), seen)
    assert result.path == dest and result.size == size and result.sha256 == sha
    assert hashlib.sha256(dest.read_bytes()).hexdigest() == sha
    assert not dest.with_name(dest.name + ".aria2").exists()
    partial = [done for done, total, _ in seen.calls if 0 < done < size]
    assert partial and partial == sorted(partial)
    assert seen.calls[-1] == (size, size, None)
    cdn = [r for r in fake_civitai.requests if r.server == "files"]
    assert cdn and {r.status for r in cdn} <= {200, 206}
    for r in cdn:
        headers = {k.lower(): v for k, v in r.headers.items()}
        assert "authorization" not in headers and "cookie" not in headers
        assert headers["user-agent"] == USER_AGENT
    assert aria2.results() == []


async def test_checksum_mismatch_fails_and_removes_the_file(
    fake_civitai: FakeCivitai, aria2: Aria2, tmp_path: Path
) -> None:
    fake_civitai.files.put_bytes("v/2/x.safetensors", b"served bytes" * 1000, "binary/octet")
    url = fake_civitai.files.presign("v/2/x.safetensors", "x.safetensors")
    wanted = hashlib.sha256(b"other bytes").hexdigest()
    dest = tmp_path / "x.safetensors"
    async with _downloader(aria2, tmp_path) as downloader:
        with pytest.raises(DownloadError) as caught:
            await downloader.download(_request(url, dest, 12_000, wanted), Seen())
    assert str(caught.value) == "SHA256 mismatch (aria2 verified)"
    assert not dest.exists()
    assert aria2.results() == []


async def test_cdn_error_carries_arias_message_without_the_url(
    fake_civitai: FakeCivitai, aria2: Aria2, tmp_path: Path
) -> None:
    url = fake_civitai.files.presign("v/3/gone.safetensors", "gone.safetensors")
    async with _downloader(aria2, tmp_path) as downloader:
        with pytest.raises(DownloadError) as caught:
            await downloader.download(_request(url, tmp_path / "gone.safetensors", 1, None), Seen())
    assert "errorCode 3" in caught.value.reason
    assert caught.value.http_status == 404
    assert "X-Amz" not in caught.value.reason and "localhost" not in caught.value.reason
    assert aria2.results() == []


async def test_expired_link_is_resolved_again(
    fake_civitai: FakeCivitai, aria2: Aria2, tmp_path: Path
) -> None:
    sha = fake_civitai.files.put_generated("v/4/m.safetensors", 70_000, seed=4)
    stale = fake_civitai.files.presign("v/4/m.safetensors", "m.safetensors")
    fake_civitai.files.faults.expire_all_signatures()
    fresh: list[str] = []

    async def refresh() -> str:
        fresh.append(fake_civitai.files.presign("v/4/m.safetensors", "m.safetensors"))
        return fresh[-1]

    dest = tmp_path / "m.safetensors"
    async with _downloader(aria2, tmp_path) as downloader:
        result = await downloader.download(
            _request(stale, dest, 70_000, sha, refresh_url=refresh), Seen()
        )
    assert result.sha256 == sha and len(fresh) == 1
    statuses = [r.status for r in fake_civitai.requests if r.server == "files"]
    assert statuses[0] == 403 and statuses[-1] == 200


async def test_cancelling_removes_the_download_from_aria2(
    fake_civitai: FakeCivitai, aria2: Aria2, tmp_path: Path
) -> None:
    fake_civitai.files.put_generated("v/5/big.safetensors", 5_000_000, seed=5)
    url = fake_civitai.files.presign("v/5/big.safetensors", "big.safetensors")
    fake_civitai.files.faults.throttle_per_connection(300_000)
    moving = anyio.Event()

    def progress(done: int, total: int | None, note: str | None = None) -> None:
        if 0 < done < 5_000_000:
            moving.set()

    async with _downloader(aria2, tmp_path) as downloader:
        request = _request(url, tmp_path / "big.safetensors", 5_000_000, None)
        async with anyio.create_task_group() as tg:
            tg.start_soon(downloader.download, request, progress)
            with anyio.fail_after(10):
                await moving.wait()
            tg.cancel_scope.cancel()
        assert aria2.results() == []


async def test_remote_aria2_gets_its_own_paths(
    fake_civitai: FakeCivitai, aria2: Aria2, tmp_path: Path
) -> None:
    sha = fake_civitai.files.put_generated("v/6/r.safetensors", 30_000, seed=6)
    url = fake_civitai.files.presign("v/6/r.safetensors", "r.safetensors")
    here, there = tmp_path / "here", tmp_path / "there"
    dest = here / "alice" / "lora" / "r.safetensors"
    async with _downloader(aria2, here, remote_root=str(there)) as downloader:
        result = await downloader.download(_request(url, dest, 30_000, sha), Seen())
    delivered = there / "alice" / "lora" / "r.safetensors"
    assert hashlib.sha256(delivered.read_bytes()).hexdigest() == sha
    assert not dest.exists()
    assert (result.path, result.size, result.sha256) == (dest, 30_000, sha)


async def test_wrong_secret_is_a_setup_error(aria2: Aria2, tmp_path: Path) -> None:
    # One rejected call only: aria2 answers a wrong secret after a deliberate delay.
    wrong = Aria2(aria2.url, "not-the-secret")
    async with _downloader(wrong, tmp_path) as downloader:
        with pytest.raises(EngineSetupError) as caught:
            await downloader.download(_request("http://x/y", tmp_path / "y", 1, None), Seen())
    assert str(caught.value) == "aria2 RPC rejected the secret (aria2_secret)"
    async with _downloader(aria2, tmp_path) as downloader:
        await downloader.check()


async def test_unreachable_rpc_is_a_setup_error(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{_free_port()}/jsonrpc"
    async with Aria2Downloader(rpc_url=url, secret="s", local_root=tmp_path) as downloader:
        with pytest.raises(EngineSetupError) as caught:
            await downloader.check()
    assert str(caught.value).startswith(f"aria2 RPC at {url} is not reachable: ")
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    ("remote_root", "expected_dir"),
    [
        ("", None),
        ("/volume1/CivitAI", "/volume1/CivitAI/alice/lora"),
        ("/volume1/CivitAI/", "/volume1/CivitAI/alice/lora"),
        ("D:\\CivitAI", "D:\\CivitAI\\alice\\lora"),
        ("D:/CivitAI", "D:/CivitAI/alice/lora"),
        ("/", "/alice/lora"),
    ],
)
def test_placement_maps_root_to_aria2_root(
    tmp_path: Path, remote_root: str, expected_dir: str | None
) -> None:
    dest = tmp_path / "alice" / "lora" / "x.safetensors"
    folder, out = aria2_placement(dest, tmp_path, remote_root)
    assert out == "x.safetensors"
    assert folder == (expected_dir or str(dest.parent))


def test_placement_outside_root_with_aria2_root_is_refused(tmp_path: Path) -> None:
    with pytest.raises(DownloadError, match="outside"):
        aria2_placement(tmp_path / "elsewhere" / "f", tmp_path / "root", "/r")
    assert aria2_placement(tmp_path / "root" / "f", tmp_path / "root", "/r") == ("/r", "f")
