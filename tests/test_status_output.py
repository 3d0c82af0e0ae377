"""`civittui status` text output: one note said once, a total line, and `-q` for what is wrong."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli_helpers import make_mirror
from tests.fakecivitai import FakeCivitai


def test_status_says_the_offline_note_once_totals_and_q_shows_only_gaps(
    fake_civitai: FakeCivitai,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    mirror = make_mirror(fake_civitai, tmp_path, monkeypatch)
    bad = next(m.id for m in fake_civitai.world.models.values() if m.name == "Bad Hash")
    carol = fake_civitai.world.creator("carol")
    assert carol is not None
    posts = [mirror.url(f"/posts/{p.id}") for p in fake_civitai.world.posts_of(carol)]
    assert mirror.run("get", *posts, mirror.url(f"/models/{bad}")) == 1
    capsys.readouterr()

    assert mirror.run("status") == 1
    out = capsys.readouterr().out.splitlines()
    assert sum("offline" in line for line in out) == 1  # not once per target
    assert out[-2].startswith("total: 3 targets, listed ")
    assert out[-2].endswith("gaps 1; 1 incomplete")
    assert out[-1].startswith("note: offline")
    assert any(line.startswith("post:") for line in out)

    assert mirror.run("status", "-q") == 1
    quiet = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in quiet if not line.startswith(" ")] == [
        f"model:{bad}",
        "total:",
        "note:",
    ]
    assert not any("bad_hash.safetensors" in line for line in quiet)  # no item lines
