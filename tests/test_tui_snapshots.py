"""Screenshots of each pane at 120x40 and 80x24, with fixed data, clock and no cursor blink.

Update with `pytest tests/test_tui_snapshots.py --snapshot-update` and read the SVGs (or the
report of a failed run) before committing them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from textual.pilot import Pilot
from textual.widgets import Input, TextArea

from civittui.choices import TargetChoices
from civittui.events import (
    GateChanged,
    ItemFailed,
    ItemProgress,
    ItemStarted,
    TargetStatus,
    TargetUpdated,
)
from civittui.tui.app import CivittuiApp
from civittui.tui.launch import make_app
from civittui.tui.widgets.prompt_list import PromptList
from tests.tui_support import FIXED_NOW, tui_config, write_sidecar

Snap = Callable[..., bool]

TARGETS = [
    TargetUpdated(
        "user:alice",
        "https://civitai.com/user/alice",
        TargetStatus.DOWNLOADING,
        412,
        300,
        2,
        280,
        name="alice",
        bytes_found=9_876_543_210,
        bytes_done=1_234_567_890,
    ),
    TargetUpdated(
        "post:4001",
        "https://civitai.com/posts/4001",
        TargetStatus.DONE,
        5,
        5,
        0,
        0,
        name="post by [bold]dana[/]",  # a server's name: shown as written
        bytes_found=12_000_000,
        bytes_done=12_000_000,
    ),
    TargetUpdated(
        "model:1000",
        "https://civitai.com/models/1000",
        TargetStatus.FAILED,
        3,
        2,
        1,
        0,
        error="1 item(s) failed",
        name="메이드 클래식 Maid Classic",
        bytes_found=151_000_000,
        bytes_done=2_000_000,
    ),
    TargetUpdated("user:bob", "https://civitai.com/user/bob/posts", TargetStatus.QUEUED),
    TargetUpdated(
        "user:carol",
        "https://civitai.com/user/carol",
        TargetStatus.CRAWLING,
        12,
        0,
        0,
        0,
        choices=TargetChoices(latest=True, file_format="SafeTensor", types=("LORA",)),
    ),
]

DOWNLOADS = [
    (
        ItemStarted("file:3001", "maid_classic_v1.safetensors", 151_000_000, "builtin"),
        ItemProgress("file:3001", 98_000_000, 151_000_000, 12_400_000),
    ),
    (
        ItemStarted("image:10001", "10001.png", 2_400_000, "builtin"),
        ItemProgress("image:10001", 600_000, 2_400_000, 1_900_000),
    ),
    (
        ItemStarted("file:3002", "메이드_클래식_pony.safetensors", None, "idm"),
        ItemProgress("file:3002", 0, None, 0.0, note="queued in IDM"),
    ),
    (
        ItemStarted("image:10002", "10002.webp", None, "builtin"),
        ItemProgress("image:10002", 350_000, None, 800_000),
    ),
]

FAILURES = [
    (
        ItemFailed(
            "file:3050", "members_only.safetensors", "login required: set an API key", 401, False, 1
        ),
        timedelta(minutes=4),
    ),
    (
        ItemFailed(
            "image:10040", "10040.jpeg", "the download server is busy (HTTP 503)", 503, False, 3
        ),
        timedelta(hours=2),
    ),
    (
        ItemFailed("meta:2010", "Old Archive v1", "archived on CivitAI", 410, True, 1),
        timedelta(days=3),
    ),
    (
        ItemFailed(
            "file:3060",
            "early_bird_v2.safetensors",
            "early access until 2026-11-23",
            403,
            False,
            1,
            retry_at=datetime(2026, 11, 23, 17, 0),
        ),
        timedelta(seconds=20),
    ),
]

PROMPTS = [
    (
        30001,
        "masterpiece, best quality, 1girl, solo, maid, black dress, white apron, smile, "
        "(looking at viewer:1.2), indoors, castle, <lora:maid_classic:0.8>",
    ),
    (30002, "score_9, score_8_up, 1girl, nude, bedroom, night, window, moonlight"),
    (30003, "landscape, mountains, lake, sunset, clouds, no humans, highres"),
]


def _app(tmp_path: Path) -> CivittuiApp:
    config = tui_config(tmp_path)
    for index, (image_id, prompt) in enumerate(PROMPTS):
        write_sidecar(config.root, image_id, prompt, created_at=f"2026-11-0{index + 1}T10:00:00Z")
    app = make_app(config, clock=lambda: 1000.0, wall=lambda: FIXED_NOW)
    app.engine.pause()  # nothing crawls; only the data below is shown
    return app


def _feed(then: Callable[[Pilot[Any]], Awaitable[None]] | None = None):  # type: ignore[no-untyped-def]
    """A `run_before` that fills the app with fixed data, then runs `then`."""

    async def run_before(pilot: Pilot[Any]) -> None:
        app = pilot.app
        assert isinstance(app, CivittuiApp)
        await pilot.pause(0.5)  # the engine's first gate event is in; it sends no other
        for widget in app.query(Input):
            widget.cursor_blink = False
        for area in app.query(TextArea):
            area.cursor_blink = False
        model = app.model
        model.set_targets(TARGETS)
        for started, progress in DOWNLOADS:
            model.apply(started)
            model.apply(progress)
        model.set_failures(
            [event for event, _ in FAILURES],
            at={event.key: FIXED_NOW - age for event, age in FAILURES},
        )
        model.apply(
            GateChanged(next_call_in=0.0, backoff_for=12.0, backoff_reason="429", api_calls=57)
        )
        model.bytes_done = 1_234_567_890
        app.repaint()
        await pilot.pause()
        if then is not None:
            await then(pilot)
        await pilot.pause()

    return run_before


def _focus(selector: str) -> Callable[[Pilot[Any]], Awaitable[None]]:
    async def run(pilot: Pilot[Any]) -> None:
        pilot.app.query_one(selector).focus()
        await pilot.pause()

    return run


async def _prompts_ready(pilot: Pilot[Any]) -> None:
    prompt_list = pilot.app.query_one(PromptList)
    for _ in range(100):
        if len(prompt_list.rows) == len(PROMPTS):
            break
        await pilot.pause(0.05)
    prompt_list.focus()
    await pilot.pause()


def test_all_panes_120x40(snap_compare: Snap, tmp_path: Path) -> None:
    assert snap_compare(_app(tmp_path), terminal_size=(120, 40), run_before=_feed(_prompts_ready))


def test_prompts_zoomed_120x40(snap_compare: Snap, tmp_path: Path) -> None:
    assert snap_compare(
        _app(tmp_path), press=["z"], terminal_size=(120, 40), run_before=_feed(_prompts_ready)
    )


def test_queue_zoomed_120x40(snap_compare: Snap, tmp_path: Path) -> None:
    """Names, sizes (done of known) and what is left: the columns a wide queue shows."""
    assert snap_compare(
        _app(tmp_path), press=["z"], terminal_size=(120, 40), run_before=_feed(_focus("#targets"))
    )


async def _with_log(pilot: Pilot[Any]) -> None:
    app = pilot.app
    assert isinstance(app, CivittuiApp)
    app.query_one("#targets").focus()
    app.run_log.note(FIXED_NOW, "information", "queued 3 URLs from the paste")
    app.run_log.note(FIXED_NOW, "error", "https://civitai.com/models/1000: model [b]gone[/b]")
    app.run_log.note(FIXED_NOW, "warning", "model 7 'Old [red]Archive[/]' is archived on CivitAI")
    app.run_log.downloaded(
        FIXED_NOW,
        [
            (
                "maid_classic_v1.safetensors",
                "/data/civitai/alice/Maid Classic/maid_classic_v1.safetensors",
            ),
            ("10001", "/data/civitai/Posts/[i]sketches[/i]/10001.png"),
        ],
    )
    await pilot.pause()


def test_log_80x24(snap_compare: Snap, tmp_path: Path) -> None:
    """The notices log and the downloads history (server text shown as written)."""
    assert snap_compare(
        _app(tmp_path), press=["n"], terminal_size=(80, 24), run_before=_feed(_with_log)
    )


def test_failure_details_120x40(snap_compare: Snap, tmp_path: Path) -> None:
    assert snap_compare(
        _app(tmp_path),
        press=["down", "enter"],
        terminal_size=(120, 40),
        run_before=_feed(_focus("#failure-list")),
    )


def test_queue_80x24(snap_compare: Snap, tmp_path: Path) -> None:
    assert snap_compare(
        _app(tmp_path), press=["1"], terminal_size=(80, 24), run_before=_feed(_focus("#targets"))
    )


def test_workers_80x24(snap_compare: Snap, tmp_path: Path) -> None:
    assert snap_compare(
        _app(tmp_path), press=["2"], terminal_size=(80, 24), run_before=_feed(_focus("#targets"))
    )


def test_failures_80x24(snap_compare: Snap, tmp_path: Path) -> None:
    assert snap_compare(
        _app(tmp_path), press=["3"], terminal_size=(80, 24), run_before=_feed(_focus("#targets"))
    )


def test_prompts_80x24(snap_compare: Snap, tmp_path: Path) -> None:
    assert snap_compare(
        _app(tmp_path), press=["4"], terminal_size=(80, 24), run_before=_feed(_prompts_ready)
    )


def test_help_80x24(snap_compare: Snap, tmp_path: Path) -> None:
    assert snap_compare(
        _app(tmp_path),
        press=["question_mark"],
        terminal_size=(80, 24),
        run_before=_feed(_focus("#failure-list")),
    )
