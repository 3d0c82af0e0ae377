"""Where the state lives on disk: one JSON file in TinyDB's format, replaced atomically.

TinyDB's own `JSONStorage` rewrites the file in place and truncates after, so a `kill -9`
mid-write leaves half a file. `AtomicJSONStorage` keeps the tables in memory and writes a snapshot
to a temporary file in the same folder, fsyncs it, `os.replace`s it over `state.json` and fsyncs
the folder: whoever reads the file sees the previous snapshot or the next one, never a mix.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import tempfile
import time
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from tinydb.storages import Storage

from civittui.errors import StateError
from civittui.state.records import (
    ITEM_KINDS,
    dir_doc_problem,
    item_doc_problem,
    target_doc_problem,
)

__all__ = [
    "FORMAT",
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
    """Read and check a state file.

    Args:
        path: the state file.

    Returns:
        The tables as TinyDB stores them (`{table: {doc_id: document}}`), or None when there is
        no file yet.

    Raises:
        StateError: the file cannot be read, is not JSON, is not civittui state, or holds
            documents of the wrong shape; the message offers the way out.
    """
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
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
    return data


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
        Where it went: `state.json.corrupt-YYYYmmddTHHMMSS` beside it (`-2`, `-3`... if taken).

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


class AtomicJSONStorage(Storage):
    """A TinyDB storage held in memory and written to disk only by `persist`.

    TinyDB reads and writes the table dict through `read`/`write` on every operation; keeping it
    in memory makes those free, and `persist` (called about once a second, and on close) writes
    a snapshot atomically.

    Args:
        path: the state file; read now if it exists.
        tables: tables to create empty when the file lacks them.

    Raises:
        StateError: the file is unreadable or not valid civittui state.
    """

    def __init__(self, path: Path, tables: Iterable[str] = TABLES) -> None:
        super().__init__()
        self.path = path
        loaded = load_state(path)
        self.existed = loaded is not None
        self._data: Tables = loaded if loaded is not None else {}
        for name in tables:
            self._data.setdefault(name, {})

    def read(self) -> Tables:
        """The live tables (not a copy: TinyDB's reads cost nothing)."""
        return self._data

    def write(self, data: Tables) -> None:
        """Take TinyDB's new tables; they reach the disk on the next `persist`."""
        self._data = data

    def snapshot(self) -> Tables:
        """A copy of every table that later changes will not touch.

        Documents are never changed in place (a change stores a new dict), so copying each
        table's dict (~2.5 ms per 100k documents) is enough; the caller holds the store's lock.
        """
        return {name: dict(docs) for name, docs in self._data.items()}

    def persist(self, snapshot: Tables) -> None:
        """Serialize a snapshot and write it atomically.

        Raises:
            StateError: the file cannot be written (disk full, permissions); the previous file
                stays intact.
        """
        try:
            atomic_write(self.path, serialize(snapshot))
        except OSError as err:
            raise StateError(
                f"cannot write state file {self.path} ({err.strerror or err}); "
                "free some space or fix permissions, then run again: "
                "progress since the last save is re-verified from disk"
            ) from None
