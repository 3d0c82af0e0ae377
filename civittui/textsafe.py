"""Server text made safe to show on a terminal (design.md §6, hostile input).

Names, titles, prompts and error messages come from CivitAI and are chosen by strangers. Printed
raw, an `ESC ] 52` sequence writes the clipboard, another retitles the window, `ESC [2J` blanks
the screen, and bidi overrides make a line read differently from what it holds. `display_text`
removes every such character; `layout` uses the same definition for names on disk.
"""

from __future__ import annotations

import json
import re
from typing import Any

__all__ = ["UNSAFE_CHARS", "display_text", "json_text"]

UNSAFE_CHARS = (
    "\x00-\x1f\x7f-\x9f"  # C0 controls (ESC, BEL, CR, ...), DEL and C1 controls (CSI = 0x9b)
    "\u061c\u200e\u200f"  # bidi marks: Arabic letter mark, LRM, RLM
    "\u202a-\u202e"  # bidi embeddings and overrides (LRE, RLE, PDF, LRO, RLO)
    "\u2066-\u2069"  # bidi isolates (LRI, RLI, FSI, PDI)
    "\u2028\u2029"  # line and paragraph separators: line breaks a terminal does not expect
    "\ud800-\udfff"  # lone surrogates: JSON can carry them, UTF-8 cannot encode them
)
"""The characters no server string may bring to a terminal or a file name, as a regex class body."""

_UNSAFE = re.compile(f"[{UNSAFE_CHARS}]")
_UNSAFE_KEEP_LINES = re.compile(f"(?!\n)[{UNSAFE_CHARS}]")
_BREAKS = re.compile(r"\r\n|[\t\n\r\v\f\u2028\u2029\x85]")


def display_text(text: object, *, multiline: bool = False) -> str:
    """`text` with every character that could steer a terminal removed.

    Line breaks and tabs become spaces (one line stays one line); with `multiline`, line breaks
    stay as `\\n` for widgets that lay them out themselves. Everything else in `UNSAFE_CHARS`
    is dropped, so an escape sequence shows as harmless text (`]52;c;…`) and does nothing.

    Args:
        text: server text (anything else is shown via `str`).
        multiline: keep line breaks as `\\n`.

    Returns:
        Text holding no C0/C1 control, bidi override, isolate or mark, nor lone surrogate.
    """
    value = text if isinstance(text, str) else str(text)
    if multiline:
        value = _BREAKS.sub(lambda m: " " if m.group() == "\t" else "\n", value)
        return _UNSAFE_KEEP_LINES.sub("", value)
    return _UNSAFE.sub("", _BREAKS.sub(" ", value))


def json_text(value: Any, *, indent: int | None = 2, default: Any = None) -> str:
    """`value` as JSON (UTF-8 text kept readable) with every unsafe character `\\u`-escaped.

    `json.dumps` already escapes C0 controls; this escapes DEL, C1, bidi characters and lone
    surrogates too, so the output is safe on a terminal and still parses to the exact strings.
    """
    text = json.dumps(value, indent=indent, ensure_ascii=False, default=default)
    # Outside strings, JSON holds only ASCII punctuation and the indent's line breaks.
    return _UNSAFE_KEEP_LINES.sub(lambda m: f"\\u{ord(m.group()):04x}", text)
