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
"""

from __future__ import annotations

import contextlib
import itertools
import os
import re
import tempfile
import threading
import time
import zlib
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from itertools import compress
from operator import itemgetter, methodcaller
from pathlib import Path
from typing import Any

import orjson
from tinydb.storages import Storage

from civittui.errors import StateError
from civittui.state.records import (
    ITEM_KINDS,
    dir_doc_problem,
    encode_item,
    item_doc_problem,
    target_doc_problem,
)

__all__ = [
    "COMPACT_AT",
    "FORMAT",
    "JOURNAL_FROM",
    "TABLES",
    "AtomicJSONStorage",
    "atomic_write",
    "fsync_dir",
    "load_state",
    "quarantine",
    "remove_stale_temps",
    "serialize",
]

FORMAT = 1
"""Version of the state layout, kept in table `civittui`, document 1."""

TABLES: tuple[str, ...] = (
    *ITEM_KINDS,
    "targets",
    "settings",
    "dirs",
    "members",
    "civittui",
    "hashes",
)
"""Every table a state file may hold."""

Tables = dict[str, dict[str, dict[str, Any]]]
"""Tables as TinyDB stores them in JSON: `{table: {doc_id: document}}`."""
Live = dict[str, dict[int, Any]]
"""Tables in memory: `{table: {doc_id: document}}`; item documents are their JSON bytes."""

JOURNAL_FROM = 4_000_000
"""Snapshot size (bytes, ~20k items) from which a flush appends to the journal instead of
rewriting the snapshot (below it a rewrite costs a few milliseconds)."""
COMPACT_AT = 0.5
"""A new snapshot is written when the journal reaches this fraction of the snapshot's size."""
_CHECKSUM = "checksum"
_CHECKSUM_LINE = re.compile(rb'"checksum":\{"1":\{"crc":(\d+),"docs":(\d+),"journal":(\d+)\}\}\n')
_ITEM_KINDS = frozenset(ITEM_KINDS)
_DONE_PREFIX = b'{"status":"done"'

WAY_OUT = (
    "move it aside with `civittui status --reset-state` or rename it, then run again: "
    "files already on disk are re-verified, nothing is downloaded twice"
)

# Windows refuses to replace a file another process holds open (an editor, a virus scanner);
# such holds last milliseconds, so a few short retries ride them out.
_REPLACE_TRIES = 6
_REPLACE_PAUSE = 0.05

CHUNK_DOCS = 5_000
"""Documents encoded per orjson call on flush (~2-5 ms each: the longest the loop waits)."""


def _corrupt(path: Path, detail: str) -> StateError:
    return StateError(f"state file {path} is corrupt ({detail}); {WAY_OUT}")


def load_state(path: Path) -> Tables | None:
    """Read and check a state file (see `_load_full`)."""
    return _load_full(path)[0]


def _load_full(path: Path) -> tuple[Tables | None, int]:
    """Read and check a state file, parsing it whole.

    Args:
        path: the state file.

    Returns:
        The tables as TinyDB stores them (`{table: {doc_id: document}}`), or None when there is
        no file yet; and the first journal the file does not hold (0 when it does not say).

    Raises:
        StateError: the file cannot be read, is not JSON, is not civittui state, or holds
            documents of the wrong shape; the message offers the way out.
    """
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None, 0
    except OSError as err:
        raise StateError(
            f"cannot read state file {path} ({err.strerror or err}); "
            f"fix its permissions or {WAY_OUT}"
        ) from None
    if not raw.strip():
        raise _corrupt(path, "the file is empty")
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as err:
        raise _corrupt(path, str(err)) from None
    if not isinstance(data, dict):
        raise _not_ours(path, "the top level is not an object")
    # written by `snapshot_chunks`: it says which journals follow, nothing about the documents
    check = data.pop(_CHECKSUM, None)
    journal = 0
    if isinstance(check, dict) and isinstance(check.get("1"), dict):
        number = check["1"].get("journal")
        journal = number if type(number) is int and number >= 0 else 0
    strangers = sorted(set(data) - set(TABLES))
    if strangers:
        raise _not_ours(path, f"it holds table {strangers[0]!r}")
    meta = data.get("civittui", {}).get("1", {})
    version = meta.get("format", FORMAT) if isinstance(meta, dict) else None
    if not isinstance(version, int) or isinstance(version, bool):
        raise _corrupt(path, f"civittui 1: format {version!r} is not a number")
    if version > FORMAT:
        raise StateError(
            f"state file {path} was written by a newer civittui (format {version!r}); "
            f"upgrade civittui, or {WAY_OUT}"
        )
    problem = _shape_problem(data)
    if problem is not None:
        raise _corrupt(path, problem)
    return data, journal


