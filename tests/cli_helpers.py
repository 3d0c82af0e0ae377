"""Running civittui's real CLI against the fake CivitAI, in-process or as a subprocess."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from civittui.cli import main
from tests.fakecivitai import FakeCivitai


@dataclass
class Mirror:
    """A root + lora dir + config file wired to one fake CivitAI."""

    fake: FakeCivitai
    tmp: Path
    min_interval: float = 0.0

    @property
    def root(self) -> Path:
        return self.tmp / "mirror"

    @property
    def lora(self) -> Path:
        return self.tmp / "Lora"

    @property
    def config_file(self) -> Path:
        path = self.tmp / "config.toml"
        if not path.exists():
            path.write_text("", "utf-8")
        return path

    def args(self, *extra: str, key: bool = True) -> list[str]:
        base = [
            "--config",
            str(self.config_file),
            "--root",
            str(self.root),
            "--lora-dir",
            str(self.lora),
            "--api-base",
            self.fake.api_base,
            "--min-interval",
            str(self.min_interval),
        ]
        if key:
            base += ["--api-key", self.fake.api_key]
        return [*extra, *base]

    def run(self, *extra: str, key: bool = True) -> int:
        return main(self.args(*extra, key=key))

    def url(self, path: str) -> str:
        return self.fake.api_base + path

    def spawn(self, *extra: str, key: bool = True) -> subprocess.Popen[str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("CIVITAI", "CIVITTUI"))}
        return subprocess.Popen(
            [sys.executable, "-m", "civittui", *self.args(*extra, key=key)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            # A suite started in the background (`&`, nohup) ignores SIGINT, and children inherit
            # that: the Ctrl+C tests must reach civittui as a terminal would.
            preexec_fn=_default_sigint if os.name != "nt" else None,
        )


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)  # exec keeps SIG_IGN, resets handlers


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def make_mirror(fake: FakeCivitai, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Mirror:
    """A mirror on the fake CivitAI; the environment cannot leak a real key or config."""
    for name in ("CIVITAI_API_KEY", "CIVITTUI_CONFIG", "CIVITTUI_ROOT", "CIVITTUI_API_BASE"):
        monkeypatch.delenv(name, raising=False)
    return Mirror(fake, tmp_path)


def kept_bytes(root: Path, name: str) -> int:
    """Bytes the `.part` of `name` holds: its `.ranges` when segmented, else its size."""
    for part in root.rglob(f"{name}.part"):
        ranges = part.with_name(part.name + ".ranges")
        if ranges.exists():
            try:
                done = json.loads(ranges.read_text("utf-8")).get("done") or []
            except ValueError:
                return 0  # caught mid-replace
            return sum(end - start for start, end in done)
        return part.stat().st_size
    return 0
