"""Target -> items, through the API, spending as few calls as the API allows.

Images go to the version their post was posted to, which the API never returns on an image
(see `attribution`):
- creator: one paged `/models?username=` listing (versions and files come with it) plus one paged
  `/images?username=` listing, placed by showcase ids; the posts left over by one `post.get`
  each, or, when they outnumber the versions, by per-version listings first.
- model: `/models/{id}`, then `/images?modelVersionId=&username=` per version, placed by showcase
  and by "listed for V without V detected"; `post.get` for the rest.
- version: `/model-versions/{v}` (+ `/models/{id}` only when it lacks the creator), then the
  same as a model for that one version.
- post: the post's fields (title, version) + `/images?postId=`.
- creator images / single image: `/images?username=` or `?imageId=`, one folder per post title.

Nothing is trusted: an image from another user or another post than asked for is dropped and
counted (`CrawlStats.dropped`); an image that cannot be placed is a gap (`CrawlStats.unplaced`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from civittui.civitai.client import CivitaiClient
from civittui.civitai.urls import Target, TargetKind
from civittui.config import Config
from civittui.engine.attribution import Gallery
from civittui.engine.choices import TargetChoices, latest_version, pick_file
from civittui.engine.items import FileItem, ImageItem, Item, MetaItem
from civittui.engine.plan import Planner
from civittui.errors import ApiError
from civittui.layout import Layout
from civittui.store import Store

__all__ = ["CrawlStats", "Crawler"]

Json = dict[str, Any]
PageFilter = Callable[[AsyncIterator[list[Json]]], AsyncIterator[list[Json]]]
"""Sees an image listing's pages first (`sync`: only the new ones, up to the first known)."""


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


def _same_user(a: object, b: str) -> bool:
    return isinstance(a, str) and a.lower() == b.lower()


def compact_model(model: Json) -> Json:
    """The model's own fields, without its versions (which are crawled one by one)."""
    return {k: v for k, v in model.items() if k != "modelVersions"}


def compact_version(version: Json, model_id: object) -> Json:
    """What a file's post-processing needs of its version (WebUI card, preview)."""
    # The WebUI shows png/jpeg/webp/gif previews only: the first still image, not a video.
    images = [i for i in version.get("images") or [] if isinstance(i, dict)]
    first = next((i for i in images if i.get("type", "image") == "image"), None)
    return {
        "id": version.get("id"),
        "modelId": version.get("modelId", model_id),
        "name": version.get("name"),
        "baseModel": version.get("baseModel"),
        "trainedWords": version.get("trainedWords") or [],
        "description": version.get("description"),
        "publishedAt": version.get("publishedAt"),
        "preview": {"id": _image_id(first), "url": first.get("url")} if first else None,
    }


def _version_creator(version: Json) -> str:
    """The creator's name a `/model-versions/{id}` payload carries (newer payloads only)."""
    for holder in (version, version.get("model")):
        creator = holder.get("creator") if isinstance(holder, dict) else None
        name = creator.get("username") if isinstance(creator, dict) else None
        if isinstance(name, str) and name:
            return name
    return ""


def _model_of_version(version: Json, model_id: int, username: str) -> Json:
    """A model object built from a `/model-versions/{id}` payload's `model` part."""
    model = version.get("model")
    fields = dict(model) if isinstance(model, dict) else {}
    return {**fields, "id": model_id, "creator": {"username": username}}


def _image_id(image: Json | None) -> int | None:
    """An image's id; `/models/{id}` strips it, so fall back on the URL's file name."""
    if not image:
        return None
    value = image.get("id")
    if isinstance(value, int):
        return value
    url = image.get("url")
    if isinstance(url, str):
        stem = url.rsplit("/", 1)[-1].split(".", 1)[0]
        if stem.isdigit():
            return int(stem)
    return None


