"""Where the state lives on disk: a snapshot in TinyDB's JSON format, replaced atomically, and
a journal of the changes made since.

TinyDB's own `JSONStorage` rewrites the file in place and truncates after, so a `kill -9`
mid-write leaves half a file. `AtomicJSONStorage` keeps the tables in memory. A snapshot goes to a
temporary file in the same folder, is fsynced, `os.replace`d over `state.json` and the folder
fsynced: whoever reads the file sees the previous snapshot or the next one, never a mix.

Rewriting a million items every second would cost a second of CPU, so once the snapshot is big
(`JOURNAL_FROM`) a flush appends only the changed documents to a journal
(`state.json.journal.N`), one batch per flush, closed by a line holding its count and CRC-32; a
torn last batch (a kill mid-append) is ignored when the journal is replayed at open. When the
journal outgrows a fraction of the snapshot (`COMPACT_AT`), the flush seals it, starts journal
N+1 and writes a new snapshot in a thread; the snapshot names the first journal it does not hold,
so a kill at any point of a compaction leaves a snapshot and the journals that complete it.

The snapshot puts one document on a line and ends with a `checksum` table (CRC-32 of what comes
before, the number of documents, the first journal to replay): a file that matches is loaded line
by line without building a dict per item; any other file (older civittui, edited by hand) is
parsed whole and checked document by document. Item documents stay in memory as their compact
JSON bytes (about a fifth of the dict's size), decoded when read.

Each job has its module: the snapshot's format `civittui.state.snapshot`, the journal
`civittui.state.journal`, the compaction's merge `civittui.state.compaction`; this one holds the
storage that drives them.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

from tinydb.storages import Storage

from civittui.errors import StateError
from civittui.fsio import fsync_dir, replace_file, write_bytes_atomic
from civittui.state.compaction import merged_chunks
from civittui.state.journal import Batch, batch_bytes, journal_number, replay
from civittui.state.records import ITEM_KINDS
from civittui.state.snapshot import (
    BLOCK,
    FORMAT,
    TABLES,
    WAY_OUT,
    Live,
    Tables,
    load_full,
    read_snapshot,
    serialize,
    snapshot_chunks,
    to_live,
)

__all__ = [
    "COMPACT_AT",
    "FORMAT",
    "JOURNAL_FROM",
    "Live",
    "TABLES",
    "AtomicJSONStorage",
    "load_state",
    "quarantine",
    "remove_stale_temps",
    "serialize",
]

JOURNAL_FROM = 4_000_000
"""Snapshot size (bytes, ~20k items) from which a flush appends to the journal instead of
rewriting the snapshot (below it a rewrite costs a few milliseconds)."""
COMPACT_AT = 0.5
"""A new snapshot is written when the journal reaches this fraction of the snapshot's size."""
_BLOCK = BLOCK
_ITEM_KINDS = frozenset(ITEM_KINDS)


def _read_snapshot(path: Path) -> tuple[Live, int, int] | None:
    """`read_snapshot` with this module's block size."""
    return read_snapshot(path, _BLOCK)


def load_state(path: Path) -> Tables | None:
    """Read and check a state file (see `load_full`)."""
    return load_full(path)[0]


def quarantine(path: Path) -> Path:
    """Move a bad state file aside so the next run starts afresh.

    Args:
        path: the state file.

    Returns:
        Where it went: `state.json.corrupt-YYYYmmddTHHMMSS` beside it (`-2`, `-3`... if taken);
        its journals go beside it as `state.json.corrupt-YYYYmmddTHHMMSS.journal.N`.

    Raises:
        StateError: the file cannot be moved.
    """
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    aside = path.with_name(f"{path.name}.corrupt-{stamp}")
    n = 2
    while aside.exists():
        aside = path.with_name(f"{path.name}.corrupt-{stamp}-{n}")
        n += 1
    try:
        replace_file(path, aside)
        # Its journals go with it: replayed over a fresh state they would bring it back in part.
        for journal in path.parent.glob(f"{path.name}.journal.*"):
            replace_file(journal, aside.with_name(aside.name + journal.name[len(path.name) :]))
    except OSError as err:
        raise StateError(f"cannot move state file {path} aside ({err.strerror or err})") from None
    fsync_dir(path.parent)
    return aside