def _not_ours(path: Path, detail: str) -> StateError:
    return StateError(f"state file {path} is not civittui state ({detail}); {WAY_OUT}")


def _shape_problem(data: dict[str, Any]) -> str | None:
    """Say what in civittui's tables does not have the shape civittui writes."""
    for name, table in data.items():
        if not isinstance(table, dict):
            return f"table {name!r} is not an object"
        if name in ITEM_KINDS:
            check = item_doc_problem
        elif name == "targets":
            check = target_doc_problem
        elif name == "dirs":
            check = dir_doc_problem
        else:
            check = _plain_doc_problem
        for doc_id, doc in table.items():
            if not (doc_id.isascii() and doc_id.isdigit()):
                return f"table {name!r} has document id {doc_id!r}, not a number"
            problem = check(doc)
            if problem is not None:
                return f"{name} {doc_id}: {problem}"
    return None


def _plain_doc_problem(doc: object) -> str | None:
    return None if isinstance(doc, dict) else "not an object"


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
        os.replace(path, aside)
        # Its journals go with it: replayed over a fresh state they would bring it back in part.
        for journal in path.parent.glob(f"{path.name}.journal.*"):
            os.replace(journal, aside.with_name(aside.name + journal.name[len(path.name) :]))
    except OSError as err:
        raise StateError(f"cannot move state file {path} aside ({err.strerror or err})") from None
    fsync_dir(path.parent)
    return aside


def fsync_dir(directory: Path) -> None:
    """Make a rename inside `directory` durable, where the OS allows it.

    Windows cannot open a folder for fsync (NTFS journals the rename itself), and some network
    file systems refuse it; both are skipped quietly.
    """
    flags = getattr(os, "O_DIRECTORY", None)
    if os.name == "nt" or flags is None:
        return
    try:
        fd = os.open(directory, os.O_RDONLY | flags)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write(path: Path, chunks: Iterable[bytes]) -> None:
    """Replace `path` with the concatenated `chunks` so that a crash leaves the old file or the
    new one, whole.

    Args:
        path: the file to replace (its folder must exist).
        chunks: the complete new content, in pieces (produced while writing).

    Raises:
        OSError: the write or the rename failed (the old file is untouched, the temp file gone).
    """
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            for chunk in chunks:
                handle.write(chunk)
            handle.flush()
            os.fsync(handle.fileno())
        for attempt in range(_REPLACE_TRIES):
            try:
                os.replace(tmp, path)
                break
            except PermissionError:
                if attempt == _REPLACE_TRIES - 1:
                    raise
                time.sleep(_REPLACE_PAUSE)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    fsync_dir(path.parent)


def serialize(tables: Tables, chunk_docs: int = CHUNK_DOCS) -> Iterator[bytes]:
    """Encode tables as one JSON object, `chunk_docs` documents per piece.

    orjson holds the GIL while it encodes: one `dumps` of 100k documents (25 MB) would freeze
    the event loop for 35-110 ms. Encoding in pieces lets the loop run between them; the pieces
    concatenate to exactly the JSON of `tables`.
    """
    yield b"{"
    for t, (name, docs) in enumerate(tables.items()):
        yield (b"," if t else b"") + orjson.dumps(name) + b":{"
        items = iter(docs.items())
        first = True
        while piece := dict(itertools.islice(items, chunk_docs)):
            body = orjson.dumps(piece)[1:-1]  # strip the piece's own braces
            yield body if first else b"," + body
            first = False
        yield b"}"
    yield b"}"


