"""Configuration: defaults < config file < environment < command-line options.

`load_config` merges the four layers, validates every value and remembers where each came from
(`Config.sources`), so `civittui config` can show it. Every problem becomes one `ConfigError` line
naming the file and line, the option or the environment variable.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any
from urllib.parse import urlsplit

import platformdirs

from civittui.config.reading import did_you_mean, read_config_file
from civittui.config.toml_text import update_toml_file
from civittui.config.values import (
    MODEL_TYPES,
    SECRETS,
    SPECS,
    BadValue,
    expand_text,
    format_size,
    option_flag,
    parse_size,
)
from civittui.errors import ConfigError

_ENV = {"CIVITAI_API_KEY": "api_key", "CIVITTUI_ROOT": "root", "CIVITTUI_API_BASE": "api_base"}

__all__ = [
    "MODEL_TYPES",
    "Concurrency",
    "Config",
    "DownloadSettings",
    "RateSettings",
    "default_config_path",
    "describe",
    "format_size",
    "load_config",
    "mask_secret",
    "option_flag",
    "parse_size",
    "to_json_dict",
    "write_config_values",
]


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
    """Scheme and host (and port) only, no trailing slash."""
    api_key: str = ""
    cookie: str = ""
    nsfw: str = "x"
    """none | soft | mature | x"""
    model_types: tuple[str, ...] = ()
    """Canonical `ModelType` names; empty = all."""
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
    sources: Mapping[str, str] = field(
        default_factory=lambda: MappingProxyType({}), compare=False, repr=False
    )
    """Dotted key -> "default", "file:PATH", "env:VARIABLE" or "option:--flag"."""
    config_file: Path | None = field(default=None, compare=False, repr=False)
    """The config file consulted (it may not exist); settings are written back there."""

    @property
    def state_path(self) -> Path:
        """`{root}/.civittui/state.json`."""
        return self.root / ".civittui" / "state.json"

    @property
    def api_host(self) -> str:
        """Host (and port) of `api_base`: the only host the API key or cookie is sent to."""
        return urlsplit(self.api_base).netloc.lower()


def _get(config: Config, key: str) -> Any:
    value: Any = config
    for part in key.split("."):
        value = getattr(value, part)
    return value


def default_config_path() -> Path:
    """`config.toml` in the platform's user config directory (platformdirs)."""
    return Path(platformdirs.user_config_dir("civittui", appauthor=False)) / "config.toml"


def _config_file(config_path: Path | None, env: Mapping[str, str]) -> tuple[Path, bool]:
    """The file to read, and whether it was named (then it must exist)."""
    if config_path is not None:
        return Path(expand_text(str(config_path))), True
    if env.get("CIVITTUI_CONFIG", "").strip():
        return Path(expand_text(env["CIVITTUI_CONFIG"])), True
    return default_config_path(), False


def _apply_environment(
    env: Mapping[str, str], values: dict[str, object], sources: dict[str, str]
) -> None:
    for variable, key in _ENV.items():
        if env.get(variable, "").strip():
            try:
                values[key] = SPECS[key](env[variable], True)
            except BadValue as bad:
                raise ConfigError(f"environment variable {variable} {bad}") from None
            sources[key] = f"env:{variable}"


def _checked(key: str, value: object, what: str) -> object:
    """`value` of a known key, parsed from text where needed and validated.

    Raises:
        ConfigError: an unknown key (with a "did you mean"), or `what` followed by the problem.
    """
    if key not in SPECS:
        raise ConfigError(f"unknown config key {key!r}{did_you_mean(key, list(SPECS))}")
    try:
        return SPECS[key](value, True)
    except BadValue as bad:
        raise ConfigError(f"{what} {bad}") from None


def _apply_options(
    options: Mapping[str, object], values: dict[str, object], sources: dict[str, str]
) -> None:
    for key, value in options.items():
        if value is None:
            continue
        values[key] = _checked(key, value, f"option {option_flag(key)}")
        sources[key] = f"option:{option_flag(key)}"


