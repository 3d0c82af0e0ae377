"""Prompt syntax: splitting a prompt into tokens and the normal form tokens are compared in.

The rules (design §10), written down once because the engine, `refilter`, `tokens` and the TUI
must agree on them:

Tokens
    A prompt is split at commas (``,``, the full-width ``，`` and the ideographic ``、`` Japanese
    prompts use), line breaks and the standalone
    keyword ``BREAK`` (upper case, on word boundaries, as A1111's ``\\bBREAK\\b``). Angle-bracket
    tags (``<lora:name:0.8>``, ``<lyco:…>``, ``<hypernet:…>``) are tokens of their own even when no
    comma separates them from a neighbour (``1girl <lora:x:1>`` is two tokens). Surrounding
    whitespace is not part of a token; empty tokens do not exist.

Normal form
    - Unicode NFKC (full-width letters and brackets become ASCII), then:
    - escaped brackets ``\\(`` ``\\)`` ``\\[`` … are literal characters, but brackets of any kind
      are dropped from the normal form, so ``artist \\(style\\)``, ``artist_(style)`` and
      ``(artist (style):1.2)`` all normalize to ``artist style``;
    - weights ``:1.2`` (also ``:-0.5``, ``:.8``, repeated as in ``((a:1.1):1.2)``) are dropped when
      they end the token or stand before a closing bracket (``16:9`` at a token's end is read as a
      weight too: A1111 syntax gives no way to tell);
    - attention brackets ``()[]{}`` become spaces, ``_`` becomes a space, whitespace is collapsed,
      and the result is lower-cased.
    - Network and embedding references are file names, so they keep underscores and brackets:
      ``<LoRA:My_Style:0.8:0.5>`` -> ``<lora:my_style>`` (trailing numeric fields dropped) and
      ``(embedding:Bad_Hands:1.2)`` -> ``embedding:bad_hands``.

Normalization is idempotent: ``normalize(normalize(x)) == normalize(x)``.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

__all__ = [
    "BREAK",
    "CLOSERS",
    "COMMA",
    "IDEOGRAPHIC_COMMA",
    "NEWLINE",
    "OPENERS",
    "SEPARATOR_KINDS",
    "SPACE",
    "Token",
    "join_separator",
    "normalize",
    "separator_kind",
    "split_pieces",
    "tokenize",
    "unmatched_brackets",
]

# Separator kinds, as bit flags: the separators between two kept tokens are OR-ed together and
# the strongest decides how they are joined again (see `join_separator`).
COMMA = 1
NEWLINE = 2
BREAK = 4
SPACE = 8  # the implicit separator around an angle-bracket tag written without a comma
IDEOGRAPHIC_COMMA = 16  # "、": kept as written when it is the only separator between two tokens

OPENERS = "([{"
CLOSERS = ")]}"

# One capture group, so `re.split` returns token, separator-or-tag, token, … (odd = captured).
# ``B(?<!\wB)REAK\b`` is ``\bBREAK\b`` spelled to start with a literal, which lets the regex
# engine skip ahead to candidate characters: several times faster on long prompts.
_SPLIT = re.compile(r"(,|，|、|\r\n|\r|\n|B(?<!\wB)REAK\b|<[^<>,，、\r\n]+>)")
SEPARATOR_KINDS = {
    ",": COMMA,
    "，": COMMA,
    "、": IDEOGRAPHIC_COMMA,
    "\r\n": NEWLINE,
    "\r": NEWLINE,
    "\n": NEWLINE,
    "BREAK": BREAK,
}

_NUM = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)"
_ESCAPED_BRACKET = re.compile(r"\\[()\[\]{}]")
# A weight ends the token or stands before a closing bracket; runs of them go together.
_WEIGHT = re.compile(rf"(?:\s*:\s*{_NUM})+\s*(?=[)\]}}]|$)")
_TRAILING_WEIGHT = re.compile(rf"(?:\s*:\s*{_NUM})+\s*$")
_BRACKETS_AND_UNDERSCORE = str.maketrans(dict.fromkeys("()[]{}_", " "))
_BRACKETS = str.maketrans(dict.fromkeys("()[]{}", " "))
_WEIGHT_BEFORE = re.compile(rf"\s*:\s*{_NUM}\s*$")
_ANGLE_TAG = re.compile(r"<\s*([^<>]*?)\s*>")
_EMBEDDING = re.compile(r"^[\s(\[{]*embedding:(.*?)(?:\s*:\s*" + _NUM + r")*[\s)\]}]*$", re.I)


@dataclass(frozen=True, slots=True)
class Token:
    """One token of a prompt.

    Attributes:
        text: the token exactly as written (weights, brackets, case), whitespace trimmed.
        start: offset of `text` in the prompt.
        end: offset just past `text`, so ``prompt[start:end] == text``.
    """

    text: str
    start: int
    end: int

    @property
    def normalized(self) -> str:
        """The token's normal form (see the module docstring)."""
        return normalize(self.text)