def remove_stale_temps(path: Path) -> None:
    """Delete temp files a killed flush left beside `path` (one process owns a state file)."""
    for leftover in path.parent.glob(f".{path.name}.*.tmp"):
        with contextlib.suppress(OSError):
            leftover.unlink()


def snapshot_chunks(
    tables: Live,
    journal: int,
    chunk_docs: int = CHUNK_DOCS,
    start: tuple[int, int] | None = None,
) -> Iterator[bytes]:
    """Encode in-memory tables as a snapshot: TinyDB's JSON, one document a line, then the
    `checksum` table (see the module docstring), `chunk_docs` documents per piece.

    `start`: (CRC, documents) of a snapshot's beginning already written; its tables go on."""
    if start is None:
        crc = zlib.crc32(b"{\n")
        docs = 0
        yield b"{\n"
    else:
        crc, docs = start
    for name, table in tables.items():
        encode = _item_line if name in _ITEM_KINDS else _doc_line
        piece = b'"' + name.encode() + b'":{\n'
        items = iter(table.items())
        sep = b""
        while lines := [encode(i, d) for i, d in itertools.islice(items, chunk_docs)]:
            docs += len(lines)
            piece += sep + b"\n,".join(lines)
            crc = zlib.crc32(piece, crc)
            yield piece
            piece, sep = b"", b"\n,"
        piece += b"\n},\n" if sep else b"},\n"
        crc = zlib.crc32(piece, crc)
        yield piece
    yield b'"checksum":{"1":{"crc":%d,"docs":%d,"journal":%d}}\n}' % (crc, docs, journal)


def _item_line(doc_id: int, doc: bytes) -> bytes:
    return b'"%d":%b' % (doc_id, doc)


def _doc_line(doc_id: int, doc: dict[str, Any]) -> bytes:
    return b'"%d":%b' % (doc_id, orjson.dumps(doc))


_BLOCK = 1 << 24
_split_id = methodcaller("split", b'":', 1)
_id_text = itemgetter(0)
_doc_text = itemgetter(1)
_unquote = methodcaller("lstrip", b',"')


def _read_snapshot(path: Path) -> tuple[Live, int, int] | None:
    """Load a snapshot written by `snapshot_chunks`, 16 MB at a time with C-level splits
    (a line-by-line loop costs ~1.5 us a document: 1.5 s at a million).

    Returns:
        (tables, first journal to replay, file size), or None when the file is not such a
        snapshot or does not match its checksum: then it must be parsed whole and checked.
    """
    try:
        handle = path.open("rb")
    except OSError:
        return None
    with handle:
        size = os.fstat(handle.fileno()).st_size
        handle.seek(max(0, size - 256))
        tail = handle.read()
        at = tail.rfind(b'\n"checksum":')
        check = _CHECKSUM_LINE.fullmatch(tail[at + 1 : -1]) if at >= 0 else None
        if check is None or not tail.endswith(b"\n}"):
            return None
        body = size - len(tail) + at + 1  # bytes before the checksum line
        handle.seek(0)
        if handle.read(2) != b"{\n":
            return None
        reader = _Sections()
        crc = zlib.crc32(b"{\n")
        remaining = body - 2
        carry = b""
        while remaining > 0:
            block = handle.read(min(_BLOCK, remaining))
            if not block:
                return None
            remaining -= len(block)
            crc = zlib.crc32(block, crc)
            text = carry + block
            cut = text.rfind(b"\n") + 1 if remaining else len(text)
            carry = text[cut:]
            if not reader.feed(text[:cut] if cut < len(text) else text):
                return None
    if carry or reader.table is not None:
        return None
    if crc != int(check[1]) or reader.docs != int(check[2]) or not _meta_ok(reader.tables):
        return None
    return reader.tables, int(check[3]), size


