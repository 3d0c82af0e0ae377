"""Compaction: a new snapshot streamed from the one on disk and the journaled changes since,
in the compaction's thread."""

from __future__ import annotations

import time
import zlib
from collections.abc import Iterator
from itertools import compress
from operator import itemgetter, methodcaller
from pathlib import Path
from typing import Any

from civittui.state.journal import Batch
from civittui.state.records import ITEM_KINDS
from civittui.state.snapshot import CHUNK_DOCS, Live, snapshot_chunks

_ITEM_KINDS = frozenset(ITEM_KINDS)

_MERGE_BLOCK = 1 << 20
_lstrip_comma = methodcaller("lstrip", b",")
_split_id = methodcaller("split", b'":', 1)
_id_text = itemgetter(0)
_unquote = methodcaller("lstrip", b',"')


def _line_blocks(handle: Any) -> Iterator[list[bytes]]:
    """The rest of a file as lists of whole lines (without their newline), ~1 MB at a time:
    each C call on a block holds the GIL for about a millisecond."""
    carry = b""
    while block := handle.read(_MERGE_BLOCK):
        text = carry + block
        cut = text.rfind(b"\n") + 1
        carry = text[cut:]
        lines = text[:cut].split(b"\n")
        lines.pop()
        yield lines
    if carry:
        yield [carry]


def _merge_docs(lines: list[bytes], changed: dict[int, Any]) -> list[bytes]:
    """A table's document lines with `changed` applied (and popped from it), without their
    leading commas; C-level `map`s over the lines, Python only for the changed ones."""
    ids = list(map(int, map(_unquote, map(_id_text, map(_split_id, lines)))))
    kept: list[bytes | None] = list(map(_lstrip_comma, lines))
    hits = list(compress(range(len(ids)), map(changed.__contains__, ids)))
    for k in hits:
        doc = changed.pop(ids[k])
        kept[k] = None if doc is None else b'"%d":%b' % (ids[k], doc)
    return list(filter(None, kept))


def merged_chunks(
    old: Path, small: Live, changes: Batch, journal: int, chunk_docs: int = CHUNK_DOCS
) -> Iterator[bytes]:
    """A new snapshot from the one on disk and the changes since, streamed: the same bytes
    `snapshot_chunks` would give for the merged tables (new items at the end of their table).

    Copying a million-item table in memory would hold the store's lock (and so the event loop)
    for 40-80 ms; this reads the old snapshot line by line in the compaction's thread instead.
    `small` holds the tables other than items, copied when the journal was sealed.

    Raises:
        OSError: the old snapshot cannot be read or is not one `snapshot_chunks` wrote.
    """
    merger = _Merger(old, _item_changes(changes), chunk_docs)
    yield b"{\n"
    with old.open("rb") as handle:
        if handle.readline() != b"{\n":
            raise OSError(f"{old} is not a snapshot this civittui wrote")
        for lines in _line_blocks(handle):
            yield from merger.feed(lines)
            if merger.finished:
                break
    by_table = merger.by_table
    rest: Live = {k: {i: d for i, d in t.items() if d is not None} for k, t in by_table.items()}
    tail = {k: v for k, v in rest.items() if k not in merger.done} | small
    yield from snapshot_chunks(tail, journal, chunk_docs, start=(merger.crc, merger.docs))


def _item_changes(changes: Batch) -> dict[str, dict[int, Any]]:
    """The changes to item tables, by table."""
    by_table: dict[str, dict[int, Any]] = {kind: {} for kind in ITEM_KINDS}
    for count, ((table, doc_id), doc) in enumerate(changes.items()):
        if table in _ITEM_KINDS:
            by_table[table][doc_id] = doc
        if count % 50_000 == 0:
            time.sleep(0)  # let the event loop's thread have the GIL now
    return by_table


class _Merger:
    """Merges the old snapshot's lines, block by block, with the changes to its item tables;
    keeps the running CRC-32 and document count of what it gave."""

    def __init__(self, old: Path, by_table: dict[str, dict[int, Any]], chunk_docs: int) -> None:
        self.old = old
        self.by_table = by_table
        """Item table -> changes not yet merged (emptied once its table is written)."""
        self.chunk_docs = chunk_docs
        self.crc = zlib.crc32(b"{\n")
        self.docs = 0
        self.done: set[str] = set()
        """Item tables written whole."""
        self.finished = False
        """The old snapshot's checksum line is reached."""
        self.name: str | None = None
        """The table being read (None: between tables)."""
        self.changed: dict[int, Any] | None = None
        """Its changes; None: a table not merged here (`small` has it)."""
        self.piece = b""
        self.sep = b""

    def feed(self, lines: list[bytes]) -> Iterator[bytes]:
        """The merged pieces of a block of whole lines of the old snapshot."""
        at, count = 0, len(lines)
        while at < count:
            if self.name is None:
                if not self._open(lines[at]):
                    self.finished = True
                    return
                at += 1
                continue
            try:
                end = lines.index(b"},", at)
            except ValueError:
                end = count
            if self.changed is not None and end > at:
                yield self._merged(lines[at:end])
                time.sleep(0)  # let the event loop's thread have the GIL now
            if end < count:  # the table ends here
                yield from self._close()
            at = end + 1

    def _open(self, header: bytes) -> bool:
        """Start the table a header line opens; False at the checksum line (the end)."""
        if header.startswith(b'"checksum":'):
            return False
        if not (header.startswith(b'"') and header.endswith(b'":{')):
            raise OSError(f"{self.old} is not a snapshot this civittui wrote")
        self.name = header[1:-3].decode("ascii", "replace")
        self.changed = self.by_table.get(self.name)
        self.piece, self.sep = (header + b"\n" if self.changed is not None else b""), b""
        return True

    def _merged(self, lines: list[bytes]) -> bytes:
        """The next piece: the table's old lines with its changes applied."""
        assert self.changed is not None
        kept = _merge_docs(lines, self.changed)
        self.docs += len(kept)
        if kept:
            self.piece += self.sep + b"\n,".join(kept)
            self.sep = b"\n,"
        return self._take()

    def _close(self) -> Iterator[bytes]:
        """End the table: its new documents, then its closing brace."""
        if self.changed is not None and self.name is not None:
            self.done.add(self.name)
            new = [b'"%d":%b' % (i, d) for i, d in self.changed.items() if d is not None]
            for start in range(0, len(new), self.chunk_docs):
                part = new[start : start + self.chunk_docs]
                self.docs += len(part)
                self.piece += self.sep + b"\n,".join(part)
                self.sep = b"\n,"
                yield self._take()
            self.piece += b"\n},\n" if self.sep else b"},\n"
            yield self._take()
            self.by_table[self.name] = {}
        self.name = None

    def _take(self) -> bytes:
        """The piece so far, counted in the CRC-32."""
        piece, self.piece = self.piece, b""
        self.crc = zlib.crc32(piece, self.crc)
        return piece
