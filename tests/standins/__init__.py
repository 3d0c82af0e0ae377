"""Stand-ins for external programs the downloaders drive (IDM's IDMan.exe).

`install_idman(tmp_path)` puts an executable `IDMan` (Windows: `IDMan.exe`) in a folder, points
the stand-in's log and home into that folder through the environment, and returns an
`IdmStandin` to read what was run and what was delivered.
"""

from __future__ import annotations

import json
import os
import stat
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

IDMAN_SCRIPT = Path(__file__).with_name("IDMan.py")

__all__ = ["IDMAN_SCRIPT", "IdmStandin", "install_idman"]


@dataclass(frozen=True)
class IdmStandin:
    """An installed stand-in: its executable and where it records things."""

    exe: Path
    log: Path
    home: Path

    def commands(self) -> list[list[str]]:
        """Every command line run so far (without the program name), oldest first."""
        if not self.log.exists():
            return []
        return [json.loads(line) for line in self.log.read_text(encoding="utf-8").splitlines()]

    def events(self) -> list[dict[str, str]]:
        """What the background worker did: `delivered`, `failed` or `held`, per item."""
        path = self.home / "events.jsonl"
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def _make_executable(folder: Path) -> Path:
    if os.name == "nt":
        # A console launcher .exe (as pip makes for entry points): a .cmd would go through
        # cmd.exe, which re-parses `&` in URLs.
        from pip._vendor.distlib.scripts import ScriptMaker

        maker = ScriptMaker(str(IDMAN_SCRIPT.parent), str(folder), add_launchers=True)
        maker.executable = sys.executable  # type: ignore[assignment]
        maker.variants = {""}
        maker.make(IDMAN_SCRIPT.name)
        made = folder / "IDMan.exe"
        if not made.exists():
            raise RuntimeError("could not build IDMan.exe for the stand-in")
        return made
    exe = folder / "IDMan"
    exe.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{IDMAN_SCRIPT}" "$@"\n', encoding="utf-8")
    exe.chmod(exe.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return exe


def install_idman(
    folder: Path, monkeypatch: pytest.MonkeyPatch, mode: str = "deliver"
) -> IdmStandin:
    """Install the IDM stand-in in `folder` and point its environment there.

    Args:
        folder: where the executable, its log and its home go (created).
        monkeypatch: sets `IDMAN_STANDIN_LOG`, `IDMAN_STANDIN_HOME`, `IDMAN_STANDIN_MODE`.
        mode: `deliver`, `never` or `inplace` (see tests/standins/IDMan.py).

    Returns:
        The installed stand-in.
    """
    folder.mkdir(parents=True, exist_ok=True)
    standin = IdmStandin(
        exe=_make_executable(folder), log=folder / "idman.jsonl", home=folder / "idman-home"
    )
    monkeypatch.setenv("IDMAN_STANDIN_LOG", str(standin.log))
    monkeypatch.setenv("IDMAN_STANDIN_HOME", str(standin.home))
    monkeypatch.setenv("IDMAN_STANDIN_MODE", mode)
    return standin