class _Sections:
    """Parses whole lines of a snapshot's body into tables.

    Lines are split, matched to ids and trimmed by `map` over C functions: a Python loop, or a
    regular expression scanning the text, costs several times more per document.
    """

    def __init__(self) -> None:
        self.tables: Live = {}
        self.table: dict[int, Any] | None = None
        self.items = False
        self.docs = 0

    def feed(self, text: bytes) -> bool:
        """Take complete lines; False when they are not what `snapshot_chunks` writes."""
        lines = text.split(b"\n")
        if lines.pop():
            return False  # the text ends with a newline
        at, count = 0, len(lines)
        while at < count:
            if self.table is None:
                header = lines[at]
                name = header[1:-3].decode("ascii", "replace")
                if not (header.startswith(b'"') and header.endswith(b'":{')):
                    return False
                if name not in TABLES or name in self.tables:
                    return False
                self.table = self.tables[name] = {}
                self.items = name in _ITEM_KINDS
                at += 1
                continue
            try:
                end = lines.index(b"},", at)
            except ValueError:
                end = count
            if end > at and not self._docs(lines[at:end]):
                return False
            if end < count:
                self.table = None
            at = end + 1
        return True

    def _docs(self, lines: list[bytes]) -> bool:
        """Documents `"id":{...}` one a line, each but the table's first led by a comma."""
        assert self.table is not None
        try:
            pairs = list(map(_split_id, lines))
            ids = list(map(int, map(_unquote, map(_id_text, pairs))))
            docs = list(map(_doc_text, pairs))
        except (ValueError, IndexError):
            return False
        if not self.items:
            docs = list(map(_loads_dict, docs))
            if any(type(doc) is not dict for doc in docs):
                return False
        self.table.update(zip(ids, docs, strict=True))
        self.docs += len(docs)
        return True


def _loads_dict(raw: bytes) -> Any:
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    return doc


def _meta_ok(tables: Live) -> bool:
    """True when the non-item tables hold objects and the format is one this civittui reads
    (else the whole-file path gives the precise message)."""
    for name, table in tables.items():
        if name not in _ITEM_KINDS and any(type(doc) is not dict for doc in table.values()):
            return False
    meta = tables.get("civittui", {}).get(1, {})
    version = meta.get("format", FORMAT)
    return type(version) is int and version <= FORMAT


def _to_live(data: Tables) -> Live:
    """Tables parsed whole (and checked) into the in-memory form."""
    live: Live = {}
    for name, table in data.items():
        if name in _ITEM_KINDS:
            live[name] = {int(i): encode_item(doc) for i, doc in table.items()}
        else:
            live[name] = {int(i): doc for i, doc in table.items()}
    return live


# --- the journal --------------------------------------------------------------------------------

Batch = dict[tuple[str, int], Any]
"""Changes of one flush: (table, doc_id) -> the new document (bytes for items), None if dropped."""


def batch_bytes(batch: Batch) -> bytes:
    """A batch as journal lines (`table TAB id TAB json-or-minus`), closed by `# TAB count TAB
    crc32`: replay applies a batch only whole, so a torn append loses that flush alone."""
    lines = []
    for (table, doc_id), doc in batch.items():
        if doc is None:
            payload = b"-"
        elif type(doc) is bytes:
            payload = doc
        else:
            payload = orjson.dumps(doc)
        lines.append(b"%b\t%d\t%b\n" % (table.encode(), doc_id, payload))
    body = b"".join(lines)
    return body + b"#\t%d\t%d\n" % (len(lines), zlib.crc32(body))


def replay(path: Path, tables: Live, since: Batch | None = None) -> int:
    """Apply the whole batches of a journal file to `tables` (and record them in `since`).

    Returns:
        The offset just past the last whole batch (a torn tail starts there).
    """
    good = 0
    offset = 0
    pending: list[bytes] = []
    crc = 0
    with path.open("rb") as handle:
        for line in handle:
            offset += len(line)
            if not line.endswith(b"\n"):
                break
            if line.startswith(b"#\t"):
                parts = line.split(b"\t")
                if len(parts) != 3 or parts[1] != b"%d" % len(pending) or parts[2] != b"%d\n" % crc:
                    break
                if not _apply(pending, tables, since):
                    break
                good = offset
                pending, crc = [], 0
                continue
            pending.append(line)
            crc = zlib.crc32(line, crc)
    return good


