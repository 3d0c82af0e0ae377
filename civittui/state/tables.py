"""TinyDB tables with O(1) writes, and the record of changes that tells a flush what is new.

`Table.update`/`insert` copy the whole table per call (~40 ms at 100k documents); here a change
replaces one entry of the storage's in-memory table (keyed by the int doc_id), and the flush
writes the changed documents to the journal (or the whole state to the snapshot).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tinydb import TinyDB
from tinydb.table import Table

from civittui.state.records import Doc

__all__ = ["Doc", "StateDB", "StateTable", "Writes"]


class StateTable(Table):
    """A TinyDB table whose single-document writes cost O(1)."""

    def raw(self) -> dict[int, Any]:
        """The stored documents by id, uncopied (read them under the store's lock); item
        tables hold each document as its JSON bytes."""
        return self._read_table()  # type: ignore[return-value]

    def put(self, doc_id: int, doc: Any) -> Any:
        """Store `doc` under `doc_id`; returns the document it replaced."""
        docs = self.raw()
        old = docs.get(doc_id)
        docs[doc_id] = doc
        return old

    def drop(self, doc_id: int) -> Any:
        """Remove the document under `doc_id`; returns it (None if there was none)."""
        return self.raw().pop(doc_id, None)

    def doc(self, doc_id: int) -> Any:
        """The document under `doc_id`, uncopied (never change it: store a new one)."""
        return self.raw().get(doc_id)


class StateDB(TinyDB):
    """TinyDB whose tables are `StateTable`s."""

    table_class = StateTable


class Writes:
    """Every change goes through here: it counts changes and refuses them once closed."""

    def __init__(self, db: TinyDB, *, gen: int) -> None:
        self._db = db
        self._tables: dict[str, StateTable] = {}
        self.gen = gen
        """Bumped by every change; a flush compares it with what it last wrote."""
        self.changed: dict[tuple[str, int], Any] = {}
        """(table, doc_id) -> new document (None: dropped) since the last flush took them."""
        self.unsynced: list[Path] = []
        """Files written without fsync that a change records: the flush syncs them first."""
        self.closed = False

    def table(self, name: str) -> StateTable:
        """The named table."""
        table = self._tables.get(name)
        if table is None:
            table = self._tables[name] = self._db.table(name)  # type: ignore[assignment]
        return table  # type: ignore[return-value]

    def put(self, table: str, doc_id: int, doc: Any) -> Any:
        """Store a document; returns the one it replaced."""
        self._check()
        self.gen += 1
        self.changed[table, doc_id] = doc
        return self.table(table).put(doc_id, doc)

    def put_many(self, table: str, docs: dict[int, Any]) -> None:
        """Store documents that are new to `table` (one call for a batch of 100k targets)."""
        self._check()
        self.gen += len(docs)
        self.changed.update({(table, doc_id): doc for doc_id, doc in docs.items()})
        self.table(table).raw().update(docs)

    def drop(self, table: str, doc_id: int) -> Any:
        """Remove a document; returns it."""
        self._check()
        self.gen += 1
        self.changed[table, doc_id] = None
        return self.table(table).drop(doc_id)

    def take(self) -> tuple[dict[tuple[str, int], Any], list[Path]]:
        """The changes since the last `take` and the files they need synced, forgotten here
        (a failed flush gives them back)."""
        changed, self.changed = self.changed, {}
        unsynced, self.unsynced = self.unsynced, []
        return changed, unsynced

    def give_back(self, changed: dict[tuple[str, int], Any], unsynced: list[Path]) -> None:
        """Return changes a failed flush took; changes made since stay newer."""
        for key, doc in changed.items():
            self.changed.setdefault(key, doc)
        self.unsynced[:0] = unsynced

    def _check(self) -> None:
        if self.closed:
            raise RuntimeError("the state store is closed")