def split_pieces(prompt: str) -> list[str]:
    """Split a prompt into alternating pieces: token text, separator or tag, token text, ….

    Even indexes hold the (untrimmed, possibly empty) text between separators; odd indexes hold a
    separator (``,`` ``\\n`` ``BREAK`` …) or an angle-bracket tag, which is itself a token.
    This is the fast primitive `FilterSet.apply` and the token counter are built on.
    """
    return _SPLIT.split(prompt)


def separator_kind(piece: str) -> int:
    """The separator kind of an odd piece from `split_pieces`, or 0 when it is a tag."""
    return SEPARATOR_KINDS.get(piece, 0)


def tokenize(prompt: str) -> list[Token]:
    """Split a prompt into its tokens, keeping where each one sits in the prompt.

    Args:
        prompt: the prompt as written.

    Returns:
        The tokens in prompt order, each with its original spelling and span.
    """
    tokens: list[Token] = []
    pos = 0
    for index, piece in enumerate(_SPLIT.split(prompt)):
        start = pos
        pos += len(piece)
        if index % 2 and piece in SEPARATOR_KINDS:
            continue
        text = piece.strip()
        if text:
            lead = len(piece) - len(piece.lstrip())
            tokens.append(Token(text, start + lead, start + lead + len(text)))
    return tokens


def join_separator(flags: int) -> str:
    """How two kept tokens are joined, given the kinds of separators that stood between them."""
    if flags & BREAK:
        return "\nBREAK\n" if flags & NEWLINE else " BREAK "
    if flags & NEWLINE:
        return ",\n" if flags & COMMA else "\n"
    if flags & COMMA:
        return ", "
    return "、" if flags & IDEOGRAPHIC_COMMA else " "


def normalize(token_text: str) -> str:
    """The normal form a token is compared in (see the module docstring for the rules).

    Args:
        token_text: a token (or a list term) as written.

    Returns:
        The normal form; empty when the token holds nothing but brackets, weights and spaces.
    """
    return _normalize_cached(token_text)


def _normalize(text: str) -> str:
    if not text.isascii():
        text = unicodedata.normalize("NFKC", text)
    if "<" in text:
        return _normalize_tagged(text)
    return _normalize_plain(text)


def _normalize_plain(text: str) -> str:
    if "mbedding:" in text or "MBEDDING:" in text:
        m = _EMBEDDING.match(text)
        if m:
            return "embedding:" + " ".join(m.group(1).translate(_BRACKETS).split()).lower()
    if "\\" in text:
        text = _ESCAPED_BRACKET.sub(" ", text)
    if ":" in text:
        text = _WEIGHT.sub("", text)
    text = " ".join(text.translate(_BRACKETS_AND_UNDERSCORE).split())
    if ":" in text:
        # Brackets removed above can expose a weight at the end: "a:1.2[" -> "a:1.2".
        text = _TRAILING_WEIGHT.sub("", text)
    return text.lower()


def _normalize_tagged(text: str) -> str:
    """Normal form of text holding angle-bracket tags: each tag kept whole, the rest as usual."""
    parts: list[str] = []
    pos = 0
    for m in _ANGLE_TAG.finditer(text):
        parts.append(_normalize_plain(text[pos : m.start()]))
        fields = [" ".join(f.split()) for f in m.group(1).split(":")]
        while len(fields) > 2 and re.fullmatch(_NUM, fields[-1]):
            fields.pop()
        parts.append("<" + ":".join(fields).lower() + ">")
        pos = m.end()
    parts.append(_normalize_plain(text[pos:]))
    return " ".join(p for p in parts if p)


_normalize_cached = lru_cache(maxsize=1 << 16)(_normalize)


@lru_cache(maxsize=1 << 16)
def unmatched_brackets(text: str) -> tuple[tuple[str, str], ...]:
    """A token's unmatched attention brackets in order: (bracket, text that goes with it).

    ``(a`` opens a group a later token closes, ``b:1.2)`` closes one an earlier token opened.

    For a closer the text includes the weight just before it (``smile:1.2)`` -> ``:1.2)``), which
    belongs to the group it closes. Escaped brackets are literal and never count.
    """
    events: list[tuple[str, str]] = []
    depth = 0
    i = 0
    while i < len(text):
        char = text[i]
        if char == "\\":
            i += 2
            continue
        if char in OPENERS:
            depth += 1
            events.append((char, char))
        elif char in CLOSERS:
            if depth:
                depth -= 1
                # Drop the opener this closer matches: it is the last unmatched opener.
                for j in range(len(events) - 1, -1, -1):
                    if events[j][0] in OPENERS:
                        del events[j]
                        break
            else:
                weight = _WEIGHT_BEFORE.search(text, 0, i)
                events.append((char, (weight.group(0).strip() if weight else "") + char))
        i += 1
    return tuple(events)