def _apply(lines: list[bytes], tables: Live, since: Batch | None) -> bool:
    """Apply one batch's lines; False (nothing applied) when one of them is not understood."""
    changes = []
    for line in lines:
        parts = line[:-1].split(b"\t", 2)
        if len(parts) != 3 or not parts[1].isdigit():
            return False
        name = parts[0].decode("ascii", "replace")
        if name not in TABLES:
            return False
        payload = parts[2]
        doc: Any = None
        if payload != b"-":
            doc = payload if name in _ITEM_KINDS else _loads_dict(payload)
            if doc is None or (name not in _ITEM_KINDS and type(doc) is not dict):
                return False
        changes.append((name, int(parts[1]), doc))
    for name, doc_id, doc in changes:
        table = tables.setdefault(name, {})
        if doc is None:
            table.pop(doc_id, None)
        else:
            table[doc_id] = doc
        if since is not None:
            since[name, doc_id] = doc
    return True


_MERGE_BLOCK = 1 << 20
_lstrip_comma = methodcaller("lstrip", b",")


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
    by_table: dict[str, dict[int, Any]] = {kind: {} for kind in ITEM_KINDS}
    for count, ((table, doc_id), doc) in enumerate(changes.items()):
        if table in _ITEM_KINDS:
            by_table[table][doc_id] = doc
        if count % 50_000 == 0:
            time.sleep(0)  # let the event loop's thread have the GIL now
    crc = zlib.crc32(b"{\n")
    docs = 0
    yield b"{\n"
    done: set[str] = set()
    name: str | None = None
    changed: dict[int, Any] | None = None
    piece, sep = b"", b""
    with old.open("rb") as handle:
        if handle.readline() != b"{\n":
            raise OSError(f"{old} is not a snapshot this civittui wrote")
        finished = False
        for lines in _line_blocks(handle):
            if finished:
                break
            at, count = 0, len(lines)
            while at < count:
                if name is None:
                    header = lines[at]
                    at += 1
                    if header.startswith(b'"checksum":'):
                        finished = True
                        break
                    if not (header.startswith(b'"') and header.endswith(b'":{')):
                        raise OSError(f"{old} is not a snapshot this civittui wrote")
                    name = header[1:-3].decode("ascii", "replace")
                    changed = by_table.get(name)
                    piece, sep = (header + b"\n" if changed is not None else b""), b""
                    continue
                try:
                    end = lines.index(b"},", at)
                except ValueError:
                    end = count
                if changed is not None and end > at:
                    kept = _merge_docs(lines[at:end], changed)
                    docs += len(kept)
                    if kept:
                        piece += sep + b"\n,".join(kept)
                        sep = b"\n,"
                    crc = zlib.crc32(piece, crc)
                    yield piece
                    piece = b""
                    time.sleep(0)  # let the event loop's thread have the GIL now
                if end < count:  # the table ends here
                    if changed is not None:
                        done.add(name)
                        new = [b'"%d":%b' % (i, d) for i, d in changed.items() if d is not None]
                        for start in range(0, len(new), chunk_docs):
                            part = new[start : start + chunk_docs]
                            docs += len(part)
                            piece += sep + b"\n,".join(part)
                            sep = b"\n,"
                            crc = zlib.crc32(piece, crc)
                            yield piece
                            piece = b""
                        piece += b"\n},\n" if sep else b"},\n"
                        crc = zlib.crc32(piece, crc)
                        yield piece
                        piece = b""
                        by_table[name] = {}
                    name = None
                at = end + 1
    rest: Live = {k: {i: d for i, d in t.items() if d is not None} for k, t in by_table.items()}
    tail = {k: v for k, v in rest.items() if k not in done} | small
    for piece in snapshot_chunks(tail, journal, chunk_docs, start=(crc, docs)):
        yield piece


def _journal_number(path: Path, leftover: Path) -> int | None:
    suffix = leftover.name[len(path.name) + len(".journal.") :]
    return int(suffix) if suffix.isascii() and suffix.isdigit() else None


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
            data, first = _load_full(path)
            live = _to_live(data) if data is not None else None
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
            number = _journal_number(self.path, leftover)
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
            atomic_write(self.path, chunks)
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
