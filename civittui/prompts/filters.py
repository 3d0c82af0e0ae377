"""Prompt filters: word lists by category, and removing listed tokens from prompts.

Lists are files, one category each (`civittui.prompts.lists`). Terms are compared in the normal
form of `civittui.prompts.syntax`, so case, ``_``, brackets and weights in a list do not matter.

Matching: a term without ``*`` matches a token whose normal form equals the term's; ``*`` matches
any run of characters, and the pattern must cover the whole normal form (``* dress`` matches
``red dress``, not ``dress shirt``). No other character is special. A term is invalid when it can
never match a token — when the tokenizer would split it (a comma, ``BREAK``, an angle-bracket tag
beside other words) — or when it matches every token (``*``). A term that normalizes to nothing
(``()``) is ignored.

When a token matches terms of several categories, an exact term beats a wildcard; otherwise the
first category wins, in the order ``sex``, ``clothes``, ``etc``, then the others alphabetically.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from itertools import islice
from pathlib import Path
from types import MappingProxyType

from civittui.errors import FilterListError
from civittui.prompts.general import BRACKET_CHARS, filter_general
from civittui.prompts.lists import (
    add_term,
    category_name,
    ordered,
    read_dir,
    shipped_filters_dir,
    validate_term,
)
from civittui.prompts.marks import PLAIN, TAG, WORDS, Mark, join_lines, sort_marks
from civittui.prompts.syntax import (
    SEPARATOR_KINDS,
    Token,
    normalize,
    split_pieces,
    tokenize,
    unmatched_brackets,
)

__all__ = [
    "FilterResult",
    "FilterSet",
    "Token",
    "add_term",
    "normalize",
    "shipped_filters_dir",
    "tokenize",
    "validate_term",
]

# Bump when tokenizing or normal-form rules change, so `refilter` rewrites every sidecar.
_RULES_VERSION = "1"
_PIECE_CACHE_SIZE = 1 << 17
_PROMPT_CACHE_SIZE = 1 << 15
# (kept prompt, category -> removed tokens)
_Result = tuple[str, dict[str, list[str]]]
_NOTHING_REMOVED: Mapping[str, tuple[str, ...]] = MappingProxyType({})
_LONE_TAG = re.compile(r"<[^<>]+>")
_LINE_SPLIT = re.compile(r"(\r\n|\r|\n|B(?<!\wB)REAK\b)")  # see syntax._SPLIT


@dataclass(frozen=True, slots=True)
class FilterResult:
    """A prompt after filtering. Read-only: `FilterSet.apply` hands out what its prompt cache
    holds, to every caller that filters the same prompt, without copying it.

    Attributes:
        prompt: the kept tokens in their original spelling and weights, joined with ``", "``.
            Where the separators between two kept tokens included ``BREAK`` or a line break,
            that is kept (``" BREAK "``, ``"\\n"``, ``",\\n"``); ``、`` alone stays ``、``; a tag
            written without a comma stays so (``1girl <lora:x:1>``). When a removed token opened
            or closed an attention group that kept tokens belong to, its bracket (and the
            group's weight) moves onto the neighbouring kept token:
            ``(nude, smile:1.2)`` -> ``(smile:1.2)``. Filtering its own result changes nothing.
        removed: category -> removed tokens as written, in prompt order; only categories that
            removed something. A read-only mapping.
    """

    prompt: str
    removed: Mapping[str, tuple[str, ...]] = field(default_factory=lambda: _NOTHING_REMOVED)


# `apply` builds its result without the dataclass __init__, whose frozen-attribute setting
# costs about a third of answering a prompt from the cache.
_new_result = FilterResult.__new__
_set_prompt = FilterResult.__dict__["prompt"].__set__
_set_removed = FilterResult.__dict__["removed"].__set__


class FilterSet:
    """Compiled filter lists: exact terms in a dict, wildcard terms in one regex, results cached."""

    def __init__(self, lists: Mapping[str, Iterable[str]]) -> None:
        """Build from category -> normalized terms (use `load` or `from_terms` instead).

        Args:
            lists: category -> terms already in normal form, categories in precedence order.
        """
        self.categories: tuple[str, ...] = tuple(lists)
        self._terms: dict[str, frozenset[str]] = {c: frozenset(lists[c]) for c in self.categories}
        self._exact: dict[str, str] = {}
        alternatives: list[str] = []
        self._group_category: dict[str, str] = {}
        for index, category in enumerate(self.categories):
            globs = []
            for term in sorted(self._terms[category]):
                if "*" in term:
                    globs.append(".*".join(re.escape(part) for part in term.split("*")))
                else:
                    self._exact.setdefault(term, category)
            if globs:
                self._group_category[f"c{index}"] = category
                alternatives.append(f"(?P<c{index}>{'|'.join(globs)})")
        self._wild = re.compile("|".join(alternatives), re.S) if alternatives else None
        digest = hashlib.sha256(f"civittui-filters/{_RULES_VERSION}\n".encode())
        for category in self.categories:
            digest.update(f"[{category}]\n".encode())
            digest.update("".join(f"{t}\n" for t in sorted(self._terms[category])).encode())
        self.digest: str = digest.hexdigest()[:16]
        # Token text -> category; prompts repeat their tokens, so most lookups stop here.
        self._classify = lru_cache(maxsize=1 << 16)(self._classify_uncached)
        # Comma piece as written -> mark for the fast path of `apply` (see `_mark_piece`);
        # pieces that need the general path are kept apart, so one C-level test finds them.
        self._pieces: dict[str, Mark] = {}
        self._general_pieces: set[str] = set()
        # Whole prompt -> (kept prompt, removed): real prompts repeat whole, across an image
        # series and between positive and negative prompts (bounded, least recently used out).
        self._apply_cached = lru_cache(maxsize=_PROMPT_CACHE_SIZE)(self._apply_all)

    @classmethod
    def load(cls, filters_dir: Path | None = None) -> FilterSet:
        """Read the shipped lists, then a user's lists over them.

        Args:
            filters_dir: a user's directory of ``*.txt`` lists; each replaces the shipped category
                of the same name or adds a new one. None: the shipped lists alone.

        Returns:
            The compiled filter set.

        Raises:
            FilterListError: a directory or list is unreadable, not UTF-8, or holds an invalid
                term; the message names the file and line.
        """
        lists = read_dir(shipped_filters_dir())
        if filters_dir is not None:
            lists.update(read_dir(Path(filters_dir).expanduser()))
        return cls(ordered(lists))

    @classmethod
    def from_terms(cls, terms: Mapping[str, Iterable[str]]) -> FilterSet:
        """Build from terms given in code (tests, the TUI's list editor).

        Args:
            terms: category -> terms as a person would write them in a list.

        Returns:
            The compiled filter set.

        Raises:
            FilterListError: a term is invalid, or a category name is not a plain file stem.
        """
        lists: dict[str, set[str]] = {}
        for category, items in terms.items():
            name = category_name(category)
            bucket = lists.setdefault(name, set())
            for term in items:
                try:
                    normal = validate_term(term)
                except ValueError as exc:
                    raise FilterListError(f"category {name}: {exc}") from None
                if normal:
                    bucket.add(normal)
        return cls(ordered(lists))

    def terms(self, category: str) -> frozenset[str]:
        """The normalized terms of one category (empty for an unknown category)."""
        return self._terms.get(category, frozenset())

    def category_of(self, token_text: str) -> str | None:
        """The category a token belongs to, or None when no term matches it.

        Args:
            token_text: a token as written or already normalized.
        """
        return self._classify(token_text.strip())

    def _classify_uncached(self, text: str) -> str | None:
        normal = normalize(text)
        if not normal:
            return None
        category = self._exact.get(normal)
        if category is None and self._wild is not None:
            m = self._wild.fullmatch(normal)
            if m is not None:
                category = self._group_category[m.lastgroup or ""]
        return category

    def apply(self, prompt: str, *, enabled: Collection[str] | None = None) -> FilterResult:
        """Remove the tokens that match a list.

        Args:
            prompt: the prompt as written.
            enabled: the categories to remove; None means all of them.

        Returns:
            The kept prompt and what each category removed.
        """
        if enabled is not None:
            return self._apply_general(prompt, enabled)
        kept, removed = self._apply_cached(prompt)
        result = _new_result(FilterResult)
        _set_prompt(result, kept)
        # A read-only view of the cached dict: nothing copied. (Caching the result itself
        # would leave the garbage collector objects to track; see `_apply_all`.)
        _set_removed(result, MappingProxyType(removed) if removed else _NOTHING_REMOVED)
        return result

    def _apply_all(self, prompt: str) -> tuple[str, dict[str, tuple[str, ...]]]:
        """`apply` with every category enabled, as (kept prompt, removed) for the prompt cache.

        Strings in tuples and dicts only: the garbage collector stops tracking such an entry
        once it has seen it, so a full cache does not make every full collection slower.
        """
        if "，" in prompt or "、" in prompt:
            kept, removed = filter_general(prompt, self._classify, self.categories)
        elif "\n" in prompt or "\r" in prompt or "BREAK" in prompt:
            kept, removed = self._apply_lines(prompt)
        else:
            kept, removed = self._apply_commas(prompt)
        return kept, {c: tuple(t) for c, t in removed.items()}

    def _apply_commas(self, prompt: str) -> _Result:
        """`apply` for the common prompt, comma-separated only: each comma piece maps through
        the piece cache to its mark, and one pass over the marks does the rest."""
        marks = self._marks(prompt.split(","))
        if marks is not None:
            removed: dict[str, list[str]] = {}
            kept = sort_marks([marks], removed)
            if kept is not None:
                return ", ".join(kept[0]), removed
        return filter_general(prompt, self._classify, self.categories)

    def _apply_lines(self, prompt: str) -> _Result:
        """`apply` for prompts with line breaks or BREAK: the comma path, line by line."""
        parts = _LINE_SPLIT.split(prompt)
        pieces = self._pieces
        try:
            lines = [[pieces[piece] for piece in part.split(",")] for part in parts[::2]]
        except KeyError:
            lines = []
            for part in parts[::2]:
                marks = self._marks(part.split(","))
                if marks is None:
                    return filter_general(prompt, self._classify, self.categories)
                lines.append(marks)
        if "<" in prompt and _moves_across_break(lines, parts):
            return filter_general(prompt, self._classify, self.categories)
        removed: dict[str, list[str]] = {}
        kept = sort_marks(lines, removed)
        if kept is None:
            return filter_general(prompt, self._classify, self.categories)
        return join_lines(lines, kept, parts), removed

    def _marks(self, pieces: list[str]) -> list[Mark] | None:
        """The marks of comma pieces, or None: the general path is needed."""
        try:
            pieces_marks = self._pieces
            # A comprehension: faster than map() with a method here.
            marks = [pieces_marks[piece] for piece in pieces]
        except KeyError:
            general = self._general_pieces
            marks = []
            for piece in pieces:
                mark = self._pieces.get(piece)
                if mark is None and piece not in general:
                    mark = self._mark_piece(piece)
                if mark is None:
                    return None
                marks.append(mark)
            return marks
        return marks

    def _mark_piece(self, piece: str) -> Mark | None:
        """What the fast paths of `apply` do with one comma piece (then cached): its mark, or
        None when the piece needs the general path."""
        text = piece.strip()
        kind = TAG if _LONE_TAG.fullmatch(text) else PLAIN
        mark: Mark | None = (None, text, bool(text), _unbalanced(text), kind)
        if "<" in text and kind == PLAIN:
            mark = self._mark_words(text)
        elif text:
            category = self._classify(text)
            if category is not None:
                # Unbalanced: its brackets move onto a kept neighbour (`sort_marks`).
                mark = (category, text, False, _unbalanced(text), kind)
        if len(self._pieces) + len(self._general_pieces) >= _PIECE_CACHE_SIZE:
            # Bounded: drop the oldest half (dicts keep insertion order).
            for key in list(islice(self._pieces, _PIECE_CACHE_SIZE // 2)):
                self._pieces.pop(key, None)
            self._general_pieces.clear()
        if mark is None:
            self._general_pieces.add(piece)
        else:
            self._pieces[piece] = mark
        return mark

    def _mark_words(self, text: str) -> Mark | None:
        """The mark of a piece holding a tag beside other words: each is a token of its own.
        When none of them matches, they are kept as the general path keeps them, one space
        apart (for the groups they open and close, the run is as good as its text); else None."""
        parts = split_pieces(text)
        words = [w for p in parts if (w := p.strip())]
        if any(map(SEPARATOR_KINDS.__contains__, parts[1::2])) or any(map(self._classify, words)):
            return None
        text = " ".join(words)
        return (None, text, bool(words), _unbalanced(text), WORDS if len(parts) > 1 else PLAIN)

    def _apply_general(self, prompt: str, enabled: Collection[str] | None) -> FilterResult:
        """`apply` for every prompt (see `civittui.prompts.general`)."""
        categories = self._terms.keys() if enabled is None else enabled
        kept, removed = filter_general(prompt, self._classify, categories)
        return FilterResult(kept, MappingProxyType({c: tuple(t) for c, t in removed.items()}))

    def sidecar_block(self, prompt: str | None, negative_prompt: str | None) -> dict[str, object]:
        """The ``filtered`` value of an image's metadata file (design §5).

        Args:
            prompt: the image's prompt, or None when it has none.
            negative_prompt: its negative prompt, or None.

        Returns:
            ``{"prompt", "negativePrompt", "removed", "removedNegative", "filters"}``: the filtered
            prompt (None when there was none) and what each category removed from it; the two
            ``…Negative`` keys only when a negative prompt exists; ``filters`` is `digest`.
        """
        result = self.apply(prompt) if prompt is not None else None
        block: dict[str, object] = {"prompt": result.prompt if result else None}
        if negative_prompt is not None:
            negative = self.apply(negative_prompt)
            block["negativePrompt"] = negative.prompt
        # Lists in a dict of the block's own: the value is JSON, and compared with parsed JSON.
        block["removed"] = {c: list(t) for c, t in result.removed.items()} if result else {}
        if negative_prompt is not None:
            block["removedNegative"] = {c: list(t) for c, t in negative.removed.items()}
        block["filters"] = self.digest
        return block


def _moves_across_break(lines: list[list[Mark]], parts: list[str]) -> bool:
    """Whether a removed token moves a bracket in a prompt where a tag may span a ``BREAK``.

    The tokenizer reads ``<a BREAK b>`` as one tag, the line split as two pieces: the general
    path decides then. (Where nothing moves, the line split's reading is the one kept.)
    """
    if not any(p.rfind("<") > p.rfind(">") for p in parts[:-1:2]):
        return False
    return any(m[0] is not None and m[3] for marks in lines for m in marks)


def _unbalanced(text: str) -> bool:
    """Whether a token opens or closes a group of its neighbours."""
    return not BRACKET_CHARS.isdisjoint(text) and bool(unmatched_brackets(text))
