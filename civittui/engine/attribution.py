"""Which version each listed image was posted to, from the evidence the API gives.

CivitAI never returns the version an image was posted to. What it does give:

- a version's showcase images (`/models`, `/model-versions/{id}`) are images of the creator's
  posts on that version: certain;
- `/images?modelVersionId=V` returns images "posted to V, or with V among their resources"
  (`getAllImages` in src/server/services/image.service.ts, civitai/civitai), and an image's
  `modelVersionIds` lists only its *detected* resources (`modelVersionIds: modelVersionIdsAuto`
  in src/server/search-index/metrics-images.search-index.ts). So an image in V's listing whose
  `modelVersionIds` is a list without V was posted to V: certain;
- tRPC `post.get` gives a post's own `modelVersionId`: certain, one call per post.

All images of a post share its version, so one piece of evidence places the whole post. Posts
with none wait here until the crawler asks `post.get` (or proves them attached elsewhere).
Waiting images past `MEMORY_CAP` wait in a temporary file: a creator of 100k images must not
hold them all in memory while the listing runs.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterable, Iterator
from typing import IO, Any

import orjson

__all__ = ["MEMORY_CAP", "Gallery"]

Json = dict[str, Any]

MEMORY_CAP = 20_000
"""Waiting images kept in memory; later ones are spooled to a temporary file."""


class _Waiting:
    """Images grouped by post: the first `cap` in memory, the rest in a temporary file."""

    def __init__(self, cap: int) -> None:
        self._cap = cap
        self._posts: dict[int, list[Json | tuple[int, int]]] = {}
        self._in_memory = 0
        self._spool: IO[bytes] | None = None
        self.count = 0
        self.spooled = 0
        """Images that ever waited on disk (for tests and the curious)."""

    def add(self, post_id: int, image: Json) -> None:
        entry: Json | tuple[int, int]
        if self._in_memory < self._cap:
            entry = image
            self._in_memory += 1
        else:
            if self._spool is None:
                self._spool = tempfile.TemporaryFile(prefix="civittui-waiting-")
            data = orjson.dumps(image)
            offset = self._spool.seek(0, 2)
            self._spool.write(data)
            entry = (offset, len(data))
            self.spooled += 1
        self._posts.setdefault(post_id, []).append(entry)
        self.count += 1

    def pop(self, post_id: int) -> list[Json]:
        images: list[Json] = []
        for entry in self._posts.pop(post_id, []):
            if isinstance(entry, tuple):
                assert self._spool is not None
                self._spool.seek(entry[0])
                images.append(orjson.loads(self._spool.read(entry[1])))
            else:
                images.append(entry)
                self._in_memory -= 1
        self.count -= len(images)
        if not self._posts and self._spool is not None:
            self._spool.close()  # nothing waits any more: give the disk back
            self._spool = None
        return images

    def __contains__(self, post_id: int) -> bool:
        return post_id in self._posts

    def __iter__(self) -> Iterator[int]:
        return iter(self._posts)


class Gallery:
    """Images grouped by post until each post's version is known.

    Args:
        wanted: the versions whose images belong to the target.
        showcase: image id -> version, from the versions' showcase images.
    """

    def __init__(self, wanted: Iterable[int], showcase: dict[int, int]) -> None:
        self._wanted = set(wanted)
        self._showcase = showcase
        self._decided: dict[int, int | None] = {}
        self._pending = _Waiting(MEMORY_CAP)
        self._listed: set[int] = set()  # posts seen in a version listing
        self._seen: set[int] = set()
        self.elsewhere = 0
        """Images of posts attached to no wanted version (same user, another model or none)."""

    def see(self, image: Json, listed_for: int | None = None) -> list[tuple[int, Json]]:
        """Record one listed image (`listed_for`: the version listing that returned it).

        Returns:
            (version, image) pairs now known to belong to the target: this image and any of
            its post that were waiting. An image seen before is only new evidence.
        """
        post_id, image_id = image.get("postId"), image.get("id")
        if not isinstance(post_id, int) or not isinstance(image_id, int):
            return []
        if listed_for is not None:
            self._listed.add(post_id)
        version = self._evidence(image, listed_for)
        if image_id in self._seen:
            if version is not None and post_id in self._pending:
                return self.decide(post_id, version)
            return []
        self._seen.add(image_id)
        if post_id in self._decided:
            return self._place(self._decided[post_id], [image])
        self._pending.add(post_id, image)
        return self.decide(post_id, version) if version is not None else []

    def _evidence(self, image: Json, listed_for: int | None) -> int | None:
        shown = self._showcase.get(image["id"])
        if shown is not None:
            return shown
        detected = image.get("modelVersionIds")
        if listed_for is not None and isinstance(detected, list) and listed_for not in detected:
            return listed_for  # listed for V without V detected: posted to V
        return None

    def decide(self, post_id: int, version: int | None) -> list[tuple[int, Json]]:
        """Settle a post's version; returns its waiting images when they belong."""
        self._decided[post_id] = version
        return self._place(version, self._pending.pop(post_id))

    def _place(self, version: int | None, images: list[Json]) -> list[tuple[int, Json]]:
        if version is None or version not in self._wanted:
            self.elsewhere += len(images)
            return []
        return [(version, image) for image in images]

    def undecided(self) -> list[int]:
        """Posts still waiting, in the order first seen."""
        return list(self._pending)

    @property
    def spooled(self) -> int:
        """Images that had to wait on disk."""
        return self._pending.spooled

    def waiting(self) -> int:
        """Images still waiting."""
        return self._pending.count

    def unlisted_elsewhere(self) -> None:
        """After every wanted version's listing: a waiting post none of them returned is
        provably attached to no wanted version (each listing has every image posted to it)."""
        for post_id in [p for p in self._pending if p not in self._listed]:
            self.decide(post_id, None)

    def give_up(self, post_id: int) -> int:
        """Forget a post whose version cannot be learnt; returns how many images it had."""
        return len(self._pending.pop(post_id))
