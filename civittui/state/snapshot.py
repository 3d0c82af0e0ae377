"""The state's snapshot: TinyDB's JSON, one document a line, closed by a `checksum` table.

`snapshot_chunks` writes it in pieces; `read_snapshot` loads a file that matches its checksum
line by line, without building a dict per item; `load_full` parses any other file (older
civittui, edited by hand) whole and checks it document by document (see `civittui.state.storage`).
"""

from __future__ import annotations

import itertools
import os
import re
import zlib
from collections.abc import Iterator
from operator import itemgetter, methodcaller
from pathlib import Path
from typing import Any, BinaryIO

import orjson

from civittui.errors import StateError
from civittui.state.records import (
    ITEM_KINDS,
    dir_doc_problem,
    encode_item,
    item_doc_problem,
    target_doc_problem,
)

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


_CHECKSUM = "checksum"
_CHECKSUM_LINE = re.compile(rb'"checksum":\{"1":\{"crc":(\d+),"docs":(\d+),"journal":(\d+)\}\}\n')
_ITEM_KINDS = frozenset(ITEM_KINDS)

WAY_OUT = (
    "move it aside with `civittui status --reset-state` or rename it, then run again: "
    "files already on disk are re-verified, nothing is downloaded twice"
)


CHUNK_DOCS = 5_000
"""Documents encoded per orjson call on flush (~2-5 ms each: the longest the loop waits)."""


def _corrupt(path: Path, detail: str) -> StateError:
    return StateError(f"state file {path} is corrupt ({detail}); {WAY_OUT}")


def load_full(path: Path) -> tuple[Tables | None, int]:
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
    raw = _read_whole(path)
    if raw is None:
        return None, 0
    data = _parse(path, raw)
    # written by `snapshot_chunks`: it says which journals follow, nothing about the documents
    journal = _first_journal(data.pop(_CHECKSUM, None))
    _check_tables(path, data)
    return data, journal


def _read_whole(path: Path) -> bytes | None:
    """The file's bytes, or None when there is no file yet."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as err:
        raise StateError(
            f"cannot read state file {path} ({err.strerror or err}); "
            f"fix its permissions or {WAY_OUT}"
        ) from None


def _parse(path: Path, raw: bytes) -> dict[str, Any]:
    """The file's top-level object."""
    if not raw.strip():
        raise _corrupt(path, "the file is empty")
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as err:
        raise _corrupt(path, str(err)) from None
    if not isinstance(data, dict):
        raise _not_ours(path, "the top level is not an object")
    return data


def _first_journal(check: Any) -> int:
    """The first journal a `checksum` table says the snapshot does not hold (0: it does not say)."""
    if isinstance(check, dict) and isinstance(check.get("1"), dict):
        number = check["1"].get("journal")
        return number if type(number) is int and number >= 0 else 0
    return 0


def _check_tables(path: Path, data: dict[str, Any]) -> None:
    """Raise when the tables are not civittui's, of a newer format, or of the wrong shape."""
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


BLOCK = 1 << 24
"""Bytes of a snapshot read per C-level split when it is loaded."""
_split_id = methodcaller("split", b'":', 1)
_id_text = itemgetter(0)
_doc_text = itemgetter(1)
_unquote = methodcaller("lstrip", b',"')


def read_snapshot(path: Path, block: int = BLOCK) -> tuple[Live, int, int] | None:
    """Load a snapshot written by `snapshot_chunks`, `block` bytes at a time with C-level
    splits (a line-by-line loop costs ~1.5 us a document: 1.5 s at a million).

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
        found = _checksum_line(handle, size)
        if found is None:
            return None
        check, body = found
        handle.seek(0)
        if handle.read(2) != b"{\n":
            return None
        reader = _Sections()
        crc = _read_body(handle, body - 2, reader, block)
    if crc is None or reader.table is not None:
        return None
    if crc != int(check[1]) or reader.docs != int(check[2]) or not _meta_ok(reader.tables):
        return None
    return reader.tables, int(check[3]), size


def _checksum_line(handle: BinaryIO, size: int) -> tuple[re.Match[bytes], int] | None:
    """The snapshot's checksum line and the number of bytes before it; None without one."""
    handle.seek(max(0, size - 256))
    tail = handle.read()
    at = tail.rfind(b'\n"checksum":')
    check = _CHECKSUM_LINE.fullmatch(tail[at + 1 : -1]) if at >= 0 else None
    if check is None or not tail.endswith(b"\n}"):
        return None
    return check, size - len(tail) + at + 1


def _read_body(handle: BinaryIO, remaining: int, reader: _Sections, block: int) -> int | None:
    """Feed the next `remaining` bytes to `reader` in whole lines; the CRC-32 of the snapshot
    up to them, or None when they are missing or not what `snapshot_chunks` writes."""
    crc = zlib.crc32(b"{\n")
    carry = b""
    while remaining > 0:
        chunk = handle.read(min(block, remaining))
        if not chunk:
            return None
        remaining -= len(chunk)
        crc = zlib.crc32(chunk, crc)
        text = carry + chunk
        cut = text.rfind(b"\n") + 1 if remaining else len(text)
        carry = text[cut:]
        if not reader.feed(text[:cut] if cut < len(text) else text):
            return None
    return None if carry else crc


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
            docs = list(map(loads_dict, docs))
            if any(type(doc) is not dict for doc in docs):
                return False
        self.table.update(zip(ids, docs, strict=True))
        self.docs += len(docs)
        return True


def loads_dict(raw: bytes) -> Any:
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


def to_live(data: Tables) -> Live:
    """Tables parsed whole (and checked) into the in-memory form."""
    live: Live = {}
    for name, table in data.items():
        if name in _ITEM_KINDS:
            live[name] = {int(i): encode_item(doc) for i, doc in table.items()}
        else:
            live[name] = {int(i): doc for i, doc in table.items()}
    return live
