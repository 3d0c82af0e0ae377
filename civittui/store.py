"""civittui's state in `{root}/.civittui/state.json` (TinyDB), fast at 100k+ items and safe
against `kill -9`.

The engine, the CLI and the TUI go through `Store`; only `civittui.state` imports tinydb.
"""

from __future__ import annotations

from civittui.state.records import (
    ItemRecord,
    ItemStatus,
    TargetRecord,
    is_target_failure,
    items_failed,
    parse_key,
)
from civittui.state.storage import quarantine
from civittui.state.store import Store

__all__ = [
    "ItemRecord",
    "ItemStatus",
    "Store",
    "TargetRecord",
    "is_target_failure",
    "items_failed",
    "parse_key",
    "quarantine",
]
