"""Validation of single config values: each key's converter, byte sizes, model types.

A converter takes `(value, came_as_text)`: values from the config file must have their TOML type,
values from the environment or the command line may be strings to parse ("1.5", "16MiB",
"LORA,LoCon"). A bad value raises `BadValue` whose message reads after the key's name.
"""

from __future__ import annotations

import difflib
import math
import os
import re
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

__all__ = [
    "MODEL_TYPES",
    "SECRETS",
    "SPECS",
    "TABLES",
    "BadValue",
    "Converter",
    "expand_text",
    "format_size",
    "option_flag",
    "parse_size",
    "shown",
]

MODEL_TYPES = (
    "Checkpoint", "TextualInversion", "Hypernetwork", "AestheticGradient", "LORA", "LoCon", "DoRA",
    "Controlnet", "Upscaler", "MotionModule", "VAE", "TextEncoder", "UNet", "CLIPVision", "Poses",
    "Wildcards", "Workflows", "ComfyWorkflows", "Detection", "VisionLanguage", "CLIP", "LLM",
    "Other",
)  # fmt: skip
"""CivitAI's `ModelType` values, in their canonical spelling (civitai-db-schema enums.ts)."""


class BadValue(Exception):
    """A value is wrong; the message reads after the key's name: "must be ... (got ...)"."""


Converter = Callable[[object, bool], object]
"""(value, came_as_text) -> validated value; text (env/options) may be coerced from strings."""


