"""Limits that keep a hostile or huge input from hurting the run: queue size, CSV, temp files."""

from __future__ import annotations

import time
from pathlib import Path

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
