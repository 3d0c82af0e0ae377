"""The IDM downloader driving the IDMan stand-in, which fetches from the fake CDN."""

from __future__ import annotations

import hashlib
import subprocess
import sys
import time
from pathlib import Path

import anyio
import pytest

from civittui.config import Config
from civittui.download.base import DownloadRequest, DownloadResult
from civittui.download.idm import NOT_WINDOWS, IdmDownloader, format_duration, locate_idm
from civittui.errors import DownloadError, EngineSetupError
from tests.fakecivitai import FakeCivitai
from tests.standins import IdmStandin, install_idman

FAST = {"poll_interval": 0.05, "batch_window": 0.4}
ODD_DIR = "My Models ✓ 모델 & co"


class Seen:
    """Progress calls, as (done, total, note)."""

    def __init__(self) -> None:
        self.calls: list[tuple[int, int | None, str | None]] = []

    def __call__(self, done: int, total: int | None, note: str | None = None) -> None:
        self.calls.append((done, total, note))


@pytest.fixture
def idman(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> IdmStandin:
    return install_idman(tmp_path / "idm bin", monkeypatch)


def _put(fake: FakeCivitai, key: str, size: int, seed: int) -> tuple[str, str]:
    """Store a generated object; returns (presigned URL, sha256)."""
    digest = fake.files.put_generated(key, size, seed)
    return fake.files.presign(key, Path(key).name), digest


def _request(url: str, dest: Path, size: int | None, sha: str | None) -> DownloadRequest:
    return DownloadRequest(
        key=f"file:{dest.stem}", url=url, dest=dest, kind="file", expected_size=size, sha256=sha
    )


async def test_batch_is_queued_then_started_once_and_files_verify(
    fake_civitai: FakeCivitai, idman: IdmStandin, tmp_path: Path
) -> None:
    folder = tmp_path / ODD_DIR
    items = []
    for i, name in enumerate(["a.safetensors", "b b.safetensors", "ç & d.safetensors"]):
        url, sha = _put(fake_civitai, f"m/{i}/{name}", 150_000 + i, seed=i)
        assert "&" in url
        items.append(_request(url, folder / name, 150_000 + i, sha.upper()))
    results: dict[str, DownloadResult] = {}
    seen = Seen()

    async def one(req: DownloadRequest) -> None:
        results[req.dest.name] = await downloader.download(req, seen)

    downloader = IdmDownloader(idm_path=str(idman.exe), timeout=20, **FAST)
    async with downloader, anyio.create_task_group() as tg:
        for req in items:
            tg.start_soon(one, req)

    commands = idman.commands()
    queued = sorted(c for c in commands if c != ["/s"])
    assert queued == sorted(
        ["/d", r.url, "/p", str(folder), "/f", r.dest.name, "/n", "/a"] for r in items
    )
    assert commands[-1] == ["/s"] and commands.count(["/s"]) == 1
    for req in items:
        data = req.dest.read_bytes()
        sha = (req.sha256 or "").lower()
        assert hashlib.sha256(data).hexdigest() == sha
        assert results[req.dest.name] == DownloadResult(req.dest, len(data), sha)
    assert {e["name"] for e in idman.events() if e["event"] == "delivered"} == {
        r.dest.name for r in items
    }
    assert (0, 150_000, "queued in IDM") in seen.calls
    assert (150_001, 150_001, None) in seen.calls
    cdn = [r for r in fake_civitai.requests if r.server == "files"]
    assert len(cdn) == 3 and {r.status for r in cdn} == {200}
    assert all("authorization" not in {h.lower() for h in r.headers} for r in cdn)


async def test_a_later_file_gets_its_own_start(
    fake_civitai: FakeCivitai, idman: IdmStandin, tmp_path: Path
) -> None:
    url1, sha1 = _put(fake_civitai, "m/1.safetensors", 2048, seed=1)
    url2, sha2 = _put(fake_civitai, "m/2.safetensors", 4096, seed=2)
    async with IdmDownloader(idm_path=str(idman.exe), timeout=20, **FAST) as downloader:
        await downloader.download(_request(url1, tmp_path / "1.safetensors", 2048, sha1), Seen())
        await downloader.download(_request(url2, tmp_path / "2.safetensors", None, None), Seen())
    assert [c[-1] for c in idman.commands()] == ["/a", "/s", "/a", "/s"]
    assert hashlib.sha256((tmp_path / "2.safetensors").read_bytes()).hexdigest() == sha2


async def test_hash_mismatch_removes_the_delivered_file(
    fake_civitai: FakeCivitai, idman: IdmStandin, tmp_path: Path
) -> None:
    url, _ = _put(fake_civitai, "m/bad.safetensors", 50_000, seed=7)
    dest = tmp_path / "bad.safetensors"
    async with IdmDownloader(idm_path=str(idman.exe), timeout=20, **FAST) as downloader:
        with pytest.raises(DownloadError, match=r"^SHA256 mismatch for bad\.safetensors"):
            await downloader.download(_request(url, dest, 50_000, "ab" * 32), Seen())
    assert [e["event"] for e in idman.events()] == ["delivered"]
    assert not dest.exists()


async def test_no_delivery_within_the_timeout_fails(
    fake_civitai: FakeCivitai, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    idman = install_idman(tmp_path / "bin", monkeypatch, mode="never")
    url, sha = _put(fake_civitai, "m/late.safetensors", 1000, seed=3)
    seen = Seen()
    started = time.monotonic()
    async with IdmDownloader(idm_path=str(idman.exe), timeout=1.0, **FAST) as downloader:
        with pytest.raises(DownloadError) as caught:
            await downloader.download(_request(url, tmp_path / "late.safetensors", 1000, sha), seen)
    assert str(caught.value) == "IDM did not deliver late.safetensors within 1 s"
    assert time.monotonic() - started < 5
    assert {note for _, _, note in seen.calls} == {"queued in IDM"}
    assert [c[-1] for c in idman.commands()] == ["/a", "/s"]


async def test_growing_file_reports_its_size(
    fake_civitai: FakeCivitai, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    idman = install_idman(tmp_path / "bin", monkeypatch, mode="inplace")
    url, sha = _put(fake_civitai, "m/slow.safetensors", 240_000, seed=4)
    fake_civitai.files.faults.throttle_per_connection(400_000)
    seen = Seen()
    async with IdmDownloader(idm_path=str(idman.exe), timeout=20, **FAST) as downloader:
        result = await downloader.download(
            _request(url, tmp_path / "slow.safetensors", 240_000, sha), seen
        )
    assert result.sha256 == sha
    partial = [done for done, _, note in seen.calls if note is None and 0 < done < 240_000]
    assert partial and partial == sorted(partial)


async def test_wrong_size_that_stops_changing_fails(
    fake_civitai: FakeCivitai, idman: IdmStandin, tmp_path: Path
) -> None:
    url, _ = _put(fake_civitai, "m/short.safetensors", 10_000, seed=5)
    dest = tmp_path / "short.safetensors"
    async with IdmDownloader(idm_path=str(idman.exe), timeout=20, settle=0.3, **FAST) as downloader:
        with pytest.raises(DownloadError, match=r"stopped at 10000 bytes, expected 50000"):
            await downloader.download(_request(url, dest, 50_000, None), Seen())
    assert not dest.exists()


async def test_a_verified_file_already_there_is_kept(
    fake_civitai: FakeCivitai, idman: IdmStandin, tmp_path: Path
) -> None:
    url, sha = _put(fake_civitai, "m/have.safetensors", 3000, seed=6)
    dest = tmp_path / "have.safetensors"
    dest.write_bytes(fake_civitai.files.read("m/have.safetensors"))
    async with IdmDownloader(idm_path=str(idman.exe), timeout=20, **FAST) as downloader:
        result = await downloader.download(_request(url, dest, 3000, sha), Seen())
    assert result == DownloadResult(dest, 3000, sha)
    assert idman.commands() == []


async def test_images_named_by_content_type_are_refused(idman: IdmStandin, tmp_path: Path) -> None:
    request = DownloadRequest(
        key="image:1", url="http://x/y", dest=tmp_path / "1", kind="image", pick_extension=True
    )
    async with IdmDownloader(idm_path=str(idman.exe), timeout=20, **FAST) as downloader:
        with pytest.raises(DownloadError, match="builtin downloader"):
            await downloader.download(request, Seen())
    assert idman.commands() == []


def test_locate_finds_the_configured_file_or_a_command_on_path(
    idman: IdmStandin, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert locate_idm(str(idman.exe)) == idman.exe
    monkeypatch.setenv("PATH", str(idman.exe.parent))
    assert locate_idm(idman.exe.stem).resolve() == idman.exe.resolve()


@pytest.mark.skipif(sys.platform == "win32", reason="the non-Windows message")
async def test_no_executable_off_windows_is_a_setup_error(tmp_path: Path) -> None:
    for configured in ["", str(tmp_path / "IDMan.exe"), Config().idm_path]:
        with pytest.raises(EngineSetupError) as caught:
            locate_idm(configured)
        assert str(caught.value) == NOT_WINDOWS
    downloader = IdmDownloader(idm_path=str(tmp_path / "missing" / "IDMan.exe"), timeout=1)
    with pytest.raises(EngineSetupError, match="^IDM runs only on Windows"):
        await downloader.check()
    request = _request("http://x/y", tmp_path / "f.safetensors", None, None)
    with pytest.raises(EngineSetupError):
        await downloader.download(request, Seen())


@pytest.mark.skipif(sys.platform != "win32", reason="Windows lookup")
def test_no_executable_on_windows_names_the_setting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ProgramFiles(x86)", str(tmp_path))
    monkeypatch.setenv("ProgramFiles", str(tmp_path))
    try:
        found = locate_idm(str(tmp_path / "IDMan.exe"))
    except EngineSetupError as err:
        assert "set idm_path" in str(err)
    else:  # a real IDM is installed on this machine
        assert found.name.lower() == "idman.exe"


def test_standin_rejects_what_idm_would_not_take(idman: IdmStandin) -> None:
    def run(*args: str) -> int:
        return subprocess.run([str(idman.exe), *args], check=False, timeout=30).returncode

    assert run("/x") == 1
    assert run("/n") == 1
    assert run("/d") == 1
    assert run("/d", "http://a/b", "/s") == 1
    assert idman.commands() == [["/x"], ["/n"], ["/d"], ["/d", "http://a/b", "/s"]]


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(1.5, "1.5 s"), (59, "59 s"), (90, "1 min 30 s"), (3600, "1 h"), (6 * 3600 + 60, "6 h 1 min")],
)
def test_timeouts_read_naturally(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text
