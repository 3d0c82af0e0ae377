"""Configuration: defaults < config file < environment < command-line options.

`load_config` merges the four layers, validates every value and remembers where each came from
(`Config.sources`), so `civittui config` can show it. Every problem becomes one `ConfigError` line
naming the file and line, the option or the environment variable.
"""

from __future__ import annotations

import difflib
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any
from urllib.parse import urlsplit

import platformdirs

from civittui.config_file import find_key_line, update_toml_file
from civittui.config_values import (
    MODEL_TYPES,
    SECRETS,
    SPECS,
    TABLES,
    BadValue,
    expand_text,
    format_size,
    option_flag,
    parse_size,
    shown,
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
    "nsfw_browsing_level",
    "nsfw_images_param",
    "nsfw_models_param",
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


def _did_you_mean(word: str, choices: list[str], fmt: str = "'{}'") -> str:
    close = difflib.get_close_matches(word, choices, 1)
    return f" (did you mean {fmt.format(close[0])}?)" if close else ""


def _read_file(path: Path, *, explicit: bool) -> dict[str, object]:
    """Validated values of the file by dotted key; {} when the default file does not exist."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        if not explicit:
            return {}
        raise ConfigError(f"cannot read config file {path}: file not found") from None
    except OSError as err:
        raise ConfigError(f"cannot read config file {path}: {err.strerror or err}") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = raw[: err.start].count(b"\n") + 1
        raise ConfigError(f"{path}:{line}: invalid TOML: not UTF-8 text") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        message = str(err)
        where = re.search(r"\s*\(at line (\d+), column (\d+)\)$", message)
        if where:
            message = f"{message[: where.start()]} (column {where.group(2)})"
            raise ConfigError(f"{path}:{where.group(1)}: invalid TOML: {message}") from None
        line = text.rstrip().count("\n") + 1
        raise ConfigError(f"{path}:{line}: invalid TOML: {message}") from None
    except RecursionError:
        # tomllib recurses once per nesting level; no civittui setting nests at all.
        raise ConfigError(f"{path}: invalid TOML: arrays or tables nested too deeply") from None

    def fail(table: str | None, key: str | None, message: str) -> ConfigError:
        line = find_key_line(text, table, key)
        return ConfigError(f"{path}:{line}: {message}" if line else f"{path}: {message}")

    values: dict[str, object] = {}
    top_keys = [k for k in SPECS if "." not in k]
    for name, value in data.items():
        if name in TABLES:
            if not isinstance(value, dict):
                raise fail(None, name, f"'{name}' must be a table [{name}] (got {shown(value)})")
            keys = [k.partition(".")[2] for k in SPECS if k.startswith(name + ".")]
            for sub, sub_value in value.items():
                if sub not in keys:
                    hint = _did_you_mean(sub, keys)
                    if not hint and sub in top_keys:
                        hint = " (top-level keys go before the first [table])"
                    raise fail(name, sub, f"unknown key '{sub}' in [{name}]{hint}")
                values[f"{name}.{sub}"] = sub_value
        elif name in SPECS:
            values[name] = value
        elif isinstance(value, dict):
            hint = _did_you_mean(name, list(TABLES), "[{}]")
            raise fail(name, None, f"unknown table [{name}]{hint}")
        else:
            hint = _did_you_mean(name, top_keys)
            in_table = [k for k in SPECS if k.endswith("." + name)]
            if not hint and in_table:
                hint = f" (it belongs in [{in_table[0].partition('.')[0]}])"
            raise fail(None, name, f"unknown key '{name}'{hint}")
    for key, value in values.items():
        try:
            values[key] = SPECS[key](value, False)
        except BadValue as bad:
            table, _, sub = key.rpartition(".")
            raise fail(table or None, sub, f"'{key}' {bad}") from None
    return values


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

    if config_path is not None:
        path, explicit = Path(expand_text(str(config_path))), True
    elif env.get("CIVITTUI_CONFIG", "").strip():
        path, explicit = Path(expand_text(env["CIVITTUI_CONFIG"])), True
    else:
        path, explicit = default_config_path(), False
    for key, value in _read_file(path, explicit=explicit).items():
        values[key], sources[key] = value, f"file:{path}"

    for variable, key in _ENV.items():
        if env.get(variable, "").strip():
            try:
                values[key] = SPECS[key](env[variable], True)
            except BadValue as bad:
                raise ConfigError(f"environment variable {variable} {bad}") from None
            sources[key] = f"env:{variable}"

    for key, value in (options or {}).items():
        if value is None:
            continue
        if key not in SPECS:
            raise ConfigError(f"unknown config key {key!r}{_did_you_mean(key, list(SPECS))}")
        try:
            values[key] = SPECS[key](value, True)
        except BadValue as bad:
            raise ConfigError(f"option {option_flag(key)} {bad}") from None
        sources[key] = f"option:{option_flag(key)}"

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


_NSFW_IMAGES = {"none": "None", "soft": "Soft", "mature": "Mature", "x": "X"}
_NSFW_LEVELS = {"none": 1, "soft": 3, "mature": 7, "x": 31}


def nsfw_images_param(config: Config) -> str:
    """The `nsfw=` value for `/api/v1/images`: "None", "Soft", "Mature" or "X"."""
    return _NSFW_IMAGES[config.nsfw]


def nsfw_models_param(config: Config) -> str | None:
    """The `nsfw=` value for `/api/v1/models`: "true" unless `nsfw = "none"` (then omit it).

    The models endpoint knows only PG or everything, so for soft/mature the caller filters
    by `nsfw_browsing_level` itself.
    """
    return None if config.nsfw == "none" else "true"


def nsfw_browsing_level(config: Config) -> int:
    """The browsing-level bitmask `nsfw` allows: none 1, soft 3, mature 7, x 31."""
    return _NSFW_LEVELS[config.nsfw]


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
        if key not in SPECS:
            raise ConfigError(f"unknown config key {key!r}{_did_you_mean(key, list(SPECS))}")
        try:
            value = SPECS[key](raw, True)
        except BadValue as bad:
            raise ConfigError(f"'{key}' {bad}") from None
        if isinstance(raw, str) and (isinstance(value, Path) or value is None):
            value = raw.strip()  # keep "~" and variables for the user to read
        elif isinstance(value, Path):
            value = str(value)
        elif key == "download.segment_min" and isinstance(value, int):
            value = value if format_size(value).isdigit() else format_size(value)
        updates[key] = list(value) if isinstance(value, tuple) else value
    update_toml_file(path, updates)
