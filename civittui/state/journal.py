"""The state's journal: the changes of each flush since the snapshot, appended as one batch
closed by its count and CRC-32; replay applies whole batches only, so a torn tail is ignored."""

from __future__ import annotations

import zlib
from pathlib import Path
from typing import Any

import orjson

from civittui.state.records import ITEM_KINDS
from civittui.state.snapshot import TABLES, Live, loads_dict

_ITEM_KINDS = frozenset(ITEM_KINDS)

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
            doc = payload if name in _ITEM_KINDS else loads_dict(payload)
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


def journal_number(path: Path, leftover: Path) -> int | None:
    suffix = leftover.name[len(path.name) + len(".journal.") :]
    return int(suffix) if suffix.isascii() and suffix.isdigit() else None