def remove_stale_temps(path: Path) -> None:
    """Delete temp files a killed flush left beside `path` (one process owns a state file)."""
    for leftover in path.parent.glob(f".{path.name}.*.tmp"):
        with contextlib.suppress(OSError):
            leftover.unlink()


class AtomicJSONStorage(Storage):
    """A TinyDB storage held in memory and written to disk only by `flush_batch`.

    TinyDB reads and writes the table dict through `read`/`write` on every operation; keeping it
    in memory makes those free. Item tables hold each document as its compact JSON bytes.

    Args:
        path: the state file; read now (with its journals) if it exists.
        tables: tables to create empty when the file lacks them.

    Raises:
        StateError: the file is unreadable or not valid civittui state.
    """

    def __init__(
        self, path: Path, tables: Iterable[str] = TABLES, *, read_only: bool = False
    ) -> None:
        super().__init__()
        self.path = path
        self._read_only = read_only
        """A reader beside the lock holder: it must not cut a tail the writer is appending to,
        nor delete journals a compaction is about to retire."""
        self.snapshot_size = 0
        """Bytes of the snapshot on disk (0: none yet)."""
        self.journal_size = 0
        """Bytes of the journals the snapshot does not hold."""
        self._since: Batch = {}
        """Changes the snapshot on disk does not hold (journaled), for the next compaction."""
        self._compacting: threading.Thread | None = None
        self._compact_error: StateError | None = None
        self._size_lock = threading.Lock()
        loaded = _read_snapshot(path)
        if loaded is None:
            data, first = load_full(path)
            live = to_live(data) if data is not None else None
            self._trusted = False  # next flush writes a checksummed snapshot
            if data is not None:
                self.snapshot_size = path.stat().st_size
        else:
            live, first, self.snapshot_size = loaded
            self._trusted = True
        self.existed = live is not None
        self._data: Live = live if live is not None else {}
        for name in tables:
            self._data.setdefault(name, {})
        self._journal = first
        """Number of the journal the next batch goes to."""
        self._replay(first)

    def _journals(self) -> list[tuple[int, Path]]:
        found = []
        for leftover in self.path.parent.glob(f"{self.path.name}.journal.*"):
            number = journal_number(self.path, leftover)
            if number is not None:
                found.append((number, leftover))
        return sorted(found)

    def _replay(self, first: int) -> None:
        """Apply the journals from `first` on; delete older ones (a compaction's leftovers)."""
        for number, journal in self._journals():
            if number < first:
                if not self._read_only:
                    with contextlib.suppress(OSError):
                        journal.unlink()
                continue
            try:
                good = replay(journal, self._data, self._since)
                size = journal.stat().st_size
                if good < size and not self._read_only:
                    # A torn tail: cut it, so the next batch does not follow garbage.
                    with journal.open("r+b") as handle:
                        handle.truncate(good)
                        os.fsync(handle.fileno())
            except OSError as err:
                raise StateError(
                    f"cannot read state journal {journal} ({err.strerror or err}); {WAY_OUT}"
                ) from None
            self.existed = True
            self.journal_size += good
            self._journal = number

    def read(self) -> Live:  # type: ignore[override]
        """The live tables (not a copy: TinyDB's reads cost nothing)."""
        return self._data

    def write(self, data: Live) -> None:  # type: ignore[override]
        """Take TinyDB's new tables; they reach the disk on the next flush."""
        self._data = data

    def wants_snapshot(self) -> bool:
        """True when the next flush should rewrite the snapshot now, in the caller's thread:
        a small state, or no checksummed snapshot yet."""
        return not self._trusted or self.snapshot_size < JOURNAL_FROM

    def compaction_error(self) -> StateError | None:
        """Why the last compaction failed (reported once); the journal still holds the state
        and the compaction is retried while it is due."""
        err, self._compact_error = self._compact_error, None
        return err

    def compaction_due(self) -> bool:
        """True when the journal has outgrown its share of the snapshot (and no compaction runs)."""
        if self._compacting is not None and not self._compacting.is_alive():
            self.wait()
        with self._size_lock:
            due = self.journal_size >= COMPACT_AT * self.snapshot_size
        return due and self._compacting is None

    def copy(self, *, items: bool = True) -> Live:
        """A copy of every table (`items=False`: but the item tables) that later changes will
        not touch.

        Documents are never changed in place (a change stores a new one), so copying each
        table's dict is enough; the caller holds the store's lock.
        """
        return {
            name: dict(docs)
            for name, docs in self._data.items()
            if items or name not in _ITEM_KINDS
        }

    def write_snapshot(self, tables: Live) -> None:
        """Write `tables` (the whole state) as the snapshot, now.

        Raises:
            StateError: the file cannot be written; the previous file stays intact.
        """
        self.wait()
        self._snapshot(snapshot_chunks(tables, self._journal + 1), self._journal + 1)
        with self._size_lock:
            self._since = {}

    def append(self, batch: Batch, then_compact: Live | None) -> None:
        """Append a flush's changes to the journal; with `then_compact` (the tables but the
        items, as they are after the batch), seal the journal and write a new snapshot in a
        thread, from the one on disk and the journaled changes.

        Raises:
            StateError: the journal cannot be written; the batch is not in it.
        """
        journal = self.path.with_name(f"{self.path.name}.journal.{self._journal}")
        data = batch_bytes(batch)
        try:
            with journal.open("ab") as handle:
                start = handle.tell()
                try:
                    handle.write(data)
                    handle.flush()
                    os.fsync(handle.fileno())
                except BaseException:
                    with contextlib.suppress(OSError):
                        handle.truncate(start)  # a later batch must not follow a torn one
                    raise
            if start == 0:
                fsync_dir(self.path.parent)
        except OSError as err:
            raise StateError(
                f"cannot write state journal {journal} ({err.strerror or err}); "
                "free some space or fix permissions, then run again: "
                "progress since the last save is re-verified from disk"
            ) from None
        with self._size_lock:
            self.journal_size += len(data)
            self._since.update(batch)
            if then_compact is None:
                return
            sealed, self._since = self._since, {}
        first = self._journal + 1
        self._journal = first
        self._compacting = threading.Thread(
            target=self._compact, args=(then_compact, sealed, first), name="state-compaction"
        )
        self._compacting.start()

    def _compact(self, small: Live, sealed: Batch, first: int) -> None:
        try:
            self._snapshot(merged_chunks(self.path, small, sealed, first), first)
        except StateError as err:
            with self._size_lock:
                # Still not in a snapshot: the next compaction takes them (newer ones win).
                self._since = sealed | self._since
            self._compact_error = err

    def _snapshot(self, chunks: Iterable[bytes], first: int) -> None:
        """Write the snapshot holding every journal before `first`, then delete those."""
        try:
            # owner-only, as always: the state lists what the user mirrors and where
            write_bytes_atomic(self.path, chunks, mode=0o600)
            size = self.path.stat().st_size
        except OSError as err:
            raise StateError(
                f"cannot write state file {self.path} ({err.strerror or err}); "
                "free some space or fix permissions, then run again: "
                "progress since the last save is re-verified from disk"
            ) from None
        self._trusted = True
        removed = 0
        for number, journal in self._journals():
            if number < first:
                with contextlib.suppress(OSError):
                    removed += journal.stat().st_size
                    journal.unlink()
        with self._size_lock:
            self.snapshot_size = size
            self.journal_size = max(0, self.journal_size - removed)
        self._journal = max(self._journal, first)

    def wait(self) -> None:
        """Wait for a compaction in progress to finish."""
        thread = self._compacting
        if thread is not None:
            thread.join()
            self._compacting = None

    def close(self) -> None:
        """Let a compaction in progress finish (its journals keep the state whole meanwhile)."""
        self.wait()
