"""The records the store hands out, and their shape inside the TinyDB documents.

An item document lives in the table named after its kind (`image`, `file`, `meta`) under the
CivitAI numeric id as its TinyDB `doc_id`; fields holding their default (None, False, 0) are left
out so a 100k-item state file stays small and quick to load.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import orjson

from civittui.redact import Redactor, has_secret_param

__all__ = [
    "ITEM_KINDS",
    "encode_item",
    "ItemRecord",
    "ItemStatus",
    "TargetRecord",
    "check_no_secrets",
    "is_target_failure",
    "items_failed",
    "scrub_spec",
    "parse_key",
    "utc_now",
]

ITEM_KINDS: tuple[str, ...] = ("image", "file", "meta")
"""Item kinds, each a TinyDB table keyed by the CivitAI id."""

Doc = dict[str, Any]


class ItemStatus(StrEnum):
    """Where an item stands."""

    DONE = "done"
    FAILED = "failed"
    PENDING = "pending"


@dataclass(frozen=True, slots=True)
class ItemRecord:
    """One item (image, model file, metadata) as the store knows it."""

    key: str
    """`kind:id`, e.g. `image:123`; the id is the CivitAI numeric id."""
    kind: str
    id: int
    status: ItemStatus
    target: str | None
    """Key of the target that owns it (`user:alice`, `post:5`)."""
    name: str
    """What a person calls it (the file name)."""
    path: str | None
    """Where the file is on disk."""
    size: int | None
    sha256: str | None
    error: str | None
    """Why the last attempt failed, in words a person understands."""
    http_status: int | None
    permanent: bool
    """Retrying cannot help (deleted, archived)."""
    attempts: int
    """Failed attempts so far."""
    first_seen: str
    """ISO-8601 UTC."""
    updated: str
    """ISO-8601 UTC."""
    retry_at: str | None
    """ISO-8601: early-access end or cool-down end; None = retry any time."""
    spec: dict[str, Any] | None
    """Opaque JSON the engine needs to redo the item; dropped once the item is done."""


@dataclass(frozen=True, slots=True)
class TargetRecord:
    """One queued URL with its counts."""

    key: str
    """Stable target key, e.g. `user:alice`."""
    url: str
    status: str
    """A `TargetStatus` value (`queued`, `crawling`, ...)."""
    position: int
    """Place in the queue, from 0."""
    found: int
    done: int
    failed: int
    skipped: int
    error: str | None
    added: str
    updated: str
    name: str | None = None
    """What a person calls it (creator or model name), once a crawl learned it."""
    bytes_found: int = 0
    """Known bytes of its items (declared file sizes, images once fetched)."""
    bytes_done: int = 0
    """Bytes of its items on disk."""
    choices: dict[str, Any] | None = None
    """Per-target choices as JSON (`TargetChoices.to_json`); None: everything."""


# Item document fields and their JSON types; `status` and `updated` are required (`first_seen`
# is left out while it equals `updated`).
ITEM_FIELDS: dict[str, type] = {
    "status": str,
    "target": str,
    "name": str,
    "path": str,
    "size": int,
    "sha256": str,
    "error": str,
    "http_status": int,
    "permanent": bool,
    "attempts": int,
    "first_seen": str,
    "updated": str,
    "retry_at": str,
    "spec": dict,
}
_STATUSES = frozenset(ItemStatus)

TARGET_COUNTS = ("found", "done", "failed", "skipped")
TARGET_FIELDS: dict[str, type | tuple[type, ...]] = {
    "key": str,
    "url": str,
    "status": str,
    "position": int,
    "found": int,
    "done": int,
    "failed": int,
    "skipped": int,
    "error": (str, type(None)),
    "added": str,
    "updated": str,
}
# Fields a target document may lack (states written before they existed).
TARGET_OPTIONAL: dict[str, type | tuple[type, ...]] = {
    "name": (str, type(None)),
    "bytes_found": int,
    "bytes_done": int,
}


_now_second = -1
_now_prefix = ""


def utc_now() -> str:
    """The current time as ISO-8601 UTC with milliseconds, e.g. `2026-11-25T18:55:11.123Z`.

    Sortable as text. The formatted second is cached: `strftime` costs more than the rest of a
    `mark_done`.
    """
    global _now_second, _now_prefix
    now = time.time()
    second = int(now)
    if second != _now_second:
        _now_prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        _now_second = second
    return f"{_now_prefix}.{int((now - second) * 1000):03d}Z"


def parse_key(key: str) -> tuple[str, int]:
    """Split an item key into its kind and CivitAI id.

    Args:
        key: `image:123`, `file:456` or `meta:789`.

    Returns:
        (kind, id).

    Raises:
        ValueError: the key is not of that form.
    """
    kind, sep, rest = key.partition(":")
    if sep and kind in ITEM_KINDS and rest.isascii() and rest.isdigit():
        return kind, int(rest)
    raise ValueError(f"not an item key: {key!r} (expected image:ID, file:ID or meta:ID)")


def item_doc_problem(doc: object) -> str | None:
    """Say what is wrong with an item document read from disk, or None when it is fine.

    Runs once per item at open (100k times): exact `type()` checks, which also keep a JSON
    `true` out of an int field, cost a third of `isinstance` pairs.
    """
    if type(doc) is not dict:
        return "an item is not an object"
    if doc.get("status") not in _STATUSES:
        return f"unknown item status {doc.get('status')!r}"
    for name, value in doc.items():
        if ITEM_FIELDS.get(name) is not type(value):
            if name not in ITEM_FIELDS:
                return f"unknown item field {name!r}"
            return f"item field {name!r} holds {value!r}"
    if "updated" not in doc:
        return "an item lacks its `updated` time"
    return None


def dir_doc_problem(doc: object) -> str | None:
    """Say what is wrong with a folder-claim document read from disk, or None when it is fine."""
    if not isinstance(doc, dict):
        return "a folder claim is not an object"
    for name in ("scope", "owner", "name"):
        if not isinstance(doc.get(name), str):
            return f"folder claim field {name!r} holds {doc.get(name)!r}"
    claimed = doc["name"]
    # A claimed name becomes one path component: an edited `../x` or `a/b` would lead out of
    # the mirror (the layout refuses such a path, but only once the run is under way).
    if claimed in ("", ".", "..") or any(c in claimed for c in "/\\\0"):
        return f"folder claim name {claimed!r} is not a plain folder or file name"
    return None


def target_doc_problem(doc: object) -> str | None:
    """Say what is wrong with a target document read from disk, or None when it is fine."""
    if not isinstance(doc, dict):
        return "a target is not an object"
    for name, kind in TARGET_FIELDS.items():
        value = doc.get(name)
        if not isinstance(value, kind) or (isinstance(value, bool) and kind is int):
            return f"target field {name!r} holds {value!r}"
    for name, kind in TARGET_OPTIONAL.items():
        if name in doc and (
            not isinstance(doc[name], kind) or isinstance(doc[name], bool) and kind is int
        ):
            return f"target field {name!r} holds {doc[name]!r}"
    if not isinstance(doc.get("choices", {}), dict):
        return f"target field 'choices' holds {doc['choices']!r}"
    return None


_STATUS = {status.value: status for status in ItemStatus}


def item_record(kind: str, doc_id: int, doc: Doc, *, copy: bool = True) -> ItemRecord:
    """Build the record for a stored item document (positional arguments: a frozen dataclass
    costs microseconds to build, keywords add to it); `copy=False` when `doc` was just decoded
    and is the caller's own."""
    get = doc.get
    return ItemRecord(
        f"{kind}:{doc_id}",
        kind,
        doc_id,
        _STATUS[doc["status"]],
        get("target"),
        get("name", ""),
        get("path"),
        get("size"),
        get("sha256"),
        get("error"),
        get("http_status"),
        get("permanent", False),
        get("attempts", 0),
        get("first_seen") or doc["updated"],
        doc["updated"],
        get("retry_at"),
        # a copy: the record is frozen, and the caller must not reach into the stored document
        None
        if (spec := get("spec")) is None
        else (orjson.loads(orjson.dumps(spec)) if copy else spec),
    )


