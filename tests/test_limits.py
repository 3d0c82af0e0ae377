"""Limits that keep a hostile or huge input from hurting the run: queue size, CSV, temp files."""

from __future__ import annotations

import csv
import json
import os
import signal
import time
from pathlib import Path

import pytest

from civittui.cli import main
from civittui.store import Store
from tests.cli_helpers import make_mirror
from tests.fakecivitai import FakeCivitai
from tests.hostile_server import HostileCivitai, images_page, model


def test_queueing_many_targets_is_linear(tmp_path: Path) -> None:
    # `TargetQueue.upsert` took `max()` over every id per insert: 100k URLs waited ~80 s
    # (quadratic) before the first request. Linear, they take about a second; the budget is
    # generous so a loaded machine cannot fail it, and far below the quadratic cost.
    store = Store.open(tmp_path / ".civittui" / "state.json")
    try:
        started = time.monotonic()
        for n in range(1, 60_001):
            store.upsert_target(f"image:{n}", f"https://civitai.com/images/{n}")
        elapsed = time.monotonic() - started
        records = store.targets()
    finally:
        store.close()
    assert len(records) == 60_000
    assert [r.position for r in records[:3]] == [0, 1, 2]
    assert records[-1].key == "image:60000"
    assert elapsed < 10, f"queueing 60k targets took {elapsed:.1f} s"


def _sidecar(folder: Path, image_id: int, prompt: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    data = {"id": image_id, "postId": 7, "meta": {"prompt": prompt}, "prompt": prompt}
    (folder / f"{image_id}.txt").write_text(json.dumps(data), "utf-8")


def test_tokens_csv_never_writes_a_formula(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Prompts come from strangers; a spreadsheet runs `=cmd|...` when the CSV is opened.
    for name in ("CIVITAI_API_KEY", "CIVITTUI_CONFIG", "CIVITTUI_ROOT", "CIVITTUI_API_BASE"):
        monkeypatch.delenv(name, raising=False)
    root = tmp_path / "mirror"
    hostile = ["=cmd|' /C calc'!A0", "+1+2", "-2+3", "@SUM(A1)", "\tx", "\rx"]
    _sidecar(root / "Posts" / "p", 1, ", ".join(["1girl", *hostile]))
    config = tmp_path / "c.toml"
    config.write_text("", "utf-8")
    out = tmp_path / "tokens.csv"
    assert main(["tokens", "--csv", str(out), "--config", str(config), "--root", str(root)]) == 0
    with open(out, encoding="utf-8-sig", newline="") as fh:
        cells = [row[0] for row in csv.reader(fh)][1:]
    assert "1girl" in cells
    assert not [c for c in cells if c[:1] in ("=", "+", "-", "@", "\t", "\r")]
    assert any(c.startswith("'=cmd") for c in cells)


def test_temps_left_by_a_kill_are_swept_by_the_next_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A kill -9 between writing `.model_meta_v….json.{hex}.tmp` and renaming it left the temp
    # for good. The next run that writes into the folder removes our stale temps, only those.
    for name in ("CIVITAI_API_KEY", "CIVITTUI_CONFIG", "CIVITTUI_ROOT", "CIVITTUI_API_BASE"):
        monkeypatch.delenv(name, raising=False)
    root = tmp_path / "mirror"
    folder = root / "Users" / "mallory"
    folder.mkdir(parents=True)
    stale = [
        folder / ".model_meta_v30.json.0123abcd.tmp",
        folder / ".model_meta_v30.txt.0123abcd89abcdef.tmp",
        folder / ".card.json.ffffffff.tmp",
    ]
    kept = [folder / "notes.tmp", folder / ".mine.tmp", folder / ".x.json.0123abcd.tmp.bak"]
    for path in [*stale, *kept]:
        path.write_text("{", "utf-8")
        os.utime(path, (time.time() - 3600, time.time() - 3600))
    fresh = folder / ".other.json.0123abcd.tmp"  # another process may be writing it right now
    fresh.write_text("{", "utf-8")
    config = tmp_path / "c.toml"
    config.write_text("", "utf-8")
    with HostileCivitai() as server:
        record = model(10)
        server.api("/api/v1/models/10", lambda h: h.json(record))
        server.api("/api/v1/images", lambda h: h.json(images_page([])))
        args = ["--config", str(config), "--root", str(root), "--api-base", server.api_base]
        assert main(["get", f"{server.api_base}/models/10", *args, "--min-interval", "0"]) == 0
    assert (folder / "model_meta_v30.json").is_file()
    assert [p for p in stale if p.exists()] == []
    assert all(p.exists() for p in [*kept, fresh])


@pytest.mark.skipif(os.name == "nt", reason="SIGTERM/SIGHUP to a child are POSIX signals")
@pytest.mark.parametrize(("signum", "code"), [(signal.SIGTERM, 143), (signal.SIGHUP, 129)])
def test_sigterm_and_sighup_end_the_run_like_ctrl_c(
    fake_civitai: FakeCivitai,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    signum: signal.Signals,
    code: int,
) -> None:
    # Before, the default action killed the process: no summary, no report, exit -15 / -1.
    mirror = make_mirror(fake_civitai, tmp_path, monkeypatch)
    fake_civitai.images.faults.slow_body(None, 0.05)
    report = tmp_path / "report.json"
    proc = mirror.spawn("get", mirror.url("/user/alice"), "--report", str(report))
    try:
        deadline = time.monotonic() + 30
        while not fake_civitai.requests_to("images") and time.monotonic() < deadline:
            time.sleep(0.02)
        assert fake_civitai.requests_to("images"), "the run never started downloading"
        proc.send_signal(signum)
        _, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == code, err
    assert "Traceback" not in err
    assert f"stopped by {signum.name}" in err
    assert json.loads(report.read_text("utf-8"))["interrupted"] is True
    json.loads((mirror.root / ".civittui" / "state.json").read_text("utf-8"))


def test_an_out_of_range_count_stops_the_cli_with_exit_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # `images = 100000000` was accepted, then the run started 10^8 workers and crashed.
    for name in ("CIVITAI_API_KEY", "CIVITTUI_CONFIG", "CIVITTUI_ROOT", "CIVITTUI_API_BASE"):
        monkeypatch.delenv(name, raising=False)
    config = tmp_path / "c.toml"
    config.write_text("[concurrency]\nimages = 100000000\n", "utf-8")
    url = "https://civitai.com/images/1"
    assert main(["get", url, "--config", str(config), "--root", str(tmp_path / "m")]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (
        f"civittui: {config}:2: 'concurrency.images' must be a whole number > 0 and <= 256 "
        "(got 100000000)"
    )
    assert not (tmp_path / "m").exists()
