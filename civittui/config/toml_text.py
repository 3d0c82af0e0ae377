"""The config file as text: where a key sits (for error lines) and writing values back.

`tomllib` reads TOML but cannot write it and forgets line numbers, so this module works on the
text itself: it finds the line of a key (best effort, for error messages) and updates values in
place so the user's comments survive, falling back to a clean rewrite when an edit is not simple.
"""

from __future__ import annotations

import contextlib
import math
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path

from civittui.errors import ConfigError
from civittui.fsio import write_text_atomic

__all__ = ["dump_toml", "find_key_line", "toml_value", "update_toml_file", "write_text_private"]

_HEADER = re.compile(r"^\s*\[\s*([^\[\]]+?)\s*\](?!\])")
_BARE = re.compile(r"[A-Za-z0-9_-]+")


def _key_pattern(*parts: str, end: str = "=") -> re.Pattern[str]:
    """`a.b =` with each part bare or quoted, spaces around dots allowed."""
    quoted = [r"""(?:{0}|"{0}"|'{0}')""".format(re.escape(p)) for p in parts]
    return re.compile(r"^\s*" + r"\s*\.\s*".join(quoted) + r"\s*" + end)


def find_key_line(
    text: str, table: str | None, key: str | None, *, exact: bool = False
) -> int | None:
    """Find the 1-based line where `key` of `[table]` is set (best effort).

    Args:
        text: the TOML document.
        table: the table name, or None for a top-level key.
        key: the key, or None to find the table itself (its header or `table = {...}`).
        exact: only the key's own line; otherwise its table's line will do when the key's
            cannot be found.

    Returns:
        The line number, or None when nothing fits.
    """
    current: str | None = None
    fallback: int | None = None
    for number, line in enumerate(text.split("\n"), 1):
        header = _HEADER.match(line)
        if header:
            current = header.group(1).strip().strip("\"'")
            if current == table and (key is None or fallback is None):
                fallback = number
            continue
        if current is None:
            own, of_table = _top_level_match(line, table, key)
            if own:
                return number
            if of_table and fallback is None:
                fallback = number  # `rate = { ... }` or `rate.other = ...`
        elif key is not None and current == table and _key_pattern(key).match(line):
            return number
    return None if exact and key is not None else fallback


def _top_level_match(line: str, table: str | None, key: str | None) -> tuple[bool, bool]:
    """For a line before any [header]: (it sets the key, it sets something of the table)."""
    parts = [p for p in (table, key) if p is not None]
    if key is not None and _key_pattern(*parts).match(line):
        return True, False
    return False, table is not None and _key_pattern(table, end="[.=]").match(line) is not None