def encode_item(doc: Doc) -> bytes:
    """An item document as the store holds it in memory: its compact JSON.

    Copied into a bytes object of its own size: orjson returns one that keeps a ~4 KB buffer,
    which held 4 KB per item (420 MB at 100k).
    """
    return memoryview(orjson.dumps(doc)).tobytes()


def compact(doc: Doc) -> Doc:
    """Drop fields that hold their default: None, `permanent` False, `attempts` 0, and
    `first_seen` while it equals `updated` (~12 % of a 100k-item file)."""
    same = doc.get("first_seen") == doc.get("updated")
    return {
        k: v
        for k, v in doc.items()
        if v is not None
        and not (k == "permanent" and v is False)
        and not (k == "attempts" and v == 0)
        and not (same and k == "first_seen")
    }


def items_failed(count: int) -> str:
    """A target's error when only some of its items failed (its crawl went through)."""
    return f"{count} item(s) failed"


def is_target_failure(record: TargetRecord) -> bool:
    """Did the target itself fail (user not found, model deleted, network gone)?"""
    return (
        record.status == "failed"
        and bool(record.error)
        and record.error != items_failed(record.failed)
    )


def target_record(doc: Doc) -> TargetRecord:
    """Build the record for a stored target document."""
    optional = {name: doc[name] for name in TARGET_OPTIONAL if name in doc}
    choices = doc.get("choices")
    return TargetRecord(
        **{name: doc[name] for name in TARGET_FIELDS},
        **optional,
        choices=orjson.loads(orjson.dumps(choices)) if choices else None,  # a private copy
    )