class Crawler:
    """Turns targets into items for one run (caches what it fetched so nothing is asked twice)."""

    def __init__(
        self,
        config: Config,
        client: CivitaiClient,
        store: Store,
        layout: Layout,
        *,
        image_pages: PageFilter | None = None,
    ) -> None:
        self._config = config
        self._image_pages = image_pages
        self._client = client
        self._store = store
        self._layout = layout
        self._plan = Planner(config, store, layout)
        self._models: dict[int, Json] = {}
        self._post_dirs: dict[int, str] = {}
        self._post_versions: dict[int, int | None] = {}
        self._choices = TargetChoices()

    async def crawl(
        self, target: Target, stats: CrawlStats, choices: TargetChoices | None = None
    ) -> AsyncIterator[Item]:
        """Yield every item of `target` (that its `choices` keep).

        Raises:
            ApiError: the target itself cannot be crawled (unknown user, deleted model).
        """
        self._choices = choices or TargetChoices()  # one crawl at a time: the current target's
        kind = target.kind
        if kind is TargetKind.CREATOR:
            gen = self._creator(target, stats)
        elif kind is TargetKind.MODEL:
            gen = self._model_target(target, stats)
        elif kind is TargetKind.VERSION:
            gen = self._version_target(target, stats)
        elif kind is TargetKind.POST:
            gen = self._post_target(target, stats)
        elif kind is TargetKind.CREATOR_IMAGES:
            gen = self._creator_images(target, stats)
        else:
            gen = self._image_target(target, stats)
        async for item in gen:
            # Offline `status` counts it for this target even when another one recorded it.
            self._store.note_member(target.key, item.key)
            yield item

    def _images(self, **filters: str | int) -> AsyncIterator[list[Json]]:
        """Image listing pages at the target's content level, through `image_pages` (sync)."""
        pages = self._client.images(nsfw=self._choices.nsfw, **filters)
        return pages if self._image_pages is None else self._image_pages(pages)

    # -- folders ------------------------------------------------------------------------------

    def _model_dir_name(self, username: str, model: Json) -> tuple[str, str]:
        return self._plan.model_dir_name(username, model)

    def _model_folder(self, username: str, model: Json) -> str:
        return self._plan.model_folder(username, model)

    def _file_names(
        self, folder: str, lora_folder: str | None, files: object
    ) -> dict[int, tuple[str, str | None]]:
        return self._plan.file_names(folder, lora_folder, files if isinstance(files, list) else [])

    def _lora_folder(self, username: str, model: Json) -> str | None:
        return self._plan.lora_folder(username, model)

    async def _post_folder(self, post_id: int, post: Json | None = None) -> str:
        if post_id in self._post_dirs:
            return self._post_dirs[post_id]
        if post is None:
            post = await self._client.post(post_id)
        name = self._plan.post_dir_name(post_id, post.get("title") if post else None)
        folder = str(self._layout.post_dir(name))
        self._post_dirs[post_id] = folder
        return folder

    # -- version -> items ---------------------------------------------------------------------

    def _version_items(
        self, target: str, username: str, model: Json, version: Json, *, folder: str | None = None
    ) -> list[Item]:
        """Meta + file items of one version (files into `folder`, default the model's folder)."""
        version_id = version.get("id")
        model_id = model.get("id")
        compact = compact_model(model)
        items: list[Item] = []
        if folder is None:
            items.append(MetaItem(f"meta:{version_id}", target, version, compact, username))
            folder = self._model_folder(username, model)
        lora = self._lora_folder(username, model)
        small_version = compact_version(version, model_id)
        files = version.get("files")
        if self._choices.picks_file and isinstance(files, list):
            picked = pick_file(files, self._choices)
            files = [picked] if picked is not None else []
        names = self._file_names(folder, lora, files)
        for file in files or []:
            if not isinstance(file, dict) or file.get("id") not in names:
                continue
            name, placed = names[file["id"]]
            items.append(
                FileItem(
                    key=f"file:{file['id']}",
                    target=target,
                    file=file,
                    version=small_version,
                    model={k: compact.get(k) for k in ("id", "name", "type", "description")},
                    username=username,
                    folder=folder,
                    lora_folder=placed,
                    dest_name=name,
                )
            )
        return items

    @staticmethod
    def _note_mode(model: Json, stats: CrawlStats) -> None:
        mode = model.get("mode")
        if mode == "Archived":
            stats.notes.append(
                f"model {model.get('id')} '{model.get('name')}' is archived on CivitAI: "
                "its files can no longer be downloaded (metadata and images still are)"
            )
        elif mode == "TakenDown":
            stats.notes.append(f"model {model.get('id')} '{model.get('name')}' was taken down")

    def _wanted_type(self, model: Json, target: Target) -> bool:
        types = [t.lower() for t in self._choices.types or self._config.model_types]
        types += [v.lower() for k, v in target.api_params if k == "types"]
        return not types or str(model.get("type", "")).lower() in types

    # -- attribution --------------------------------------------------------------------------

    def _belongs(self, image: Json, username: str, stats: CrawlStats) -> bool:
        """False for an item that provably belongs to another user (counted as dropped).

        An item without `username` is kept: the server's own `username=` filter chose it.
        """
        named = image.get("username")
        if named is None or _same_user(named, username):
            return True
        stats.dropped += 1
        return False

    async def _post_version(self, post_id: int) -> tuple[bool, int | None]:
        """(known, version) of a post from tRPC `post.get`, asked once per run."""
        if post_id not in self._post_versions:
            post = await self._client.post(post_id)
            if post is None:
                return False, None
            version = post.get("modelVersionId")
            self._post_versions[post_id] = version if isinstance(version, int) else None
        return True, self._post_versions[post_id]

    async def _resolve(
        self, gallery: Gallery, username: str, stats: CrawlStats
    ) -> AsyncIterator[tuple[int, Json]]:
        """Place the posts no listing could, one `post.get` each; the rest become gaps."""
        lost_posts = 0
        for post_id in gallery.undecided():
            known, version = await self._post_version(post_id)
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

    @staticmethod
    def _showcase(versions: list[Json]) -> dict[int, int]:
        """Showcase image id -> version id (showcase images are the creator's posts on it)."""
        showcase: dict[int, int] = {}
        for version in versions:
            for image in version.get("images") or []:
                image_id = _image_id(image) if isinstance(image, dict) else None
                if image_id is not None:
                    showcase[image_id] = version["id"]
        return showcase

    # -- creators -----------------------------------------------------------------------------

    async def _creator(self, target: Target, stats: CrawlStats) -> AsyncIterator[Item]:
        """Models listing, then one `/images?username=` listing placed by showcase; posts left
        over are placed by `post.get`, or, when they outnumber the versions, by per-version
        listings first (which also prove unlisted posts attached elsewhere)."""
        username = target.username or ""
        types = [v for k, v in target.api_params if k == "types"] or list(
            self._choices.types or self._config.model_types
        )
        version_owner: dict[int, Json] = {}
        versions: list[Json] = []
        every: list[Json] = []  # the chosen versions and the others (`latest`)
        async for page in self._client.user_models(username, types=types, nsfw=self._choices.nsfw):
            for model in page:
                creator = (model.get("creator") or {}).get("username")
                if not _same_user(creator, username) or not self._wanted_type(model, target):
                    stats.dropped += 1
                    continue
                if isinstance(model.get("id"), int):
                    self._models[model["id"]] = model
                self._note_mode(model, stats)
                every += [v for v in model.get("modelVersions") or [] if isinstance(v, dict)]
                for version in self._chosen_versions(model):
                    version_owner[version["id"]] = model
                    versions.append(version)
                    for item in self._version_items(target.key, username, model, version):
                        yield item
        if not version_owner:
            return
        # Showcases of the versions not chosen prove which images to leave out.
        showcase = self._showcase([v for v in every if isinstance(v.get("id"), int)])
        gallery = Gallery(version_owner, {**showcase, **self._showcase(versions)})

        def image_items(pairs: list[tuple[int, Json]]) -> list[Item]:
            return [
                ImageItem(
                    f"image:{image['id']}",
                    target.key,
                    image,
                    self._model_folder(username, version_owner[version_id]),
                )
                for version_id, image in pairs
            ]

        async for page in self._images(username=username):
            for image in page:
                if self._belongs(image, username, stats) and not self._unplaceable(image, stats):
                    for item in image_items(gallery.see(image)):
                        yield item
        if len(gallery.undecided()) > len(version_owner):
            # Fewer calls than one post.get per post: every version's own listing.
            for version_id in version_owner:
                async for page in self._images(modelVersionId=version_id, username=username):
                    for image in page:
                        if _same_user(image.get("username") or username, username):
                            for item in image_items(gallery.see(image, version_id)):
                                yield item
            gallery.unlisted_elsewhere()
        async for version_id, image in self._resolve(gallery, username, stats):
            for item in image_items([(version_id, image)]):
                yield item

    def _chosen_versions(self, model: Json) -> list[Json]:
        """The model's versions the target's choices keep (`latest`: the newest only)."""
        versions = [
            v
            for v in model.get("modelVersions") or []
            if isinstance(v, dict) and isinstance(v.get("id"), int)
        ]
        if self._choices.latest:
            newest = latest_version(versions)
            return [newest] if newest is not None else []
        return versions

    @staticmethod
    def _unplaceable(image: Json, stats: CrawlStats) -> bool:
        if isinstance(image.get("postId"), int) and isinstance(image.get("id"), int):
            return False
        stats.unplaced += 1
        stats.unplaced_reasons.append(f"image {image.get('id')!r} came without a post id")
        return True

    async def _creator_images(self, target: Target, stats: CrawlStats) -> AsyncIterator[Item]:
        username = target.username or ""
        async for page in self._images(username=username):
            for image in page:
                if not self._belongs(image, username, stats) or self._unplaceable(image, stats):
                    continue
                folder = await self._post_folder(image["postId"])
                yield ImageItem(f"image:{image['id']}", target.key, image, folder)

    # -- models and versions ------------------------------------------------------------------

    async def _get_model(self, model_id: int) -> Json:
        if model_id not in self._models:
            self._models[model_id] = await self._client.model(model_id)
        return self._models[model_id]

    async def _version_images(
        self,
        target: str,
        username: str,
        model: Json,
        version_ids: list[int],
        stats: CrawlStats,
    ) -> AsyncIterator[Item]:
        """The images posted to `version_ids`: each version's listing (posted to it or merely
        detecting it), placed by evidence, then `post.get` for posts no evidence placed."""
        folder = self._model_folder(username, model)
        versions = [v for v in model.get("modelVersions") or [] if isinstance(v, dict)]
        gallery = Gallery(version_ids, self._showcase([v for v in versions if "id" in v]))
        for version_id in version_ids:
            async for page in self._images(modelVersionId=version_id, username=username):
                for image in page:
                    if not self._belongs(image, username, stats) or self._unplaceable(image, stats):
                        continue
                    for _, each in gallery.see(image, version_id):
                        yield ImageItem(f"image:{each['id']}", target, each, folder)
        async for _, each in self._resolve(gallery, username, stats):
            yield ImageItem(f"image:{each['id']}", target, each, folder)

    async def _model_target(self, target: Target, stats: CrawlStats) -> AsyncIterator[Item]:
        assert target.id is not None
        model = await self._get_model(target.id)
        username = str((model.get("creator") or {}).get("username") or "")
        if self._choices.types and not self._wanted_type(model, target):
            stats.notes.append(
                f"model {target.id} is a {model.get('type')}, not one of the types chosen "
                f"({', '.join(self._choices.types)}): skipped"
            )
            return
        self._note_mode(model, stats)
        version_ids: list[int] = []
        for version in self._chosen_versions(model):
            version_ids.append(version["id"])
            for item in self._version_items(target.key, username, model, version):
                yield item
        async for image_item in self._version_images(
            target.key, username, model, version_ids, stats
        ):
            yield image_item

    async def _version_target(self, target: Target, stats: CrawlStats) -> AsyncIterator[Item]:
        """`/model-versions/{id}` carries files, showcase, model name and type (and the creator
        in newer payloads); `/models/{id}` is asked only for what it lacks."""
        version_id = target.version_id if target.version_id is not None else target.id
        assert version_id is not None
        try:
            found = await self._client.model_version(version_id)
        except ApiError as exc:
            # A version without files answers 404 "Missing model file" here; `/models/{id}`
            # still lists it (with `files: []`) when the URL named the model.
            if exc.http_status != 404 or not isinstance(target.model_id, int):
                raise
            found = {"id": version_id, "modelId": target.model_id}
        model_id = found.get("modelId", target.model_id)
        if not isinstance(model_id, int) or found.get("id") != version_id:
            stats.notes.append(f"version {version_id}: CivitAI did not say which model it is of")
            return
        username = _version_creator(found)
        if model_id in self._models or not username:
            model = await self._get_model(model_id)
            username = str((model.get("creator") or {}).get("username") or "")
            version = next(
                (
                    v
                    for v in model.get("modelVersions") or []
                    if isinstance(v, dict) and v.get("id") == version_id
                ),
                None,
            )
            if version is None:
                stats.notes.append(
                    f"version {version_id} is not a published version of model {model_id}"
                )
                return
        else:
            model, version = _model_of_version(found, model_id, username), found
        self._note_mode(model, stats)
        for item in self._version_items(target.key, username, model, version):
            yield item
        async for image_item in self._version_images(
            target.key, username, model, [version_id], stats
        ):
            yield image_item

    # -- posts and single images --------------------------------------------------------------

    async def _post_target(self, target: Target, stats: CrawlStats) -> AsyncIterator[Item]:
        assert target.id is not None
        post = await self._client.post(target.id)
        folder = await self._post_folder(target.id, post)
        version_id = post.get("modelVersionId") if post else None
        if isinstance(version_id, int):
            found = await self._client.model_version(version_id)
            model_id = found.get("modelId")
            if isinstance(model_id, int):
                model = await self._get_model(model_id)
                username = str((model.get("creator") or {}).get("username") or "")
                for version in model.get("modelVersions") or []:
                    if isinstance(version, dict) and version.get("id") == version_id:
                        for item in self._version_items(
                            target.key, username, model, version, folder=folder
                        ):
                            yield item
        async for page in self._images(postId=target.id):
            for image in page:
                if image.get("postId") != target.id:
                    stats.dropped += 1
                    continue
                yield ImageItem(f"image:{image['id']}", target.key, image, folder)

    async def _image_target(self, target: Target, stats: CrawlStats) -> AsyncIterator[Item]:
        assert target.id is not None
        async for page in self._images(imageId=target.id):
            for image in page:
                if image.get("id") != target.id or not isinstance(image.get("postId"), int):
                    stats.dropped += 1
                    continue
                folder = await self._post_folder(image["postId"])
                yield ImageItem(f"image:{image['id']}", target.key, image, folder)
