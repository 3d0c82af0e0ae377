"""Where a user's filter lists live, for downloads, `refilter`, `tokens` and the TUI's editor alike.

`filters_dir` when the config sets it; else `filters/` beside the config file (the folder the
TUI's list editor writes), read once it exists. One place, so a list edited in the TUI is the
list the next download, `civittui refilter` and `civittui tokens` use, with no config edit.
"""

from __future__ import annotations

from pathlib import Path

from civittui.config import Config, default_config_path
from civittui.filters import FilterSet

__all__ = ["load_filters", "user_lists_dir"]


def user_lists_dir(config: Config) -> Path:
    """The folder of the user's lists: `filters_dir`, else `filters/` beside the config file."""
    if config.filters_dir is not None:
        return Path(config.filters_dir).expanduser()
    return (config.config_file or default_config_path()).parent / "filters"


def load_filters(config: Config) -> FilterSet:
    """The shipped lists with the user's over them.

    Raises:
        FilterListError: a configured `filters_dir` is missing or unreadable, or a list in the
            user's folder holds an invalid term (the message names the file and line).
    """
    if config.filters_dir is not None:
        return FilterSet.load(config.filters_dir)
    folder = user_lists_dir(config)
    return FilterSet.load(folder if folder.is_dir() else None)
