"""Which items belong to a target besides the ones it recorded itself.

An item is recorded once, under the target that first listed it. A creator crawled after one of
its models, or a post after its creator, lists items another target recorded; `status` needs to
count them for it too. Table `members` keeps, per target, those keys (`{target, keys}`).
"""

from __future__ import annotations

from civittui.state.tables import Writes

__all__ = ["Members"]

_TABLE = "members"


class Members:
    """Per-target sets of item keys, loaded once and written in place.

    Not locked itself: `Store` calls it under its lock.
    """

    def __init__(self, writes: Writes) -> None:
        self._writes = writes
        self._table = writes.table(_TABLE)
        self._docs: dict[str, tuple[int, dict[str, object], set[str]]] = {}
        for raw_id, doc in self._table.raw().items():
            target, keys = doc.get("target"), doc.get("keys")
            if isinstance(target, str) and isinstance(keys, list):
                clean = [k for k in keys if isinstance(k, str)]
                self._docs[target] = (int(raw_id), {"target": target, "keys": clean}, set(clean))

    def add(self, target: str, key: str) -> None:
        """Remember that `key` belongs to `target` (O(1): the list grows in place)."""
        entry = self._docs.get(target)
        if entry is None:
            doc_id = len(self._docs) + 1
            while self._table.doc(doc_id) is not None:
                doc_id += 1
            entry = (doc_id, {"target": target, "keys": []}, set())
            self._docs[target] = entry
        doc_id, doc, keys = entry
        if key in keys:
            return
        keys.add(key)
        listed = doc["keys"]
        assert isinstance(listed, list)
        listed.append(key)
        self._writes.put(_TABLE, doc_id, doc)

    def of(self, target: str) -> set[str]:
        """The keys remembered for `target` (a copy)."""
        entry = self._docs.get(target)
        return set(entry[2]) if entry else set()

    def drop(self, target: str) -> None:
        """Forget a target's keys."""
        entry = self._docs.pop(target, None)
        if entry is not None:
            self._writes.drop(_TABLE, entry[0])
