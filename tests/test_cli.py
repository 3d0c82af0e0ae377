"""The command line: help, config, options anywhere, batch files, bad input, Ctrl+C."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from civittui.cli.main import COMMANDS, main
from tests.cli_helpers import Mirror, make_mirror
from tests.fakecivitai import FakeCivitai


@pytest.fixture
def mirror(fake_civitai: FakeCivitai, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Mirror:
    return make_mirror(fake_civitai, tmp_path, monkeypatch)


def _run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("CIVITAI", "CIVITTUI"))}
    return subprocess.run(
        [sys.executable, "-m", "civittui", *args],
        capture_output=True,
        text=True,
        env={**clean, **(env or {})},
        timeout=60,
    )


def test_help_lists_every_command() -> None:
    result = _run("--help")
    assert result.returncode == 0
    for command in COMMANDS:
        assert command in result.stdout
    assert _run("get", "--help").returncode == 0


def test_config_shows_values_sources_and_masks_secrets(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text('nsfw = "soft"\n[rate]\nmin_interval = 2.5\n', "utf-8")
    key = "abcdef0123456789abcdef0123456789"
    result = _run(
        "config", "--config", str(config), "--root", str(tmp_path / "r"),
        env={"CIVITAI_API_KEY": key},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    lines = {line.split()[0]: line for line in result.stdout.splitlines()}
    assert f"[file:{config}]" in lines["nsfw"] and "soft" in lines["nsfw"]
    assert "2.5" in lines["rate.min_interval"]
    assert "[option:--root]" in lines["root"]
    assert "[env:CIVITAI_API_KEY]" in lines["api_key"]
    assert key not in result.stdout and "****" in lines["api_key"]
    as_json = json.loads(_run("config", "--json", "--config", str(config)).stdout)
    assert as_json["nsfw"] == "soft"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[rate]\nmin_intervall = 2\n", "c.toml:2: unknown key 'min_intervall'"),
        ('nsfw = "maybe"\n', "c.toml:1: 'nsfw' must be one of"),
        ("root = \n", "c.toml:1: invalid TOML"),
        ("[concurrency]\nimages = -1\n", "c.toml:2:"),
    ],
)
def test_bad_config_is_one_line_exit_2(tmp_path: Path, text: str, expected: str) -> None:
    config = tmp_path / "c.toml"
    config.write_text(text, "utf-8")
    result = _run("get", "https://civitai.com/user/alice", "--config", str(config))
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert expected in result.stderr
    assert "Traceback" not in result.stderr


def test_missing_config_file_is_named(tmp_path: Path) -> None:
    result = _run("config", "--config", str(tmp_path / "nope.toml"))
    assert result.returncode == 2 and "nope.toml" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize(
    "url",
    ["https://civitai.com/articles/12", "ftp://civitai.com/models/1", "civitai.com/models/abc", ""],
)
def test_bad_urls_exit_2_without_traceback(url: str) -> None:
    result = _run("get", url)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_options_before_or_after_the_command_mean_the_same(mirror: Mirror) -> None:
    url = mirror.url("/user/carol/images")
    before = main([*mirror.args(), "get", url])
    assert before == 0
    files = sorted(p.name for p in mirror.root.rglob("*") if p.is_file())
    assert mirror.run("get", url) == 0  # options after the command
    assert sorted(p.name for p in mirror.root.rglob("*") if p.is_file()) == files


def test_batch_file_with_comments(mirror: Mirror) -> None:
    batch = mirror.tmp / "urls.txt"
    post = mirror.fake.world.posts_of(mirror.fake.world.creator("carol"))[0]
    lines = [
        "# carol's work",
        "",
        mirror.url("/user/carol/images"),
        f"  {mirror.url(f'/posts/{post.id}')}  ",
    ]
    batch.write_text("\n".join(lines) + "\n", "utf-8")
    assert mirror.run("batch", str(batch)) == 0
    assert len(list((mirror.root / "Posts").rglob("*.txt"))) == 6


def test_strict_bad_batch_line_names_file_and_line_and_starts_nothing(
    mirror: Mirror, capsys
) -> None:
    batch = mirror.tmp / "urls.txt"
    batch.write_text(f"{mirror.url('/user/carol')}\nhttps://example.com/x\n", "utf-8")
    assert mirror.run("get", "--batch", str(batch), "--strict") == 2
    err = capsys.readouterr().err.strip()
    assert f"{batch}:2:" in err and len(err.splitlines()) == 1
    assert not mirror.root.exists() or not list(mirror.root.rglob("*.png"))
    assert not mirror.fake.requests


def test_a_bad_batch_line_is_skipped_and_the_rest_runs(mirror: Mirror, capsys) -> None:
    batch = mirror.tmp / "urls.txt"
    post = mirror.fake.world.posts_of(mirror.fake.world.creator("carol"))[0]
    lines = ["https://example.com/x", mirror.url(f"/posts/{post.id}"), "/images/notanumber"]
    batch.write_text("\n".join(lines) + "\n", "utf-8")
    assert mirror.run("batch", str(batch), "-q") == 1
    err = capsys.readouterr().err
    tail = err[err.index("2 batch line(s) skipped:") :]
    assert f"{batch}:1: " in tail and f"{batch}:3: " in tail
    assert list((mirror.root / "Posts").rglob("*.txt"))  # the good line ran


def _downloading(root: Path) -> bool:
    """True once some `.part` under `root` holds bytes."""
    for part in root.rglob("*.part"):
        try:
            if part.stat().st_size:
                return True
        except FileNotFoundError:  # finished and renamed meanwhile
            continue
    return False


@pytest.mark.skipif(os.name == "nt", reason="SIGINT to a child is a POSIX signal")
def test_ctrl_c_stops_cleanly_with_130(mirror: Mirror) -> None:
    fake = mirror.fake
    fake.images.faults.slow_body(None, 0.05)
    # Model files trickle, so the run is still going whenever the first image lands (a fixed
    # sleep raced a fast run that had already ended).
    fake.files.faults.throttle_per_connection(32 * 1024)
    report = mirror.tmp / "report.json"
    proc = mirror.spawn("get", mirror.url("/user/alice"), "--report", str(report))
    deadline = time.monotonic() + 30
    users = mirror.root / "Users"

    def an_image_landed() -> bool:
        return users.exists() and any(p.suffix == ".png" for p in users.rglob("*"))

    while not an_image_landed():
        assert proc.poll() is None and time.monotonic() < deadline, "no image before Ctrl+C"
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    assert "interrupted" in err
    data = json.loads(report.read_text("utf-8"))
    assert data["interrupted"] is True
    state = mirror.root / ".civittui" / "state.json"
    json.loads(state.read_text("utf-8"))
    # nothing half-written under a final name: every image present equals the served bytes
    by_id = {
        str(image.id): image
        for post in fake.world.posts_of(fake.world.creator("alice"))
        for image in post.images
    }
    for path in (mirror.root / "Users").rglob("*"):
        stem = path.name.split(".")[0]
        if path.is_file() and stem in by_id and path.suffix not in (".txt", ".part"):
            assert path.read_bytes() == fake.images.read(by_id[stem].uuid)


def test_a_second_run_on_the_same_root_is_refused(mirror: Mirror) -> None:
    fake = mirror.fake
    fake.images.faults.slow_body(None, 0.05)
    first = mirror.spawn("get", mirror.url("/user/alice"))
    try:
        lock = mirror.root / ".civittui" / "lock"
        deadline = time.monotonic() + 20
        while not (lock.exists() and lock.read_text().strip()) and time.monotonic() < deadline:
            time.sleep(0.05)
        second = mirror.spawn("get", mirror.url("/user/carol/images"))
        _, err = second.communicate(timeout=30)
        assert second.returncode == 2
        assert "another civittui" in err and str(first.pid) in err
    finally:
        first.kill()
        first.communicate()


def test_retry_with_a_bad_key_is_one_line(mirror: Mirror, capsys) -> None:
    assert mirror.run("retry", "picture:12") == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("civittui: retry: 'picture:12' is not an item key (image:ID, file:ID")
    assert len(err.splitlines()) == 1
