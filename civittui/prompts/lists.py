"""Filter lists on disk: where the shipped ones live, reading a directory of lists, adding a term.

Every ``*.txt`` in a filters directory is a category named after the file (stem lower-cased; the
seed's ``Filter_Sex.txt`` / ``Filter_Clothes.txt`` / ``Filter_Etc.txt`` mean ``sex`` / ``clothes``
/ ``etc``). A list holds one term a line; ``#`` starts a comment (at the start of a line or after
whitespace); blank lines are ignored; a UTF-8 byte-order mark is allowed. See
`civittui.prompts.filters` for what terms mean and which are invalid.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from pathlib import Path

from civittui.config import Config, default_config_path
from civittui.errors import FilterListError
from civittui.fsio import write_bytes_atomic
from civittui.prompts.syntax import normalize, tokenize

__all__ = [
    "SEED_CATEGORIES",
    "add_term",
    "category_name",
    "list_path",
    "ordered",
    "read_dir",
    "read_list_text",
    "save_list_text",
    "shipped_filters_dir",
    "user_filters_dir",
    "validate_list",
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
    _write_list(path, existing + term.strip().encode() + b"\n")
    return path


def user_filters_dir(config: Config) -> Path:
    """The directory the list editor writes: `filters_dir`, else `filters/` beside the config."""
    if config.filters_dir is not None:
        return Path(config.filters_dir).expanduser()
    return (config.config_file or default_config_path()).parent / "filters"


def list_path(filters_dir: Path, category: str) -> Path:
    """The user's file for `category` (an existing `Filter_Sex.txt` counts), maybe not yet there."""
    return _existing_list(filters_dir, category) or filters_dir / f"{category}.txt"


def read_list_text(filters_dir: Path, category: str) -> str:
    """The text to edit: the user's list, else a copy of the shipped one, else a header.

    Raises:
        FilterListError: the file exists but cannot be read as UTF-8.
    """
    source = _existing_list(filters_dir, category) or _existing_list(
        shipped_filters_dir(), category
    )
    if source is None:
        return f"# {category}: one term a line, * matches anything\n"
    try:
        return source.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise FilterListError(f"{source}: cannot read: {exc}") from None


def validate_list(text: str) -> str | None:
    """The first problem in a list's text (`line 3: …`), or None when every term is usable."""
    problem = _scan(text)[1]
    return None if problem is None else f"line {problem[0]}: {problem[1]}"


def save_list_text(filters_dir: Path, category: str, text: str) -> Path:
    """Validate and atomically write the user's list for `category`.

    Returns:
        The file written.

    Raises:
        FilterListError: a term is invalid (nothing is written) or the file cannot be written.
    """
    problem = validate_list(text)
    if problem is not None:
        raise FilterListError(f"{category}: {problem}")
    path = list_path(filters_dir, category)
    _write_list(path, (text if text.endswith("\n") else text + "\n").encode("utf-8"))
    return path


def _write_list(path: Path, data: bytes) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_bytes_atomic(path, data)
    except OSError as exc:
        raise FilterListError(f"{path}: cannot write: {exc.strerror or exc}") from None


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
    terms, problem = _scan(text)
    if problem is not None:
        raise FilterListError(f"{path}:{problem[0]}: {problem[1]}")
    return terms


def _scan(text: str) -> tuple[set[str], tuple[int, str] | None]:
    """A list's normalized terms, and its first invalid line (number, reason) if any."""
    terms: set[str] = set()
    for number, raw in enumerate(text.splitlines(), 1):
        line = _INLINE_COMMENT.sub("", raw).strip()
        if not line or line.startswith("#"):
            continue
        try:
            normal = validate_term(line)
        except ValueError as exc:
            return terms, (number, str(exc))
        if normal:
            terms.add(normal)
    return terms, None
