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
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

__all__ = ["Gallery"]

Json = dict[str, Any]


class Gallery:
    """Images grouped by post until each post's version is known.

    Args:
        wanted: the versions whose images belong to the target.
        showcase: image id -> version, from the versions' showcase images.
    """

    def __init__(self, wanted: Iterable[int], showcase: dict[int, int]) -> None:
        self._wanted_order = list(dict.fromkeys(wanted))
        self._wanted = set(self._wanted_order)
        self._showcase = showcase
        self._decided: dict[int, int | None] = {}
        self._pending: dict[int, list[Json]] = {}
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
        if version is not None:
            self._pending.setdefault(post_id, []).append(image)
            return self.decide(post_id, version)
        self._pending.setdefault(post_id, []).append(image)
        return []

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
        return self._place(version, self._pending.pop(post_id, []))

    def _place(self, version: int | None, images: list[Json]) -> list[tuple[int, Json]]:
        if version is None or version not in self._wanted:
            self.elsewhere += len(images)
            return []
        return [(version, image) for image in images]

    def wanted(self) -> list[int]:
        """The versions whose images belong to the target, in the order given."""
        return list(self._wanted_order)

    def undecided(self) -> list[int]:
        """Posts still waiting, in the order first seen."""
        return list(self._pending)

    def waiting(self) -> int:
        """Images still waiting."""
        return sum(len(v) for v in self._pending.values())

    def unlisted_elsewhere(self) -> None:
        """After every wanted version's listing: a waiting post none of them returned is
        provably attached to no wanted version (each listing has every image posted to it)."""
        for post_id in [p for p in self._pending if p not in self._listed]:
            self.decide(post_id, None)

    def give_up(self, post_id: int) -> int:
        """Forget a post whose version cannot be learnt; returns how many images it had."""
        return len(self._pending.pop(post_id, []))