def shown(value: object) -> str:
    """A value as an error message shows it: `'maybe'`, `5`, `true`, `an array`."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return repr(value)
    return {"list": "an array", "dict": "a table"}.get(type(value).__name__, type(value).__name__)


def _string(value: object, text: bool = False) -> str:
    if not isinstance(value, str):
        raise BadValue(f"must be a string (got {shown(value)})")
    return value


def expand_text(value: str) -> str:
    """Strip, then expand `~` and environment variables."""
    return os.path.expandvars(os.path.expanduser(value.strip()))


def _path(value: object, text: bool) -> Path:
    if text and isinstance(value, os.PathLike):
        value = os.fspath(value)
    if not _string(value).strip():
        raise BadValue("must not be empty")
    if "\0" in _string(value):
        raise BadValue("must not contain a NUL character")  # no OS accepts one in a path
    return Path(expand_text(_string(value))).absolute()


def _optional_path(value: object, text: bool) -> Path | None:
    if text and isinstance(value, os.PathLike):
        value = os.fspath(value)
    return _path(value, text) if _string(value).strip() else None


def _plain(value: object, text: bool) -> str:
    return _string(value).strip()


def _expanded(value: object, text: bool) -> str:
    return expand_text(_string(value)) if _string(value).strip() else ""


def _secret(value: object, text: bool) -> str:
    if not isinstance(value, str):
        raise BadValue("must be a string")  # never echo a secret, even a mistyped one
    secret = value.strip()
    if not all(0x20 <= ord(c) < 0x7F for c in secret):
        raise BadValue("must hold printable ASCII characters only")  # never echo a secret
    return secret


def _choice(*choices: str) -> Converter:
    def convert(value: object, text: bool) -> str:
        word = _string(value).strip().lower()
        if word not in choices:
            raise BadValue(f"must be one of {', '.join(choices)} (got {shown(value)})")
        return word

    return convert


def _number(
    kind: type[int] | type[float], *, positive: bool, most: int | float | None = None
) -> Converter:
    """A number converter; `most` is the largest value that still makes sense."""
    noun = "a whole number" if kind is int else "a number"
    if most is None:
        bound = noun + (" > 0" if positive else " >= 0")
    else:
        bound = f"{noun} {'> 0 and' if positive else 'from 0 to'} {'<= ' if positive else ''}{most}"

    def convert(value: object, text: bool) -> int | float:
        number: int | float
        if text and isinstance(value, str):
            try:
                number = kind(value.strip())
            except ValueError:
                raise BadValue(f"must be {bound} (got {shown(value)})") from None
        elif isinstance(value, bool) or not isinstance(value, int | float):
            raise BadValue(f"must be {bound} (got {shown(value)})")
        elif kind is int and not isinstance(value, int):
            raise BadValue(f"must be {bound} (got {shown(value)})")
        else:
            number = kind(value)
        if (
            not math.isfinite(number)
            or number < 0
            or (positive and number == 0)
            or (most is not None and number > most)
        ):
            raise BadValue(f"must be {bound} (got {shown(value)})")
        return number

    return convert


_UNITS = {"": 1, "b": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}
_UNITS |= {f"{u}ib": f for u, f in list(_UNITS.items()) if u not in ("", "b")}
_UNITS |= {f"{u}b": 1000 ** (i + 1) for i, u in enumerate("kmgt")}
_SIZE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*")


def parse_size(text: str) -> int:
    """Parse a byte size: `1048576`, `"512KiB"`, `"16MiB"`, `"1GiB"`, `"2MB"` (decimal), `"16M"`.

    Raises:
        ValueError: not a size.
    """
    match = _SIZE.fullmatch(text.lower())
    if not match or match.group(2) not in _UNITS:
        raise ValueError(f"not a size: {text!r}")
    return round(float(match.group(1)) * _UNITS[match.group(2)])


def format_size(size: int) -> str:
    """`16777216` -> `"16MiB"`; sizes that are not whole KiB/MiB/GiB/TiB stay plain numbers."""
    for unit, factor in (("TiB", 1024**4), ("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if size and size % factor == 0:
            return f"{size // factor}{unit}"
    return str(size)


def _size(value: object, text: bool) -> int:
    try:
        size = parse_size(value) if isinstance(value, str) else value
        if isinstance(size, bool) or not isinstance(size, int) or size <= 0:
            raise ValueError(size)
    except ValueError:
        raise BadValue(
            f'must be a size > 0 like 16777216 or "16MiB" (got {shown(value)})'
        ) from None
    return size


def _api_base(value: object, text: bool) -> str:
    raw = _string(value).strip()
    parts = urlsplit(raw)
    if parts.username is not None or parts.password is not None:
        raise BadValue("must not hold a user name or password")
    try:
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError:
        raise BadValue(f"has a bad port (got {shown(raw)})") from None
    if (
        parts.scheme.lower() not in ("http", "https")
        or not parts.hostname
        or parts.path not in ("", "/")
        or parts.query
        or parts.fragment
    ):
        raise BadValue(
            f"must be an http(s) address with no path, like https://civitai.com (got {raw!r})"
        )
    return f"{parts.scheme.lower()}://{parts.netloc.lower()}"


def _rpc_url(value: object, text: bool) -> str:
    raw = _string(value).strip()
    parts = urlsplit(raw)
    if parts.scheme.lower() not in ("http", "https", "ws", "wss") or not parts.hostname:
        raise BadValue(f"must be an http(s) or ws(s) URL (got {raw!r})")
    return raw


def _model_types(value: object, text: bool) -> tuple[str, ...]:
    if text and isinstance(value, str):
        items: list[object] = [p for p in value.split(",") if p.strip()]
    elif isinstance(value, list | tuple):
        items = list(value)
    else:
        raise BadValue(f'must be an array of model types like ["LORA"] (got {shown(value)})')
    canonical = {name.lower(): name for name in MODEL_TYPES}
    out: list[str] = []
    for item in items:
        name = canonical.get(_string(item).strip().lower())
        if name is None:
            close = difflib.get_close_matches(_string(item).lower(), canonical, 1)
            hint = f"did you mean {canonical[close[0]]!r}?" if close else ", ".join(MODEL_TYPES)
            raise BadValue(f"has an unknown model type {item!r} ({hint})")
        if name not in out:
            out.append(name)
    return tuple(out)


# Upper bounds: far above any useful setting, low enough that a typo (an extra zero or ten)
# is an error instead of millions of tasks, an hour between calls or a week of backoff.
_WEEK = 7 * 24 * 3600

SPECS: dict[str, Converter] = {
    "root": _path,
    "lora_dir": _optional_path,
    "filters_dir": _optional_path,
    "api_base": _api_base,
    "api_key": _secret,
    "cookie": _secret,
    "nsfw": _choice("none", "soft", "mature", "x"),
    "model_types": _model_types,
    "lora_link": _choice("hardlink", "copy", "symlink", "off"),
    "downloader": _choice("builtin", "idm", "aria2"),
    "idm_path": _expanded,
    "idm_timeout": _number(float, positive=True, most=_WEEK),
    "aria2_url": _rpc_url,
    "aria2_secret": _secret,
    "aria2_root": _plain,
    "rate.min_interval": _number(float, positive=False, most=600),
    "rate.max_backoff": _number(float, positive=False, most=3600),
    "rate.retries": _number(int, positive=False, most=100),
    "concurrency.images": _number(int, positive=True, most=256),
    "concurrency.files": _number(int, positive=True, most=64),
    "download.segments": _number(int, positive=True, most=64),
    "download.segment_min": _size,
    "download.connections_per_host": _number(int, positive=True, most=256),
}
TABLES = ("rate", "concurrency", "download")
SECRETS = frozenset({"api_key", "cookie", "aria2_secret"})


def option_flag(key: str) -> str:
    """The command-line spelling of a config key: `rate.min_interval` -> `--min-interval`."""
    return "--" + key.rpartition(".")[2].replace("_", "-")