def load_config(
    *,
    config_path: Path | None = None,
    options: Mapping[str, object] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Config:
    """Build the effective configuration: options > environment > config file > defaults.

    Args:
        config_path: `--config FILE`; else `$CIVITTUI_CONFIG`; else `default_config_path()`
            (which may be missing; an explicitly named file must exist).
        options: command-line values by config key ("root", "rate.min_interval"); None = not given.
            Strings are parsed ("1.5", "16MiB", "LORA,LoCon"); typed values are accepted too.
        environ: the environment (default `os.environ`).

    Returns:
        The validated `Config`, with `sources` telling where each value came from.

    Raises:
        ConfigError: an unreadable or invalid file, key, value, option or variable (one line).
    """
    env = os.environ if environ is None else environ
    defaults = Config()
    values: dict[str, object] = {key: _get(defaults, key) for key in SPECS}
    sources = dict.fromkeys(SPECS, "default")

    path, explicit = _config_file(config_path, env)
    for key, value in read_config_file(path, explicit=explicit).items():
        values[key], sources[key] = value, f"file:{path}"
    _apply_environment(env, values, sources)
    _apply_options(options or {}, values, sources)

    def table(name: str) -> dict[str, Any]:
        return {k.partition(".")[2]: v for k, v in values.items() if k.startswith(name + ".")}

    top: dict[str, Any] = {k: v for k, v in values.items() if "." not in k}
    return Config(
        **top,
        rate=RateSettings(**table("rate")),
        concurrency=Concurrency(**table("concurrency")),
        download=DownloadSettings(**table("download")),
        sources=MappingProxyType(sources),
        config_file=path,
    )


def mask_secret(secret: str) -> str:
    """`"abcdef0123456789abcdef0123456789"` -> `"****6789"`: at most the last 4, never > 1/4."""
    if not secret:
        return "(not set)"
    shown = min(4, len(secret) // 4)
    return "****" + (secret[-shown:] if shown else "")


def _display(key: str, value: object) -> str:
    if key in SECRETS:
        return mask_secret(str(value))
    if value is None:
        return "(not set)"
    if key == "model_types":
        return ", ".join(value) if isinstance(value, tuple) and value else "(all)"
    if key == "download.segment_min" and isinstance(value, int):
        return format_size(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    return str(value)


def describe(config: Config) -> list[tuple[str, str, str]]:
    """Rows for `civittui config`: (dotted key, display value, source), secrets masked."""
    return [
        (key, _display(key, _get(config, key)), config.sources.get(key, "default")) for key in SPECS
    ]


def to_json_dict(config: Config, *, mask_secrets: bool = True) -> dict[str, Any]:
    """The configuration shaped like the config file, JSON-ready (paths as strings, sizes in bytes).

    Args:
        config: the configuration.
        mask_secrets: replace api_key, cookie and aria2_secret by their masked form.
    """
    out: dict[str, Any] = {}
    for key in SPECS:
        value = _get(config, key)
        if key in SECRETS and mask_secrets:
            value = mask_secret(value) if value else ""
        elif isinstance(value, Path):
            value = str(value)
        elif isinstance(value, tuple):
            value = list(value)
        table, _, name = key.rpartition(".")
        (out.setdefault(table, {}) if table else out)[name] = value
    return out


def write_config_values(path: Path, values: Mapping[str, object]) -> None:
    """Set config keys in a TOML file (created 0600 if missing), keeping its other content.

    Args:
        path: the config file (usually `Config.config_file` or `default_config_path()`).
        values: dotted key -> value, validated like command-line options; None = leave alone.
            Path strings are written as given ("~/CivitAI" stays so).

    Raises:
        ConfigError: an unknown key, an invalid value, or a file that cannot be read or written.
    """
    updates: dict[str, object] = {}
    for key, raw in values.items():
        if raw is None:
            continue
        value = _checked(key, raw, f"'{key}'")
        if isinstance(raw, str) and (isinstance(value, Path) or value is None):
            value = raw.strip()  # keep "~" and variables for the user to read
        elif isinstance(value, Path):
            value = str(value)
        elif key == "download.segment_min" and isinstance(value, int):
            value = value if format_size(value).isdigit() else format_size(value)
        updates[key] = list(value) if isinstance(value, tuple) else value
    update_toml_file(path, updates)
