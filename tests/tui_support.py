"""Helpers shared by the TUI tests (tests/test_tui_*.py)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from textual.pilot import Pilot

from civittui.config import Config, RateSettings
from tests.fakecivitai import FakeCivitai

FIXED_NOW = datetime(2026, 11, 20, 12, 0, 0)
"""The wall clock of snapshot tests."""


def tui_config(tmp_path: Path, fake: FakeCivitai | None = None) -> Config:
    """A config whose every path is under `tmp_path` (and whose API is the fake, if given)."""
    filters = tmp_path / "filters"
    filters.mkdir(parents=True, exist_ok=True)
    return Config(
        root=tmp_path / "root",
        lora_dir=tmp_path / "Lora",
        filters_dir=filters,
        api_base=fake.api_base if fake else "http://127.0.0.1:9",
        api_key=fake.api_key if fake else "",
        rate=RateSettings(min_interval=0.05, max_backoff=1.0, retries=1),
        config_file=tmp_path / "config.toml",
    )


async def wait_until(pilot: Pilot[object], condition: Callable[[], bool], timeout: float = 20.0):
    """Let the app run until `condition()` holds; fail the test after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {condition}")
        await pilot.pause(0.05)


def write_sidecar(
    root: Path,
    image_id: int,
    prompt: str,
    *,
    folder: str = "Posts/showcase",
    username: str = "alice",
    created_at: str = "2026-11-01T10:00:00.000Z",
    negative: str = "lowres, bad hands",
    meta_extra: dict[str, object] | None = None,
) -> Path:
    """Write an `{imageId}.txt` sidecar the way the engine does (design §5)."""
    path = root / folder / f"{image_id}.txt"
    path.parent.mkdir(parents=True, exist_ok=True)
    meta = {
        "prompt": prompt,
        "negativePrompt": negative,
        "seed": 1234 + image_id,
        "steps": 28,
        "sampler": "Euler a",
        "cfgScale": 7,
        **(meta_extra or {}),
    }
    doc = {
        "id": image_id,
        "postId": 4000,
        "url": f"https://image.example/{image_id}.jpeg",
        "username": username,
        "createdAt": created_at,
        "width": 832,
        "height": 1216,
        "meta": meta,
        "prompt": prompt,
        "negativePrompt": negative,
        "filtered": {"prompt": prompt, "removed": {}, "filters": "0"},
    }
    path.write_text(json.dumps(doc, ensure_ascii=False, indent=2), "utf-8")
    return path
