"""The lists a run filters with, for downloads, `refilter`, `tokens` and the TUI alike.

`filters_dir` when the config sets it; else `filters/` beside the config file (the folder the
TUI's list editor writes, `lists.user_filters_dir`), read once it exists. One place, so a list
edited in the TUI is the list the next download, `civittui refilter` and `civittui tokens` use,
with no config edit.
"""

from __future__ import annotations

from civittui.config import Config
from civittui.prompts.filters import FilterSet
from civittui.prompts.lists import user_filters_dir

__all__ = ["load_filters"]


def load_filters(config: Config) -> FilterSet:
    """The shipped lists with the user's over them.

    Raises:
        FilterListError: a configured `filters_dir` is missing or unreadable, or a list in the
            user's folder holds an invalid term (the message names the file and line).
    """
    if config.filters_dir is not None:
        return FilterSet.load(config.filters_dir)
    folder = user_filters_dir(config)
    return FilterSet.load(folder if folder.is_dir() else None)