# Names a secret goes by; a setting named like one is refused.
_SECRET_NAME = re.compile(
    r"api[_-]?key|apikey|cookie|secret|token|passw(or)?d|authori[sz]ation", re.I
)
_BEARER = re.compile(r"^bearer\s", re.I)
# Keys that hold nothing but a secret. Specs carry the API's own JSON, whose generation data
# has keys like "Token merging ratio", so specs are held to exact names, not to `_SECRET_NAME`.
_SECRET_KEYS = frozenset(
    {"api_key", "apikey", "api-key", "cookie", "cookies", "authorization", "token"}
    | {"access_token", "password", "secret", "aria2_secret", "rpc_secret"}
)
_redact = Redactor(())  # static patterns: `?token=...`, `&key=...`


def check_no_secrets(value: object, where: str) -> None:
    """Refuse a setting that looks like an API key or cookie.

    Args:
        value: `{name: value}` of a setting (any JSON value).
        where: what is being stored, for the message.

    Raises:
        ValueError: a key is named like a secret, or a string carries one in a URL query.
    """
    if isinstance(value, str):
        # A secret riding in a URL query (`?token=...`) or a whole Authorization value.
        if has_secret_param(value) or _BEARER.match(value):
            raise ValueError(f"{where}: refusing to store a value that carries a secret")
    elif isinstance(value, dict):
        for name, inner in value.items():
            if _SECRET_NAME.search(str(name)):
                raise ValueError(f"{where}: refusing to store a secret ({name!r})")
            check_no_secrets(inner, where)
    elif isinstance(value, list | tuple):
        for inner in value:
            check_no_secrets(inner, where)


def scrub_spec(value: Any, where: str) -> Any:
    """A private JSON copy of an item spec with URL-borne secrets masked.

    The copy keeps later changes by the caller out of the state (and out of a flush running in
    another thread); masking `?token=...` rather than refusing keeps a failure recordable.

    Raises:
        ValueError: a key is a secret's name (`api_key`, `cookie`, ...), or a value is not JSON.
    """
    if isinstance(value, str):
        return _redact(value)
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, dict):
        copy: dict[str, Any] = {}
        for name, inner in value.items():
            if not isinstance(name, str):
                raise ValueError(f"{where}: not storable as JSON (key {name!r})")
            if name.casefold() in _SECRET_KEYS:
                raise ValueError(f"{where}: refusing to store a secret ({name!r})")
            copy[name] = scrub_spec(inner, where)
        return copy
    if isinstance(value, list | tuple):
        return [scrub_spec(inner, where) for inner in value]
    raise ValueError(f"{where}: not storable as JSON ({type(value).__name__})")
