"""Reading and saving a user's filter-list files for the TUI's list editor.

The shipped lists are never written: the first edit of a category copies its shipped list into
the user's filters directory, and `FilterSet.load(filters_dir)` then reads that copy instead.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from civittui.config import Config
from civittui.errors import FilterListError
from civittui.filters import shipped_filters_dir, validate_term
from civittui.user_lists import user_lists_dir

__all__ = ["list_path", "read_list_text", "save_list_text", "user_filters_dir", "validate_list"]

_INLINE_COMMENT = re.compile(r"\s#.*$")
_SEED_FILES = {"sex": "filter_sex", "clothes": "filter_clothes", "etc": "filter_etc"}


def user_filters_dir(config: Config) -> Path:
    """The directory the editor writes: `filters_dir`, else `filters/` beside the config file
    (the one downloads, `refilter` and `tokens` read: `civittui.user_lists`)."""
    return user_lists_dir(config)


def _find(directory: Path, category: str) -> Path | None:
    if not directory.is_dir():
        return None
    names = {category, _SEED_FILES.get(category, category)}
    for path in sorted(directory.glob("*.txt")):
        if path.stem.lower() in names:
            return path
    return None


def list_path(filters_dir: Path, category: str) -> Path:
    """The user's file for `category` (an existing `Filter_Sex.txt` counts), maybe not yet there."""
    return _find(filters_dir, category) or filters_dir / f"{category}.txt"


def read_list_text(filters_dir: Path, category: str) -> str:
    """The text to edit: the user's list, else a copy of the shipped one, else a header.

    Raises:
        FilterListError: the file exists but cannot be read as UTF-8.
    """
    source = _find(filters_dir, category) or _find(shipped_filters_dir(), category)
    if source is None:
        return f"# {category}: one term a line, * matches anything\n"
    try:
        return source.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise FilterListError(f"{source}: cannot read: {exc}") from None


def validate_list(text: str) -> str | None:
    """The first problem in a list's text (`line 3: …`), or None when every term is usable."""
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        term = _INLINE_COMMENT.sub("", line).strip()
        try:
            validate_term(term)
        except ValueError as exc:
            return f"line {number}: {exc}"
    return None


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
    temp = path.with_name(path.name + ".tmp")
    try:
        filters_dir.mkdir(parents=True, exist_ok=True)
        temp.write_text(text if text.endswith("\n") else text + "\n", encoding="utf-8")
        os.replace(temp, path)
    except OSError as exc:
        temp.unlink(missing_ok=True)
        raise FilterListError(f"{path}: cannot write: {exc.strerror or exc}") from None
    return path
