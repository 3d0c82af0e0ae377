"""The target queue: URLs in the order they will be crawled, with their counts."""

from __future__ import annotations

from typing import Any

from civittui.redact import Redactor
from civittui.state.records import (
    TARGET_COUNTS,
    TargetRecord,
    scrub_spec,
    target_record,
    utc_now,
)
from civittui.state.tables import Doc, Writes

_BYTES = ("bytes_found", "bytes_done")

__all__ = ["TargetQueue"]

_FIELDS = frozenset({"status", "error", "name", "choices", *TARGET_COUNTS, *_BYTES})
_TABLE = "targets"
_redact = Redactor(())


def _checked_fields(fields: dict[str, Any]) -> dict[str, Any]:
    """`fields` as `upsert_target` stores them: choices scrubbed of secrets, the error redacted.

    Raises:
        TypeError: an unknown field, or a value of the wrong type.
    """
    unknown = set(fields) - _FIELDS
    if unknown:
        raise TypeError(f"upsert_target: unknown field(s) {', '.join(sorted(unknown))}")
    for name in (*TARGET_COUNTS, *_BYTES):
        if name in fields and (type(fields[name]) is not int or fields[name] < 0):
            raise TypeError(f"upsert_target: {name} must be a count, not {fields[name]!r}")
    if "status" in fields and not isinstance(fields["status"], str):
        raise TypeError(f"upsert_target: status must be text, not {fields['status']!r}")
    if fields.get("name") is not None and not isinstance(fields["name"], str):
        raise TypeError(f"upsert_target: name must be text, not {fields['name']!r}")
    if "choices" in fields and not isinstance(fields["choices"], dict | None):
        raise TypeError(f"upsert_target: choices must be an object, not {fields['choices']!r}")
    if fields.get("choices") is not None:
        fields = {**fields, "choices": scrub_spec(fields["choices"], "target choices")}
    if fields.get("error") is not None:
        fields = {**fields, "error": _redact(str(fields["error"]))}
    return fields


def _merged(base: Doc, fields: dict[str, Any], url: str, now: str) -> Doc:
    doc = {**base, **fields, "url": url, "updated": now}
    if not doc.get("choices"):
        doc.pop("choices", None)  # everything: nothing to keep (older states have none)
    return doc


class TargetQueue:
    """Targets in table `targets`, ordered by their `position` field.

    Not locked itself: `Store` calls it under its lock.
    """

    def __init__(self, writes: Writes) -> None:
        self._writes = writes
        self._table = writes.table(_TABLE)
        self._ids: dict[str, int] = {doc["key"]: int(i) for i, doc in self._table.raw().items()}
        # The next free document id, kept rather than computed: `max()` per insert made
        # queueing 100k URLs quadratic (80 s before the first request).
        self._next_id = max(self._ids.values(), default=0) + 1

    def upsert(self, key: str, url: str, fields: dict[str, Any]) -> Doc:
        """Add a target at the end, or update the one with this key (see `Store.upsert_target`);
        returns the stored document.

        Raises:
            TypeError: an unknown field, or a value of the wrong type.
        """
        fields = _checked_fields(fields)
        now = utc_now()
        doc_id = self._ids.get(key)
        base: Doc | None = None if doc_id is None else self._table.doc(doc_id)
        if doc_id is None or base is None:
            doc_id, base = self._fresh(key, url, now)
        doc = _merged(base, fields, url, now)
        self._writes.put(_TABLE, doc_id, doc)
        return doc

    def add(self, entries: list[tuple[str, str, dict[str, Any]]]) -> None:
        """Queue (key, url, fields) targets at the end in order, as `upsert` would, in one write
        for those not queued yet."""
        now = utc_now()
        new: dict[int, Doc] = {}
        for key, url, fields in entries:
            if key in self._ids:
                self.upsert(key, url, fields)
                continue
            doc_id, base = self._fresh(key, url, now)
            new[doc_id] = _merged(base, _checked_fields(fields) if fields else fields, url, now)
        self._writes.put_many(_TABLE, new)

    def _fresh(self, key: str, url: str, now: str) -> tuple[int, Doc]:
        """A new target's document id and defaults, at the end of the queue."""
        doc_id = self._next_id
        self._next_id += 1
        self._ids[key] = doc_id
        base = {
            "key": key,
            "url": url,
            "status": "queued",
            "position": len(self._ids) - 1,
            **dict.fromkeys(TARGET_COUNTS, 0),
            "error": None,
            "added": now,
        }
        return doc_id, base

    def all(self) -> list[TargetRecord]:
        """Every target, in queue order."""
        records = [target_record(doc) for doc in self._table.raw().values()]
        return sorted(records, key=lambda rec: rec.position)

    def remove(self, key: str) -> None:
        """Take a target out (its items stay); no-op if unknown."""
        doc_id = self._ids.pop(key, None)
        if doc_id is not None:
            self._writes.drop(_TABLE, doc_id)
            self._renumber([rec.key for rec in self.all()])

    def move(self, key: str, delta: int) -> None:
        """Move a target `delta` places, clamped to the queue; no-op if unknown."""
        order = [rec.key for rec in self.all()]
        if key not in order:
            return
        old = order.index(key)
        new = min(max(old + delta, 0), len(order) - 1)
        order.insert(new, order.pop(old))
        self._renumber(order)

    def _renumber(self, order: list[str]) -> None:
        for position, key in enumerate(order):
            doc_id = self._ids[key]
            doc = self._table.doc(doc_id)
            if doc is not None and doc["position"] != position:
                self._writes.put(_TABLE, doc_id, {**doc, "position": position})
