"""Configuration: defaults < config file < environment < command-line options.

(The loader, validation and `civittui config` output are being written; the dataclasses below are
the contract every other module reads.)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["Concurrency", "Config", "DownloadSettings", "RateSettings"]


@dataclass(frozen=True, slots=True)
class RateSettings:
    """`[rate]`: how politely the API is called."""

    min_interval: float = 1.5
    """Seconds between API request starts, across all workers."""
    max_backoff: float = 60.0
    """Cap of the exponential backoff after 429/5xx, seconds."""
    retries: int = 5
    """Retries of one API request on 429/5xx/timeouts/resets."""


@dataclass(frozen=True, slots=True)
class Concurrency:
    """`[concurrency]`: parallel downloads by kind (outside the API gate)."""

    images: int = 4
    files: int = 2


@dataclass(frozen=True, slots=True)
class DownloadSettings:
    """`[download]`: the builtin downloader's segmented fetch."""

    segments: int = 4
    """Byte ranges fetched in parallel per big file (1 = one stream)."""
    segment_min: int = 16 * 1024 * 1024
    """Files smaller than this (bytes) use one stream."""
    connections_per_host: int = 8
    """Cap of connections to one CDN host across all downloads."""


@dataclass(frozen=True, slots=True)
class Config:
    """The effective configuration of one run."""

    root: Path = field(default_factory=lambda: Path("~/CivitAI").expanduser())
    lora_dir: Path | None = None
    """Where LoRA-family files are placed too; None = not placed."""
    filters_dir: Path | None = None
    """None = the lists shipped with civittui."""
    api_base: str = "https://civitai.com"
    api_key: str = ""
    cookie: str = ""
    nsfw: str = "x"
    """none | soft | mature | x"""
    model_types: tuple[str, ...] = ()
    lora_link: str = "hardlink"
    """hardlink | copy | symlink | off"""
    downloader: str = "builtin"
    """builtin | idm | aria2"""
    idm_path: str = r"C:\Program Files (x86)\Internet Download Manager\IDMan.exe"
    idm_timeout: float = 6 * 3600.0
    """Seconds IDM may take to deliver one file before it is a failure."""
    aria2_url: str = "http://127.0.0.1:6800/jsonrpc"
    aria2_secret: str = ""
    aria2_root: str = ""
    """`root` as the aria2 machine sees it (empty = same path as here)."""
    rate: RateSettings = field(default_factory=RateSettings)
    concurrency: Concurrency = field(default_factory=Concurrency)
    download: DownloadSettings = field(default_factory=DownloadSettings)

    @property
    def state_path(self) -> Path:
        """`{root}/.civittui/state.json`."""
        return self.root / ".civittui" / "state.json"
