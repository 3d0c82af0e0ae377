"""Limits that keep a hostile or huge input from hurting the run: queue size, CSV, temp files."""

from __future__ import annotations

import csv
import json
import time
from pathlib import Path

import pytest

from civittui.cli import main
from civittui.store import Store


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
