"""Filter lists on disk: where the shipped ones live, reading a directory of lists, adding a term.

Every ``*.txt`` in a filters directory is a category named after the file (stem lower-cased; the
seed's ``Filter_Sex.txt`` / ``Filter_Clothes.txt`` / ``Filter_Etc.txt`` mean ``sex`` / ``clothes``
/ ``etc``). A list holds one term a line; ``#`` starts a comment (at the start of a line or after
whitespace); blank lines are ignored; a UTF-8 byte-order mark is allowed. See
`civittui.prompts.filters` for what terms mean and which are invalid.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path

from civittui.errors import FilterListError
from civittui.prompts.syntax import normalize, tokenize

__all__ = [
    "SEED_CATEGORIES",
    "add_term",
    "category_name",
    "ordered",
    "read_dir",
    "shipped_filters_dir",
    "validate_term",
]

SEED_CATEGORIES = ("sex", "clothes", "etc")
_SEED_NAMES = {"filter_sex": "sex", "filter_clothes": "clothes", "filter_etc": "etc"}
_CATEGORY_NAME = re.compile(r"[a-z0-9][a-z0-9_-]*")
_INLINE_COMMENT = re.compile(r"\s#.*$")


def shipped_filters_dir() -> Path:
    """The directory of the lists shipped with civittui.

    Returns:
        ``filters_data`` beside this module in an installed wheel, else the checkout's ``filters/``.
    """
    package = Path(__file__).resolve().parent.parent
    wheel = package / "filters_data"
    return wheel if wheel.is_dir() else package.parent / "filters"


def validate_term(term: str) -> str | None:
    """Check a list term and return its normal form.

    Args:
        term: one term as written in a list (comments already stripped).

    Returns:
        The normal form, or None when the term normalizes to nothing (it is then ignored).

    Raises:
        ValueError: the term can never match a token, or matches every token.
    """
    tokens = tokenize(term)
    if len(tokens) > 1:
        raise ValueError(
            f"{term!r} would be split into {len(tokens)} tokens (comma, BREAK or a <tag> beside "
            "other words), so it can never match one token"
        )
    normal = re.sub(r"\*+", "*", normalize(term))
    if not normal:
        return None
    if not normal.strip("* "):
        raise ValueError(f"{term!r} matches every token")
    return normal


def add_term(filters_dir: Path, category: str, term: str) -> Path:
    """Append a term to a user's list, creating the list (and directory) when needed.

    A new user list for a shipped category starts as a copy of the shipped one, because a user
    list replaces the shipped list of the same name. The file is replaced atomically.

    Args:
        filters_dir: the user's filters directory.
        category: the category (file stem) to add to.
        term: the term as a person would write it.

    Returns:
        The list file written (unchanged when the term was already there).

    Raises:
        FilterListError: the category name or term is invalid, or the file cannot be written.
    """
    name = category_name(category)
    try:
        normal = validate_term(term)
    except ValueError as exc:
        raise FilterListError(f"category {name}: {exc}") from None
    if normal is None:
        raise FilterListError(f"category {name}: {term!r} holds no words")
    filters_dir = Path(filters_dir).expanduser()
    path = _existing_list(filters_dir, name) or filters_dir / f"{name}.txt"
    if path.exists():
        existing = path.read_bytes()
    else:
        shipped = _existing_list(shipped_filters_dir(), name)
        existing = shipped.read_bytes() if shipped else f"# {name}\n".encode()
    if normal in _read_list(path, existing):
        return path
    if existing and not existing.endswith(b"\n"):
        existing += b"\n"
    temp = path.with_name(path.name + ".tmp")
    try:
        filters_dir.mkdir(parents=True, exist_ok=True)
        temp.write_bytes(existing + term.strip().encode() + b"\n")
        os.replace(temp, path)
    except OSError as exc:
        temp.unlink(missing_ok=True)
        raise FilterListError(f"{path}: cannot write: {exc.strerror or exc}") from None
    return path


def category_name(stem: str) -> str:
    """The category a list file stem or a typed name stands for (``Filter_Sex`` -> ``sex``).

    Raises:
        FilterListError: the name is not a plain file stem.
    """
    name = _SEED_NAMES.get(stem.lower(), stem.lower())
    if not _CATEGORY_NAME.fullmatch(name):
        raise FilterListError(f"{stem!r} is not a usable category name (letters, digits, - and _)")
    return name


def _existing_list(directory: Path, category: str) -> Path | None:
    if not directory.is_dir():
        return None
    for path in sorted(directory.glob("*.txt")):
        if _SEED_NAMES.get(path.stem.lower(), path.stem.lower()) == category:
            return path
    return None


def ordered(lists: Mapping[str, Iterable[str]]) -> dict[str, Iterable[str]]:
    """Categories in precedence order: ``sex``, ``clothes``, ``etc``, then the rest by name."""
    seed = [c for c in SEED_CATEGORIES if c in lists]
    return {c: lists[c] for c in [*seed, *sorted(set(lists) - set(seed))]}


def read_dir(directory: Path) -> dict[str, set[str]]:
    """The normalized terms of every list in a directory, by category.

    Lists naming the same category (``sex.txt`` and ``Filter_Sex.txt``) are merged.

    Raises:
        FilterListError: the directory or a list is unreadable, not UTF-8, or holds an invalid
            term; the message names the file and line.
    """
    try:
        paths = sorted(p for p in directory.iterdir() if p.suffix.lower() == ".txt")
    except OSError as exc:
        raise FilterListError(
            f"{directory}: cannot read filters directory: {exc.strerror}"
        ) from None
    lists: dict[str, set[str]] = {}
    for path in paths:
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise FilterListError(f"{path}: cannot read: {exc.strerror or exc}") from None
        lists.setdefault(category_name(path.stem), set()).update(_read_list(path, data))
    return lists


def _read_list(path: Path, data: bytes) -> set[str]:
    """The normalized terms of one list file's bytes."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line_no = data[: exc.start].count(b"\n") + 1
        raise FilterListError(
            f"{path}:{line_no}: not UTF-8 text (byte 0x{data[exc.start]:02x}); save it as UTF-8"
        ) from None
    terms: set[str] = set()
    for number, raw in enumerate(text.splitlines(), 1):
        line = _INLINE_COMMENT.sub("", raw).strip()
        if not line or line.startswith("#"):
            continue
        try:
            normal = validate_term(line)
        except ValueError as exc:
            raise FilterListError(f"{path}:{number}: {exc}") from None
        if normal:
            terms.add(normal)
    return terms
