"""Where a crawl's images go, and what it says about those it cannot place.

`CrawlStats` collects what a crawl saw besides its items; `PostVersions` asks tRPC `post.get` for
the posts no listing placed (once per post and run), see `attribution` for the rules.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from civittui.choices import latest_version
from civittui.civitai.client import CivitaiClient
from civittui.engine.attribution import Gallery
from civittui.engine.payloads import image_id_of, same_user

__all__ = [
    "CrawlStats",
    "PostVersions",
    "belongs",
    "chosen_versions",
    "note_mode",
    "showcase_ids",
    "unplaceable",
]

Json = dict[str, Any]


@dataclass(slots=True)
class CrawlStats:
    """What a crawl saw besides its items."""

    dropped: int = 0
    """Items the server listed that provably belong to another user."""
    notes: list[str] = field(default_factory=list)
    unplaced: int = 0
    """Items of the target's user the engine could not place: gaps, the target fails."""
    unplaced_reasons: list[str] = field(default_factory=list)

    def unplaced_error(self) -> str | None:
        """The target's failure reason when some items could not be placed."""
        if not self.unplaced:
            return None
        return f"{self.unplaced} image(s) could not be placed: " + "; ".join(
            dict.fromkeys(self.unplaced_reasons)
        )


def belongs(image: Json, username: str, stats: CrawlStats) -> bool:
    """False for an item that provably belongs to another user (counted as dropped).

    An item without `username` is kept: the server's own `username=` filter chose it.
    """
    named = image.get("username")
    if named is None or same_user(named, username):
        return True
    stats.dropped += 1
    return False


def unplaceable(image: Json, stats: CrawlStats) -> bool:
    """True (and counted as a gap) for an image without a post id or an id."""
    if isinstance(image.get("postId"), int) and isinstance(image.get("id"), int):
        return False
    stats.unplaced += 1
    stats.unplaced_reasons.append(f"image {image.get('id')!r} came without a post id")
    return True


def note_mode(model: Json, stats: CrawlStats) -> None:
    """Say when a model's files can no longer be downloaded (archived, taken down)."""
    mode = model.get("mode")
    if mode == "Archived":
        stats.notes.append(
            f"model {model.get('id')} '{model.get('name')}' is archived on CivitAI: "
            "its files can no longer be downloaded (metadata and images still are)"
        )
    elif mode == "TakenDown":
        stats.notes.append(f"model {model.get('id')} '{model.get('name')}' was taken down")


def chosen_versions(model: Json, *, latest: bool) -> list[Json]:
    """The model's versions a target keeps (`latest`: the newest published only)."""
    versions = [
        v
        for v in model.get("modelVersions") or []
        if isinstance(v, dict) and isinstance(v.get("id"), int)
    ]
    if latest:
        newest = latest_version(versions)
        return [newest] if newest is not None else []
    return versions


def showcase_ids(versions: list[Json]) -> dict[int, int]:
    """Showcase image id -> version id (showcase images are the creator's posts on it)."""
    showcase: dict[int, int] = {}
    for version in versions:
        for image in version.get("images") or []:
            image_id = image_id_of(image) if isinstance(image, dict) else None
            if image_id is not None:
                showcase[image_id] = version["id"]
    return showcase


class PostVersions:
    """The version each post was posted to, from tRPC `post.get`, asked once per run."""

    def __init__(self, client: CivitaiClient) -> None:
        self._client = client
        self._versions: dict[int, int | None] = {}

    async def version(self, post_id: int) -> tuple[bool, int | None]:
        """(known, version) of a post from tRPC `post.get`, asked once per run."""
        if post_id not in self._versions:
            post = await self._client.post(post_id)
            if post is None:
                return False, None
            version = post.get("modelVersionId")
            self._versions[post_id] = version if isinstance(version, int) else None
        return True, self._versions[post_id]

    async def resolve(
        self, gallery: Gallery, username: str, stats: CrawlStats
    ) -> AsyncIterator[tuple[int, Json]]:
        """Place the posts no listing could, one `post.get` each; the rest become gaps."""
        lost_posts = 0
        for post_id in gallery.undecided():
            known, version = await self.version(post_id)
            if not known:
                stats.unplaced += gallery.give_up(post_id)
                lost_posts += 1
                continue
            for pair in gallery.decide(post_id, version):
                yield pair
        if lost_posts:
            stats.unplaced_reasons.append(
                f"{lost_posts} post(s) of {username}: CivitAI did not say which version they "
                "were posted to (post.get failed), so their images could not be placed"
            )
        if gallery.elsewhere:
            stats.notes.append(
                f"{gallery.elsewhere} image(s) of {username} listed here were posted to another "
                "model or to none (their generation data names this one)"
            )
