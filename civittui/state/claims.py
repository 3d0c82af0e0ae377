"""Folder-name claims: two owners wanting the same folder name get different, stable names."""

from __future__ import annotations

from civittui.state.tables import Writes

__all__ = ["DirClaims"]

_TABLE = "dirs"


class DirClaims:
    """Claims in table `dirs` (`{scope, owner, name}`), indexed both ways.

    Not locked itself: `Store` calls it under its lock.
    """

    def __init__(self, writes: Writes) -> None:
        self._writes = writes
        self._table = writes.table(_TABLE)
        self._by_owner: dict[tuple[str, str], str] = {}
        self._by_name: dict[tuple[str, str], str] = {}
        for doc in self._table.raw().values():
            self._by_owner[doc["scope"], doc["owner"]] = doc["name"]
            self._by_name[doc["scope"], doc["name"].casefold()] = doc["owner"]

    def held(self, scope: str, owner: str) -> str | None:
        """The name `owner` holds in `scope`, if any."""
        return self._by_owner.get((scope, owner))

    def claim_exact(self, claims: list[tuple[str, str, str]]) -> bool:
        """Claim every `(scope, owner, name)` as given, or none: False when one of the names is
        held by another owner, or one of the owners already holds another name."""
        for scope, owner, name in claims:
            taken = self._by_name.get((scope, name.casefold()))
            held = self._by_owner.get((scope, owner))
            if (taken is not None and taken != owner) or (held is not None and held != name):
                return False
        for scope, owner, name in claims:
            if (scope, owner) not in self._by_owner:
                self._put(scope, owner, name)
        return True

    def _put(self, scope: str, owner: str, name: str) -> None:
        doc_id = len(self._by_owner) + 1
        while self._table.doc(doc_id) is not None:
            doc_id += 1
        self._writes.put(_TABLE, doc_id, {"scope": scope, "owner": owner, "name": name})
        self._by_owner[scope, owner] = name
        self._by_name[scope, name.casefold()] = owner

    def claim(self, scope: str, owner: str, wanted: str) -> str:
        """The name `owner` uses in `scope` (see `Store.claim_dir`)."""
        held = self._by_owner.get((scope, owner))
        if held is not None:
            return held
        name = wanted
        # Windows and macOS fold case: "Alice" and "alice" would be one folder there.
        taken = self._by_name.get((scope, name.casefold()))
        if taken is not None and taken != owner:
            name = f"{wanted} ({owner})"
            n = 2
            while (scope, name.casefold()) in self._by_name:
                name = f"{wanted} ({owner}) {n}"
                n += 1
        self._put(scope, owner, name)
        return name
