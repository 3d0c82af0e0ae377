"""The fast paths' pass over a prompt's comma pieces, each already classified (a cached mark).

`FilterSet.apply` splits a prompt at commas (and line breaks) and looks every piece up in its
piece cache; `sort_marks` then walks the marks once, sorting kept from removed and moving the
brackets of removed tokens that open or close a group onto kept neighbours, as
`civittui.prompts.general.filter_general` does token by token. Real prompts are assembled from
a few thousand stock phrases, so after the first few hundred prompts every piece is a cache hit
and a prompt costs one dictionary lookup and a few steps a piece.
"""

from __future__ import annotations

from typing import Any

from civittui.prompts.general import follow_kept, open_waiting
from civittui.prompts.syntax import COMMA, OPENERS, SEPARATOR_KINDS, join_separator
from civittui.prompts.syntax import unmatched_brackets as _unmatched

__all__ = ["PLAIN", "TAG", "WORDS", "Mark", "join_lines", "sort_marks"]

# What a comma piece holds: one token, one angle-bracket tag, or a tag beside other words
# (several tokens, kept as written one space apart when none of them matches).
PLAIN = 0
TAG = 1
WORDS = 2
# A comma piece's mark: (category or None, trimmed text, kept?, unmatched brackets?, what it
# holds); see `FilterSet._mark_piece`.
Mark = tuple[str | None, str, bool, bool, int]


def sort_marks(lines: list[list[Mark]], removed: dict[str, list[str]]) -> list[list[str]] | None:
    """The kept texts of a prompt's comma pieces, line by line; removed ones go to `removed`.

    A removed token's unmatched opener waits for the next kept token (``(nude, smile:1.2)`` ->
    ``(smile:1.2)``); its unmatched closer closes, with its weight, after the last kept token of
    a group that kept one; a group removed whole moves nothing.

    Args:
        lines: the marks of the comma pieces of each line (split at line breaks and ``BREAK``).
        removed: category -> removed tokens, added to in prompt order.

    Returns:
        The kept texts of each line, or None when a bracket would move onto or after a tag
        beside words (left to the general path, which sees those tokens one by one).
    """
    out: list[list[str]] = []
    groups: list[list[Any]] = []  # as in `filter_general`: [opener, written before a kept token]
    last: list[str] = []  # the kept texts holding the last kept token
    last_kind = PLAIN
    for marks in lines:
        kept: list[str] = []
        for category, text, keep, unbalanced, kind in marks:
            if keep:
                if groups and not groups[-1][1]:
                    if kind == WORDS:
                        return None
                    kept.append(open_waiting(groups, kind == TAG) + text)
                else:
                    kept.append(text)
                last_kind = kind
                if unbalanced:
                    follow_kept(text, groups)
            elif category is not None:
                texts = removed.get(category)
                if texts is None:
                    removed[category] = [text]
                else:
                    texts.append(text)
                if unbalanced and not _follow_removed(text, groups, kept or last, last_kind):
                    return None
        if kept:
            last = kept
        out.append(kept)
    return out


def _follow_removed(text: str, groups: list[list[Any]], kept: list[str], kind: int) -> bool:
    """`general._follow_removed` over kept texts whose last token is of `kind`; False when
    that is a tag beside words (which of its tokens is last is not known here)."""
    for char, closing in _unmatched(text):
        if char in OPENERS:
            groups.append([char, False])
        elif groups and groups.pop()[1]:
            if kind == WORDS:
                return False
            # A space keeps a trailing backslash from escaping the bracket, and a tag apart
            # from what follows it, as it reads back.
            space = kind == TAG or kept[-1].endswith("\\")
            kept[-1] += (" " if space else "") + closing
    return True


def join_lines(lines: list[list[Mark]], kept: list[list[str]], parts: list[str]) -> str:
    """The kept prompt from its lines' marks and kept texts (see `FilterResult.prompt`).

    Args:
        lines: the marks of each line's comma pieces.
        kept: the kept texts of each line, from `sort_marks`.
        parts: the prompt split at line breaks and ``BREAK``: line, separator, line, ….
    """
    out: list[str] = []
    flags = 0  # separators since the last kept token
    for index, (marks, texts) in enumerate(zip(lines, kept, strict=True)):
        if index:
            flags |= SEPARATOR_KINDS[parts[2 * index - 1]]
        if not texts:
            # A removed tag keeps its neighbours apart with a comma, as in the general path.
            if len(marks) > 1 or ("<" in parts[2 * index] and any(m[0] for m in marks)):
                flags |= COMMA
            continue
        if not marks[0][2]:
            flags |= COMMA
        if out:
            out.append(join_separator(flags))
        out.append(", ".join(texts))
        flags = 0 if marks[-1][2] else COMMA
    return "".join(out)
