"""The general path of prompt filtering: token by token, for what the fast paths of
`civittui.prompts.filters` leave to it (a listed tag beside other words, a bracket moving onto
or after a tag beside words, ideographic commas, some categories enabled). They give the same
result where they apply; tests hold them to it (`tests/test_filters_fastpath.py`)."""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Any

from civittui.prompts.syntax import (
    COMMA,
    OPENERS,
    SEPARATOR_KINDS,
    SPACE,
    join_separator,
    split_pieces,
    unmatched_brackets,
)

__all__ = ["BRACKET_CHARS", "filter_general", "follow_kept", "open_waiting"]

BRACKET_CHARS = frozenset("()[]{}")


def filter_general(
    prompt: str, classify: Callable[[str], str | None], enabled: Collection[str]
) -> tuple[str, dict[str, list[str]]]:
    """Remove the tokens of `prompt` whose category (by `classify`) is enabled.

    Args:
        prompt: the prompt as written.
        classify: token text -> its category, or None.
        enabled: the categories to remove.

    Returns:
        The kept prompt and what each category removed (see `FilterResult`).
    """
    removed: dict[str, list[str]] = {}
    # Kept tokens as [separator before it, text, is a tag]; the text may gain a moved bracket.
    kept: list[list[Any]] = []
    groups: list[list[Any]] = []  # open attention groups: [opener, written before a kept token]
    flags = 0
    odd = True
    for piece in split_pieces(prompt):
        # Pieces alternate: text between separators, then a separator or a tag.
        odd = not odd
        is_tag = False
        if odd:
            kind = SEPARATOR_KINDS.get(piece)
            if kind:
                flags |= kind
                continue
            is_tag = True
            flags |= SPACE
        text = piece.strip()
        if not text:
            continue
        category = classify(text)
        if category is None or category not in enabled:
            prefix = open_waiting(groups, is_tag) if groups else ""
            kept.append([join_separator(flags) if kept else "", prefix + text, is_tag])
            flags = SPACE if is_tag else 0
            if not BRACKET_CHARS.isdisjoint(text):
                follow_kept(text, groups)
            continue
        if category in removed:
            removed[category].append(text)
        else:
            removed[category] = [text]
        if is_tag:
            flags |= COMMA  # the tag kept its neighbours apart; a comma must do that now
        if not BRACKET_CHARS.isdisjoint(text):
            _follow_removed(text, groups, kept)
    return "".join([k[0] + k[1] for k in kept]), removed


def open_waiting(groups: list[list[Any]], is_tag: bool) -> str:
    """The brackets of removed tokens waiting for a kept token, to open before it."""
    if groups[-1][1]:
        return ""
    prefix = "".join(g[0] for g in groups if not g[1])
    for group in groups:
        group[1] = True
    if is_tag:
        prefix += " "  # "(<lora:x>" would read back as "( <lora:x>"
    return prefix


def follow_kept(text: str, groups: list[list[Any]]) -> None:
    """Open and close the groups a kept token's unmatched brackets open and close."""
    for char, _ in unmatched_brackets(text):
        if char in OPENERS:
            groups.append([char, True])
        elif groups:
            groups.pop()


def _follow_removed(text: str, groups: list[list[Any]], kept: list[list[Any]]) -> None:
    """Open the groups a removed token's brackets open (waiting for a kept token); a group it
    closes that holds kept tokens closes (with its weight) after the last of them."""
    for char, closing in unmatched_brackets(text):
        if char in OPENERS:
            groups.append([char, False])
        elif groups and groups.pop()[1]:
            # A space keeps a trailing backslash from escaping the bracket, and a tag apart
            # from what follows it, as it reads back.
            last = kept[-1]
            space = last[2] or last[1].endswith("\\")
            last[1] += (" " if space else "") + closing
