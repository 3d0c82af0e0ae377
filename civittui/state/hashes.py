"""What the library knows by content: SHA256 -> a verified file on disk, and a hash cache.

- `ShaIndex`: every done `file:` item with a SHA256 (downloaded or adopted), so a file whose
  content is already in the library is linked, not downloaded again. Built from the `file` table
  on first use, then kept current by `change` (O(1) per lookup and per write).
- `HashCache`: (path, size, mtime_ns) -> SHA256 of files `adopt` hashed, so a second run hashes
  only what changed. Table `hashes` holds one document `{files: {path: [size, mtime_ns, sha]}}`
  changed in place (like `members`).

Not locked themselves: `Store` calls them under its lock.
"""

from __future__ import annotations

import orjson

from civittui.state.records import Doc, ItemStatus
from civittui.state.tables import Writes

__all__ = ["HashCache", "ShaIndex"]

_TABLE = "hashes"
_DOC = 1


def _sha_of(doc: Doc | None) -> str | None:
    if doc is None or doc.get("status") != ItemStatus.DONE or not doc.get("path"):
        return None
    sha = doc.get("sha256")
    return sha.lower() if isinstance(sha, str) and len(sha) == 64 else None


class ShaIndex:
    """SHA256 -> key of a done file item that has it."""

    def __init__(self, writes: Writes) -> None:
        self._writes = writes
        self._keys: dict[str, str] | None = None  # built on first use

    def _built(self) -> dict[str, str]:
        if self._keys is None:
            keys: dict[str, str] = {}
            for doc_id, raw in self._writes.table("file").raw().items():
                sha = _sha_of(orjson.loads(raw))  # item documents are kept as JSON bytes
                if sha is not None:
                    keys.setdefault(sha, f"file:{doc_id}")
            self._keys = keys
        return self._keys

    def change(self, key: str, old: Doc | None, new: Doc | None) -> None:
        """Keep the index current when a file item's document changes."""
        if self._keys is None or not key.startswith("file:"):
            return
        before, after = _sha_of(old), _sha_of(new)
        if before is not None and before != after and self._keys.get(before) == key:
            del self._keys[before]
        if after is not None:
            self._keys.setdefault(after, key)

    def key_for(self, sha256: str) -> str | None:
        """The key of a done file item with this content, or None."""
        return self._built().get(sha256.lower())


class HashCache:
    """(path, size, mtime_ns) -> SHA256."""

    def __init__(self, writes: Writes) -> None:
        self._writes = writes
        doc = writes.table(_TABLE).doc(_DOC)
        files = doc.get("files") if isinstance(doc, dict) else None
        self._doc: Doc = {"files": files if isinstance(files, dict) else {}}

    def get(self, path: str, size: int, mtime_ns: int) -> str | None:
        """The cached SHA256 when the file has not changed since it was hashed."""
        entry = self._doc["files"].get(path)
        if isinstance(entry, list) and len(entry) == 3 and entry[:2] == [size, mtime_ns]:
            sha = entry[2]
            return sha if isinstance(sha, str) else None
        return None

    def put(self, path: str, size: int, mtime_ns: int, sha256: str) -> None:
        """Remember a file's hash."""
        self._doc["files"][path] = [size, mtime_ns, sha256]
        self._writes.put(_TABLE, _DOC, self._doc)

    def prune(self, folders: tuple[str, ...], present: set[str]) -> int:
        """Forget files under `folders` (path prefixes ending in a separator) that are gone."""
        files = self._doc["files"]
        gone = [p for p in files if p.startswith(folders) and p not in present]
        for path in gone:
            del files[path]
        if gone:
            self._writes.put(_TABLE, _DOC, self._doc)
        return len(gone)
