"""In-memory indexes over the item tables, so no query scans 100k documents."""

from __future__ import annotations

from collections import Counter
from itertools import compress
from operator import methodcaller, not_

import orjson

from civittui.state.records import ITEM_KINDS, Doc, ItemStatus
from civittui.state.tables import Writes

_is_done = methodcaller("startswith", b'{"status":"done"')
_KIND_BITS = 40  # keys by target are held as kind << 40 | id: a small int, not a string

__all__ = ["ItemIndex"]


class ItemIndex:
    """Counts by status, the open (failed + pending) keys, and keys by target.

    Not locked itself: `Store` calls it under its lock.
    """

    def __init__(self, writes: Writes) -> None:
        self._writes = writes
        self.counts: Counter[str] = Counter()
        self.open_keys: dict[str, None] = {}
        """Failed and pending item keys, in the order they became so."""
        for kind in ITEM_KINDS:
            docs = writes.table(kind).raw()
            # Stored documents start with their status: most need no decoding, and the test
            # runs in C (a Python loop costs ~0.3 s per million).
            done = list(map(_is_done, docs.values()))
            self.counts[ItemStatus.DONE.value] += sum(done)
            for i in compress(docs, map(not_, done)):
                status = orjson.loads(docs[i])["status"]
                self.counts[status] += 1
                if status != ItemStatus.DONE:
                    self.open_keys[f"{kind}:{i}"] = None
        self._by_target: dict[str | None, set[int]] | None = None  # built on first use

    def change(self, key: str, old: Doc | None, new: Doc | None) -> None:
        """Move `key` from where document `old` put it to where `new` puts it."""
        by_target = self._by_target
        if old is not None:
            self.counts[old["status"]] -= 1
            if old["status"] != ItemStatus.DONE:
                self.open_keys.pop(key, None)
            if by_target is not None:
                by_target[old.get("target")].discard(_code(key))
        if new is not None:
            self.counts[new["status"]] += 1
            if new["status"] != ItemStatus.DONE:
                self.open_keys[key] = None
            if by_target is not None:
                by_target.setdefault(new.get("target"), set()).add(_code(key))

    def of_target(self, target: str) -> list[str]:
        """Keys of a target's items; the first call builds the index (~1 s per 1M items)."""
        if self._by_target is None:
            by_target: dict[str | None, set[int]] = {}
            for number, kind in enumerate(ITEM_KINDS):
                high = number << _KIND_BITS
                for doc_id, raw in self._writes.table(kind).raw().items():
                    target = orjson.loads(raw).get("target")
                    by_target.setdefault(target, set()).add(high | doc_id)
            self._by_target = by_target
        mask = (1 << _KIND_BITS) - 1
        return [
            f"{ITEM_KINDS[code >> _KIND_BITS]}:{code & mask}"
            for code in self._by_target.get(target, ())
        ]


def _code(key: str) -> int:
    kind, _, doc_id = key.partition(":")
    return ITEM_KINDS.index(kind) << _KIND_BITS | int(doc_id)
