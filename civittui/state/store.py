"""The one owner of `{root}/.civittui/state.json`: items, targets, settings, folder claims.

TinyDB 4.9 rebuilds a whole table on every `insert`/`update` (one update at 100k documents costs
~40 ms) and `search` scans every document (~30 ms at 100k), while `get(doc_id=...)` costs
microseconds. So items live in one table per kind under their CivitAI id as `doc_id`, a change
replaces one document in place (O(1), `StateTable.put`), indexes kept in memory answer the
queries, and the disk sees the state only on `flush` (about once a second, and on close), through
`AtomicJSONStorage`: a journal of the changed documents, or a new snapshot replaced atomically.
Item documents are held as their compact JSON bytes and decoded when read. Files a record names
that were written without fsync (`mark_done(written=...)`) are synced by the flush before it.

Thread safety: every method takes one lock, so the engine may mutate from the event loop while
`flush` runs in a worker thread; `flush` holds the lock only to take the changes (and, when a
snapshot is due, a dict copy per table), and encodes and writes outside it.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import orjson

from civittui.errors import StateError
from civittui.fsio import sync_files
from civittui.redact import Redactor
from civittui.state.claims import DirClaims
from civittui.state.facets import META_DOC, SmallTables
from civittui.state.hashes import HashCache, ShaIndex
from civittui.state.index import ItemIndex
from civittui.state.members import Members
from civittui.state.queue import TargetQueue
from civittui.state.records import (
    ITEM_KINDS,
    Doc,
    ItemRecord,
    ItemStatus,
    TargetRecord,
    compact,
    encode_item,
    item_record,
    parse_key,
    scrub_spec,
    target_record,
    utc_now,
)
from civittui.state.storage import FORMAT, AtomicJSONStorage, Live, remove_stale_temps
from civittui.state.tables import StateDB, Writes

__all__ = ["Store"]

_redact = Redactor(())  # static patterns only: `?token=...` and friends in error text


def _sync(paths: list[Path]) -> None:
    try:
        sync_files(paths)
    except OSError as err:
        raise StateError(f"cannot make recorded files durable ({err.strerror or err})") from None


def _own_spec(spec: dict[str, Any] | None, key: str) -> dict[str, Any] | None:
    """See `scrub_spec`."""
    return None if spec is None else scrub_spec(spec, f"spec of {key}")


class Store(SmallTables):
    """civittui's state. Open with `Store.open`; `close` (or `with`) saves the last changes."""

    def __init__(self, db: StateDB, storage: AtomicJSONStorage, *, read_only: bool = False) -> None:
        """Use `Store.open`."""
        self.path = storage.path
        self.read_only = read_only
        """Changes stay in memory: the file is never written (see `open`)."""
        self._db = db
        self._storage = storage
        self._lock = threading.RLock()
        self._flush_lock = threading.Lock()
        # A new file counts as one change, so the first flush creates it.
        self._writes = Writes(db, gen=0 if storage.existed else 1)
        self._saved_gen = 0
        self._index = ItemIndex(self._writes)
        self._queue = TargetQueue(self._writes)
        self._claims = DirClaims(self._writes)
        self._members = Members(self._writes)
        self._shas = ShaIndex(self._writes)
        self._hash_cache = HashCache(self._writes)
        meta = self._writes.table("civittui").doc(META_DOC) or {}
        if meta.get("format") != FORMAT:
            self._writes.put("civittui", META_DOC, {**meta, "format": FORMAT})

    # ----------------------------------------------------------------------------- lifecycle

    @classmethod
    def open(cls, path: Path, *, read_only: bool = False) -> Store:
        """Open (or start) the state file at `path`, creating its folder.

        Args:
            path: usually `{root}/.civittui/state.json`.
            read_only: for readers that may run beside the process holding the root's lock
                (`status`, `failures`, `get --dry-run`): nothing is created, cleaned or written;
                changes made in memory are dropped on close.

        Returns:
            The store, loaded into memory.

        Raises:
            StateError: the folder cannot be made, or the file is unreadable, corrupt or not
                civittui state; the message names the file and the way out (`quarantine`
                moves it aside).
        """
        if not read_only:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as err:
                raise StateError(
                    f"cannot create the state folder {path.parent} ({err.strerror or err})"
                ) from None
            # Only the lock holder may clean: a reader would delete a running flush's temp.
            remove_stale_temps(path)
        # Loading allocates ~1M objects that all stay alive: the cyclic collector would walk
        # them over and over for nothing (~15 % of a 100k open).
        collecting = gc.isenabled()
        gc.disable()
        try:
            db = StateDB(path, storage=AtomicJSONStorage, read_only=read_only)
            return cls(db, db.storage, read_only=read_only)  # type: ignore[arg-type]
        finally:
            if collecting:
                gc.enable()

    def close(self) -> None:
        """Save what is pending; later changes raise `RuntimeError`.

        Raises:
            StateError: the final save failed.
        """
        if self._writes.closed:
            return
        self.flush()
        with self._lock:
            self._writes.closed = True
        self._db.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, err: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    @property
    def dirty(self) -> bool:
        """True when there are changes the file does not hold yet."""
        return self._writes.gen != self._saved_gen

    def flush(self) -> bool:
        """Write pending changes atomically; safe to call from a worker thread.

        Returns:
            True if something was written.

        Raises:
            StateError: the file could not be written, the changes stay pending; or the
                journal was written but the last compaction failed (reported once).
        """
        if self.read_only:
            return False
        storage = self._storage
        with self._flush_lock:
            with self._lock:
                self._members.commit()
                gen = self._writes.gen
                if gen == self._saved_gen:
                    return False
                batch, unsynced = self._writes.take()
                whole = storage.wants_snapshot()
                tables: Live | None = None
                if whole:
                    tables = storage.copy()
                elif storage.compaction_due():
                    # Item tables are compacted from the snapshot on disk and the journal.
                    tables = storage.copy(items=False)
            try:
                _sync(unsynced)  # first: a record never names bytes that are not durable
                if whole:
                    assert tables is not None
                    storage.write_snapshot(tables)
                else:
                    storage.append(batch, tables)
            except BaseException:
                with self._lock:
                    self._writes.give_back(batch, unsynced)
                raise
            self._saved_gen = gen
            failed = storage.compaction_error()
            if failed is not None:
                raise failed  # the changes are safe in the journal; the snapshot is not new
            return True

    # --------------------------------------------------------------------------------- items

    def _set_item(self, key: str, doc: Doc, written: Sequence[Path] = ()) -> tuple[str, int, Doc]:
        """Store an item document, carrying over what the new one leaves out.

        Returns:
            (kind, id, the stored document).
        """
        kind, doc_id = parse_key(key)
        with self._lock:
            self._writes.unsynced.extend(written)  # a flush takes these and the record, or neither
            raw = self._writes.table(kind).doc(doc_id)
            old = None if raw is None else orjson.loads(raw)
            if old is not None:
                doc["first_seen"] = old.get("first_seen", old["updated"])
                if "attempts" not in doc and "attempts" in old:
                    doc["attempts"] = old["attempts"]
                if doc.get("path") is None and "path" in old:
                    doc["path"] = old["path"]
                if doc["status"] != ItemStatus.DONE and doc.get("spec") is None and "spec" in old:
                    doc["spec"] = old["spec"]
            doc = compact(doc)
            self._writes.put(kind, doc_id, encode_item(doc))
            self._index.change(key, old, doc)
            self._shas.change(key, old, doc)
        return kind, doc_id, doc

    def item(self, key: str) -> ItemRecord | None:
        """The record for an item key, or None when the store has never seen it.

        Raises:
            ValueError: `key` is not `image:ID`, `file:ID` or `meta:ID`.
        """
        kind, doc_id = parse_key(key)
        with self._lock:
            raw = self._writes.table(kind).doc(doc_id)
        return None if raw is None else item_record(kind, doc_id, orjson.loads(raw), copy=False)

    def mark_done(
        self,
        key: str,
        *,
        target: str | None,
        name: str,
        path: str,
        size: int,
        sha256: str | None,
        written: Sequence[Path] = (),
    ) -> None:
        """Record an item as on disk and verified; its error and spec are dropped. `written`:
        its files written without fsync (sidecars), synced by the flush that records it.

        Raises:
            ValueError: malformed key.
        """
        now = utc_now()
        doc: Doc = {"status": ItemStatus.DONE.value, "target": target, "name": name}
        doc |= {"path": path, "size": size, "sha256": sha256, "first_seen": now, "updated": now}
        self._set_item(key, doc, written)

    def mark_failed(
        self,
        key: str,
        *,
        target: str | None,
        name: str,
        reason: str,
        http_status: int | None,
        permanent: bool,
        retry_at: str | None,
        spec: dict[str, Any] | None,
    ) -> ItemRecord:
        """Record a failed attempt (attempts += 1); a None `spec` keeps the stored one.

        Returns:
            The new record (its `attempts` counts this failure).

        Raises:
            ValueError: malformed key, or `spec` is not JSON or has a key named `api_key`,
                `cookie`, `token`... (`?token=` in its strings is masked).
        """
        spec = _own_spec(spec, key)
        now = utc_now()
        doc: Doc = {"status": ItemStatus.FAILED.value, "target": target, "name": name}
        doc |= {"error": _redact(reason), "http_status": http_status, "permanent": permanent}
        doc |= {"retry_at": retry_at, "spec": spec, "first_seen": now, "updated": now}
        with self._lock:
            old = self.item(key)
            doc["attempts"] = (old.attempts if old else 0) + 1
            return item_record(*self._set_item(key, doc))

    def mark_pending(
        self, key: str, *, target: str | None, name: str, spec: dict[str, Any] | None
    ) -> None:
        """Queue an item (again): clears its error, keeps its attempt count and, when `spec` is
        None, its stored spec.

        Raises:
            ValueError: malformed key, or `spec` is not JSON or has a key named `api_key`,
                `cookie`, `token`... (`?token=` in its strings is masked).
        """
        spec = _own_spec(spec, key)
        now = utc_now()
        doc: Doc = {"status": ItemStatus.PENDING.value, "target": target, "name": name}
        doc["spec"] = spec
        self._set_item(key, doc | {"first_seen": now, "updated": now})

    def forget(self, key: str) -> None:
        """Drop an item's record (a dismissed failure, a file that vanished); no-op if unknown.

        Raises:
            ValueError: malformed key.
        """
        kind, doc_id = parse_key(key)
        with self._lock:
            if self._writes.table(kind).doc(doc_id) is not None:
                self._index.change(key, orjson.loads(self._writes.drop(kind, doc_id)), None)

    def failures(self, *, include_permanent: bool = True) -> list[ItemRecord]:
        """Failed items, newest first; costs the number of open items, not of all items.

        Args:
            include_permanent: also list failures retrying cannot fix (deleted, archived).
        """
        with self._lock:
            keys = list(self._index.open_keys)
        found = [
            rec
            for rec in self._records(keys)
            if rec.status is ItemStatus.FAILED and (include_permanent or not rec.permanent)
        ]
        found.sort(key=lambda rec: rec.updated, reverse=True)
        return found

    def items(
        self, *, target: str | None = None, status: ItemStatus | None = None
    ) -> Iterator[ItemRecord]:
        """Items, optionally of one target and/or in one status.

        The selection is taken when iteration starts; the store may change meanwhile.
        """
        with self._lock:
            if target is not None:
                keys: list[str] = self._index.of_target(target)
            elif status is not None and status is not ItemStatus.DONE:
                keys = list(self._index.open_keys)
            else:
                tables = [(kind, self._writes.table(kind).raw()) for kind in ITEM_KINDS]
                keys = [f"{kind}:{doc_id}" for kind, docs in tables for doc_id in docs]
        for rec in self._records(keys):
            if status is None or rec.status is status:
                yield rec

    def _records(self, keys: list[str]) -> Iterator[ItemRecord]:
        for key in keys:
            rec = self.item(key)
            if rec is not None:  # forgotten since the keys were taken
                yield rec

    def counts(self) -> dict[str, int]:
        """How many items are in each status: `{"done": n, "failed": n, "pending": n}`."""
        with self._lock:
            return {status.value: self._index.counts[status.value] for status in ItemStatus}

    # ------------------------------------------------------------------------------- targets

    def upsert_target(self, key: str, url: str, **fields: Any) -> TargetRecord:
        """Add a target (key `user:alice`, the URL as given) at the end of the queue, or update
        the one with this key; `fields`: any of `status`, `found`, `done`, `failed`, `skipped`,
        `error`, `name`, `bytes_found`, `bytes_done`, `choices` (JSON object, or None).

        Raises:
            TypeError: an unknown field, or a value of the wrong type.
        """
        with self._lock:
            return target_record(self._queue.upsert(key, url, fields))

    def queue_targets(self, entries: list[tuple[str, str, dict[str, Any]]]) -> None:
        """`upsert_target` for many (key, url, fields) at once, in order, without building records
        (the engine queues 100k URLs at once)."""
        with self._lock:
            self._queue.add(entries)

    def targets(self) -> list[TargetRecord]:
        """Every target, in queue order."""
        with self._lock:
            return self._queue.all()

    # ------------------------------------------------------------------- content (SHA256)

    def file_with_sha256(self, sha256: str) -> ItemRecord | None:
        """A done file item whose content has this SHA256 (any creator, adopted or not)."""
        with self._lock:
            key = self._shas.key_for(sha256)
        return None if key is None else self.item(key)
