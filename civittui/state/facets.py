"""The store's smaller tables: the queue's order, which targets list an item, cached file
hashes, settings, the API cool-down across restarts, and folder-name claims. `Store` inherits
these; the state they touch is its own."""

from __future__ import annotations

import threading
import time

import orjson

from civittui.state.claims import DirClaims
from civittui.state.hashes import HashCache
from civittui.state.members import Members
from civittui.state.queue import TargetQueue
from civittui.state.records import check_no_secrets, parse_key
from civittui.state.tables import Writes

__all__ = ["META_DOC", "SmallTables"]

_SETTINGS_DOC = 1  # table `settings` holds one document: {name: value}
META_DOC = 1  # table `civittui` holds one document: {format, cooldown_until}


class SmallTables:
    """Members, settings, cool-down and claims of a `Store` (see there)."""

    _lock: threading.RLock
    _writes: Writes
    _claims: DirClaims
    _members: Members
    _hash_cache: HashCache
    _queue: TargetQueue

    def remove_target(self, key: str) -> None:
        """Take a target out of the queue (its items stay); no-op if unknown."""
        with self._lock:
            self._queue.remove(key)
            self._members.drop(key)

    def move_target(self, key: str, delta: int) -> None:
        """Move a target `delta` places (negative: to the front), clamped; no-op if unknown."""
        with self._lock:
            self._queue.move(key, delta)

    def note_member(self, target: str, key: str) -> None:
        """Remember that item `key` belongs to `target` too, unless `target` recorded it."""
        kind, doc_id = parse_key(key)
        with self._lock:
            raw = self._writes.table(kind).doc(doc_id)  # item documents are kept as JSON bytes
            if raw is None or orjson.loads(raw).get("target") != target:
                self._members.add(target, key)

    def members(self, target: str) -> set[str]:
        """Keys of the items `target` listed that another target (or none yet) recorded."""
        with self._lock:
            return self._members.of(target)

    # -------------------------------------------------------------- cached file hashes

    def cached_hash(self, path: str, size: int, mtime_ns: int) -> str | None:
        """The SHA256 `remember_hash` kept for this file, if it has not changed since."""
        with self._lock:
            return self._hash_cache.get(path, size, mtime_ns)

    def remember_hash(self, path: str, size: int, mtime_ns: int, sha256: str) -> None:
        """Cache a file's SHA256 by (path, size, mtime_ns)."""
        with self._lock:
            self._hash_cache.put(path, size, mtime_ns, sha256)

    def prune_hashes(self, folders: tuple[str, ...], present: set[str]) -> int:
        """Forget cached hashes of files under `folders` (prefixes ending in a separator) that
        are not in `present` (deleted or renamed since); returns how many."""
        with self._lock:
            return self._hash_cache.prune(folders, present)

    # ------------------------------------------------------------------ settings, cool-down

    def get_setting(self, name: str, default: object = None) -> object:
        """A setting kept by `set_setting`, or `default`."""
        with self._lock:
            return (self._writes.table("settings").doc(_SETTINGS_DOC) or {}).get(name, default)

    def set_setting(self, name: str, value: object) -> None:
        """Keep a setting across runs; None forgets it.

        Raises:
            ValueError: the name looks like a secret (api_key, cookie, token, ...), the value
                carries one, or the value is not JSON.
        """
        check_no_secrets({name: value}, "setting")
        try:
            encoded = orjson.dumps(value)
        except TypeError as err:
            raise ValueError(f"setting {name!r}: not storable as JSON ({err})") from None
        value = orjson.loads(encoded)  # a private copy: see `_own_spec`
        with self._lock:
            doc = dict(self._writes.table("settings").doc(_SETTINGS_DOC) or {})
            if value is None:
                doc.pop(name, None)
            else:
                doc[name] = value
            self._writes.put("settings", _SETTINGS_DOC, doc)

    def cooldown_until(self) -> float | None:
        """Epoch seconds until which the API asked us to wait (429); None once it has passed."""
        with self._lock:
            until = (self._writes.table("civittui").doc(META_DOC) or {}).get("cooldown_until")
        if isinstance(until, int | float) and not isinstance(until, bool) and until > time.time():
            return float(until)
        return None

    def set_cooldown_until(self, epoch: float | None) -> None:
        """Remember an API cool-down across restarts (None clears it)."""
        with self._lock:
            meta = dict(self._writes.table("civittui").doc(META_DOC) or {})
            if epoch is None:
                meta.pop("cooldown_until", None)
            else:
                meta["cooldown_until"] = float(epoch)
            self._writes.put("civittui", META_DOC, meta)

    # ------------------------------------------------------------------------ folder claims

    def claimed(self, scope: str, owner: str) -> str | None:
        """The name `owner` already holds in `scope`, if any (see `claim_dir`)."""
        with self._lock:
            return self._claims.held(scope, owner)

    def claim_names(self, claims: list[tuple[str, str, str]]) -> bool:
        """Claim each `(scope, owner, name)` exactly as given, all or none.

        Returns:
            False (and nothing claimed) when a name is held by another owner (compared
            case-insensitively) or an owner already holds a different name in that scope.
        """
        with self._lock:
            return self._claims.claim_exact(claims)

    def claim_dir(self, scope: str, owner: str, wanted: str) -> str:
        """The folder name `owner` uses inside `scope`, deduplicated and stable across runs.

        The first owner of a name keeps it; a later, different owner of the same name (compared
        case-insensitively, as Windows and macOS do) gets `"{wanted} ({owner})"`. An owner that
        already holds a name always gets that name back, whatever it asks for.

        Args:
            scope: the folder the name lives in, e.g. `Posts` or `Users/alice`.
            owner: who wants it (a post id, a model id...).
            wanted: the name it would like.

        Returns:
            The name to use.
        """
        with self._lock:
            return self._claims.claim(scope, owner, wanted)
