"""TinyDB tables with O(1) writes, and the change counter that tells a flush what is new.

`Table.update`/`insert` copy the whole table per call (~40 ms at 100k documents); here a change
replaces one entry of the storage's in-memory table, and the storage writes the whole state on
flush anyway.
"""

from __future__ import annotations

from tinydb import TinyDB
from tinydb.table import Table

from civittui.state.records import Doc

__all__ = ["Doc", "StateDB", "StateTable", "Writes"]


class StateTable(Table):
    """A TinyDB table whose single-document writes cost O(1)."""

    def raw(self) -> dict[str, Doc]:
        """The stored documents by id, uncopied (read them under the store's lock)."""
        return self._read_table()  # type: ignore[return-value]

    def put(self, doc_id: int, doc: Doc) -> Doc | None:
        """Store `doc` under `doc_id`; returns the document it replaced."""
        docs = self.raw()
        old = docs.get(str(doc_id))
        docs[str(doc_id)] = doc
        self.clear_cache()
        return old

    def drop(self, doc_id: int) -> Doc | None:
        """Remove the document under `doc_id`; returns it (None if there was none)."""
        old = self.raw().pop(str(doc_id), None)
        self.clear_cache()
        return old

    def doc(self, doc_id: int) -> Doc | None:
        """The document under `doc_id`, uncopied (never change it: store a new one)."""
        return self.raw().get(str(doc_id))


class StateDB(TinyDB):
    """TinyDB whose tables are `StateTable`s."""

    table_class = StateTable


class Writes:
    """Every change goes through here: it counts changes and refuses them once closed."""

    def __init__(self, db: TinyDB, *, gen: int) -> None:
        self._db = db
        self.gen = gen
        """Bumped by every change; a flush compares it with what it last wrote."""
        self.closed = False

    def table(self, name: str) -> StateTable:
        """The named table."""
        return self._db.table(name)  # type: ignore[return-value]

    def put(self, table: str, doc_id: int, doc: Doc) -> Doc | None:
        """Store a document; returns the one it replaced."""
        self._check()
        self.gen += 1
        return self.table(table).put(doc_id, doc)

    def drop(self, table: str, doc_id: int) -> Doc | None:
        """Remove a document; returns it."""
        self._check()
        self.gen += 1
        return self.table(table).drop(doc_id)

    def _check(self) -> None:
        if self.closed:
            raise RuntimeError("the state store is closed")