def _basic_string(text: str) -> str:
    escapes = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\t": "\\t", "\r": "\\r"}
    out = []
    for ch in text:
        if ch in escapes:
            out.append(escapes[ch])
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def toml_value(value: object) -> str:
    """Render a str, bool, int, finite float or list of those as a TOML value.

    Raises:
        TypeError: the value has no TOML form here.
    """
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise TypeError(f"cannot write {value!r} to TOML")
        return repr(value)
    if isinstance(value, str):
        # Literal strings keep Windows paths readable: 'C:\Program Files\...'.
        plain = "'" not in value and all(ord(c) >= 0x20 and ord(c) != 0x7F for c in value)
        return f"'{value}'" if "\\" in value and plain else _basic_string(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {type(value).__name__} to TOML")


def _toml_key(key: str) -> str:
    return key if _BARE.fullmatch(key) else _basic_string(key)


def dump_toml(data: Mapping[str, object]) -> str:
    """Render a document of top-level values and one level of tables."""
    lines = [
        f"{_toml_key(k)} = {toml_value(v)}" for k, v in data.items() if not isinstance(v, dict)
    ]
    for name, table in data.items():
        if isinstance(table, dict):
            lines.extend(["", f"[{_toml_key(name)}]"])
            lines.extend(f"{_toml_key(k)} = {toml_value(v)}" for k, v in table.items())
    return "\n".join(lines).lstrip("\n") + "\n"


def _split_comment(line: str) -> tuple[str, str] | None:
    """`(assignment, comment)` when `line` is a complete one-line assignment, else None."""
    for match in re.finditer("#", line):
        with contextlib.suppress(tomllib.TOMLDecodeError):
            if tomllib.loads(line[: match.start()]):
                return line[: match.start()].rstrip(), line[match.start() :]
    with contextlib.suppress(tomllib.TOMLDecodeError):
        if tomllib.loads(line):
            return line.rstrip(), ""
    return None


def _section_end(lines: list[str], start: int) -> int:
    """Index after the last non-blank line of the section starting at `start` (before a header)."""
    end = next((i for i in range(start, len(lines)) if _HEADER.match(lines[i])), len(lines))
    while end > start and not lines[end - 1].strip():
        end -= 1
    return end


def _edit(text: str, updates: Mapping[str, object]) -> str | None:
    """Apply dotted-key updates to the text in place; None when an edit is not simple."""
    lines = text.split("\n")
    for dotted, value in updates.items():
        table, _, key = dotted.rpartition(".")
        table_or_none = table or None
        doc = "\n".join(lines)
        number = find_key_line(doc, table_or_none, key, exact=True)
        rendered = toml_value(value)
        if number is not None:
            line = lines[number - 1]
            split = _split_comment(line)
            if split is None:
                return None  # a value over several lines: rewrite the whole file
            prefix = line[: line.index("=") + 1]
            lines[number - 1] = f"{prefix} {rendered}" + (f"  {split[1]}" if split[1] else "")
            continue
        new_line = f"{_toml_key(key)} = {rendered}"
        if table_or_none is None:
            lines.insert(_section_end(lines, 0), new_line)
        elif (header := find_key_line(doc, table, None)) is not None:
            # Wrong for an inline `rate = {...}`; the re-parse check then rewrites the file.
            lines.insert(_section_end(lines, header), new_line)
        else:
            while lines and not lines[-1].strip():
                lines.pop()
            lines.extend(["", f"[{_toml_key(table)}]", new_line, ""])
    return "\n".join(lines)


def update_toml_file(path: Path, updates: Mapping[str, object]) -> None:
    """Set dotted keys in a TOML file, keeping the rest of its content, atomically.

    Args:
        path: the file; created (with its directory) when missing.
        updates: dotted key ("rate.min_interval") -> value already in its TOML type.

    Raises:
        ConfigError: the existing file cannot be read or is not valid TOML (it is left alone),
            or the new file cannot be written.
    """
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raw = b""
    except OSError as err:
        raise ConfigError(f"cannot read config file {path}: {err.strerror or err}") from None
    try:
        text = raw.decode("utf-8-sig")
        data = tomllib.loads(text)
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as err:
        raise ConfigError(f"{path}: not valid TOML, not changed ({err})") from None
    crlf = "\r\n" in text
    text = text.replace("\r\n", "\n")
    expected = dict(data)
    for dotted, value in updates.items():
        table, _, key = dotted.rpartition(".")
        plain = list(value) if isinstance(value, tuple) else value
        if table:
            section = expected.get(table)
            expected[table] = {**(section if isinstance(section, dict) else {}), key: plain}
        else:
            expected[key] = plain
    new_text = _edit(text, updates)
    if new_text is None or _loads_or_none(new_text) != expected:
        try:
            new_text = dump_toml(expected)  # comments are lost, values kept
        except TypeError as err:
            raise ConfigError(f"{path}: cannot update this file ({err}); edit it by hand") from None
    write_text_private(path, new_text.replace("\n", "\r\n") if crlf else new_text)


def _loads_or_none(text: str) -> dict[str, object] | None:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        return None


def write_text_private(path: Path, text: str) -> None:
    """Write a file only its owner can read (0600), atomically.

    Raises:
        ConfigError: the directory or file cannot be written.
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_text_atomic(path, text, mode=0o600)
    except OSError as err:
        raise ConfigError(f"cannot write config file {path}: {err.strerror or err}") from None
