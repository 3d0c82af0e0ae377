"""Which items belong to a target besides the ones it recorded itself.

An item is recorded once, under the target that first listed it. A creator crawled after one of
its models, or a post after its creator, lists items another target recorded; `status` needs to
count them for it too. Table `members` keeps, per target, those keys in documents of at most
`CHUNK` keys (`{target, keys}`): a flush rewrites only the chunks that grew, so a creator with
100k members costs a few KB a second while it is crawled, not its whole list every second.
"""

from __future__ import annotations

from civittui.state.tables import Writes

__all__ = ["CHUNK", "Members"]

_TABLE = "members"
CHUNK = 1_000
"""Keys per stored document."""


class Members:
    """Per-target sets of item keys.

    Documents are never changed in place (the state's flusher may be serializing them): a chunk
    that grew is stored anew once per flush, by `commit`. Not locked itself: `Store` calls it
    under its lock.
    """

    def __init__(self, writes: Writes) -> None:
        self._writes = writes
        table = writes.table(_TABLE)
        self._keys: dict[str, set[str]] = {}
        self._chunks: dict[str, list[tuple[int, list[str]]]] = {}
        self._dirty: dict[int, tuple[str, list[str]]] = {}
        self._next_id = 1
        for raw_id, doc in sorted(table.raw().items()):
            self._next_id = max(self._next_id, int(raw_id) + 1)
            target, keys = doc.get("target"), doc.get("keys")
            if isinstance(target, str) and isinstance(keys, list):
                clean = [k for k in keys if isinstance(k, str)]
                self._chunks.setdefault(target, []).append((int(raw_id), clean))
                self._keys.setdefault(target, set()).update(clean)

    def add(self, target: str, key: str) -> None:
        """Remember that `key` belongs to `target` (O(1) amortized)."""
        keys = self._keys.setdefault(target, set())
        if key in keys:
            return
        keys.add(key)
        chunks = self._chunks.setdefault(target, [])
        if not chunks or len(chunks[-1][1]) >= CHUNK:
            chunks.append((self._next_id, []))
            self._next_id += 1
        doc_id, listed = chunks[-1]
        listed.append(key)
        if doc_id not in self._dirty:
            self._dirty[doc_id] = (target, listed)
            self._store(doc_id, target, listed)  # marks the state dirty; `commit` refreshes it

    def commit(self) -> None:
        """Store the chunks that grew since the last call (the flush calls it first)."""
        for doc_id, (target, listed) in self._dirty.items():
            self._store(doc_id, target, listed)
        self._dirty.clear()

    def _store(self, doc_id: int, target: str, listed: list[str]) -> None:
        self._writes.put(_TABLE, doc_id, {"target": target, "keys": list(listed)})

    def of(self, target: str) -> set[str]:
        """The keys remembered for `target` (a copy)."""
        return set(self._keys.get(target, ()))

    def drop(self, target: str) -> None:
        """Forget a target's keys."""
        self._keys.pop(target, None)
        for doc_id, _ in self._chunks.pop(target, []):
            self._dirty.pop(doc_id, None)
            self._writes.drop(_TABLE, doc_id)
