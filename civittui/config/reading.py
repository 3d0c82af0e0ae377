"""Reading a config file: TOML parsed, keys checked (with a "did you mean"), values validated;
every problem one `ConfigError` naming the file and line."""

from __future__ import annotations

import difflib
import re
import tomllib
from collections.abc import Callable, Mapping
from pathlib import Path

from civittui.config.toml_text import find_key_line
from civittui.config.values import SPECS, TABLES, BadValue, shown
from civittui.errors import ConfigError

__all__ = ["did_you_mean", "read_config_file"]


def did_you_mean(word: str, choices: list[str], fmt: str = "'{}'") -> str:
    close = difflib.get_close_matches(word, choices, 1)
    return f" (did you mean {fmt.format(close[0])}?)" if close else ""


def read_config_file(path: Path, *, explicit: bool) -> dict[str, object]:
    """Validated values of the file by dotted key; {} when the default file does not exist."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        if not explicit:
            return {}
        raise ConfigError(f"cannot read config file {path}: file not found") from None
    except OSError as err:
        raise ConfigError(f"cannot read config file {path}: {err.strerror or err}") from None
    text, data = _parse(path, raw)

    def fail(table: str | None, key: str | None, message: str) -> ConfigError:
        line = find_key_line(text, table, key)
        return ConfigError(f"{path}:{line}: {message}" if line else f"{path}: {message}")

    values = _known_values(data, fail)
    for key, value in values.items():
        try:
            values[key] = SPECS[key](value, False)
        except BadValue as bad:
            table, _, sub = key.rpartition(".")
            raise fail(table or None, sub, f"'{key}' {bad}") from None
    return values


def _parse(path: Path, raw: bytes) -> tuple[str, dict[str, object]]:
    """The file's text and its TOML; a `ConfigError` naming the line when it is not TOML."""
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = raw[: err.start].count(b"\n") + 1
        raise ConfigError(f"{path}:{line}: invalid TOML: not UTF-8 text") from None
    try:
        return text, tomllib.loads(text)
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


_Fail = Callable[[str | None, str | None, str], ConfigError]


def _known_values(data: Mapping[str, object], fail: _Fail) -> dict[str, object]:
    """The file's values by dotted key; an unknown key or table fails with a hint."""
    values: dict[str, object] = {}
    top_keys = [k for k in SPECS if "." not in k]
    for name, value in data.items():
        if name in TABLES:
            if not isinstance(value, dict):
                raise fail(None, name, f"'{name}' must be a table [{name}] (got {shown(value)})")
            values.update(_table_values(name, value, top_keys, fail))
        elif name in SPECS:
            values[name] = value
        elif isinstance(value, dict):
            hint = did_you_mean(name, list(TABLES), "[{}]")
            raise fail(name, None, f"unknown table [{name}]{hint}")
        else:
            hint = did_you_mean(name, top_keys)
            in_table = [k for k in SPECS if k.endswith("." + name)]
            if not hint and in_table:
                hint = f" (it belongs in [{in_table[0].partition('.')[0]}])"
            raise fail(None, name, f"unknown key '{name}'{hint}")
    return values


def _table_values(
    name: str, table: Mapping[str, object], top_keys: list[str], fail: _Fail
) -> dict[str, object]:
    keys = [k.partition(".")[2] for k in SPECS if k.startswith(name + ".")]
    values: dict[str, object] = {}
    for sub, sub_value in table.items():
        if sub not in keys:
            hint = did_you_mean(sub, keys)
            if not hint and sub in top_keys:
                hint = " (top-level keys go before the first [table])"
            raise fail(name, sub, f"unknown key '{sub}' in [{name}]{hint}")
        values[f"{name}.{sub}"] = sub_value
    return values
