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
- post: the post's fields (title, version) + `/images?postId=`; creator images / single image:
  `/images?username=` or `?imageId=`, one folder per post title. A target's choices narrow each.

Nothing is trusted: an image from another user or another post than asked for is dropped and
counted (`CrawlStats.dropped`); an image that cannot be placed is a gap (`CrawlStats.unplaced`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

from civittui.choices import TargetChoices, pick_file
from civittui.civitai.client import CivitaiClient
from civittui.civitai.urls import Target, TargetKind
from civittui.config import Config
from civittui.engine.attribution import Gallery
from civittui.engine.items import FileItem, ImageItem, Item, MetaItem
from civittui.engine.payloads import (
    compact_model,
    compact_version,
    model_of_version,
    same_user,
    version_creator,
)
from civittui.engine.placing import (
    CrawlStats,
    PostVersions,
    belongs,
    chosen_versions,
    note_mode,
    showcase_ids,
    unplaceable,
)
from civittui.engine.plan import Planner
from civittui.errors import ApiError
from civittui.layout import Layout
from civittui.state import Store

__all__ = ["CrawlStats", "Crawler", "PageFilter"]

Json = dict[str, Any]
PageFilter = Callable[[AsyncIterator[list[Json]]], AsyncIterator[list[Json]]]
"""Sees an image listing's pages first (`sync`: only the new ones, up to the first known)."""


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
        self._posts = PostVersions(client)
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

    def _wanted_type(self, model: Json, target: Target) -> bool:
        types = [t.lower() for t in self._choices.types or self._config.model_types]
        types += [v.lower() for k, v in target.api_params if k == "types"]
        return not types or str(model.get("type", "")).lower() in types

    # -- creators -----------------------------------------------------------------------------

    async def _creator(self, target: Target, stats: CrawlStats) -> AsyncIterator[Item]:
        """Models listing, then one `/images?username=` listing placed by showcase; posts left
        over are placed by `post.get`, or, when they outnumber the versions, by per-version
        listings first (which also prove unlisted posts attached elsewhere)."""
        username = target.username or ""
        version_owner: dict[int, Json] = {}
        versions: list[Json] = []
        every: list[Json] = []  # the chosen versions and the others (`latest`)
        async for item in self._creator_models(target, stats, version_owner, (versions, every)):
            yield item
        if not version_owner:
            return
        # Showcases of the versions not chosen prove which images to leave out.
        showcase = showcase_ids([v for v in every if isinstance(v.get("id"), int)])
        gallery = Gallery(version_owner, {**showcase, **showcase_ids(versions)})
        async for version_id, image in self._creator_gallery(gallery, username, stats):
            folder = self._model_folder(username, version_owner[version_id])
            yield ImageItem(f"image:{image['id']}", target.key, image, folder)

    async def _creator_models(
        self,
        target: Target,
        stats: CrawlStats,
        version_owner: dict[int, Json],
        lists: tuple[list[Json], list[Json]],
    ) -> AsyncIterator[Item]:
        """The creator's models' items; fills `version_owner` (version id -> model) and
        `lists` (the chosen versions, every version) for the image placement that follows."""
        username = target.username or ""
        versions, every = lists
        types = [v for k, v in target.api_params if k == "types"] or list(
            self._choices.types or self._config.model_types
        )
        async for page in self._client.user_models(username, types=types, nsfw=self._choices.nsfw):
            for model in page:
                if not self._take_model(model, target, stats):
                    continue
                every += [v for v in model.get("modelVersions") or [] if isinstance(v, dict)]
                for version in chosen_versions(model, latest=self._choices.latest):
                    version_owner[version["id"]] = model
                    versions.append(version)
                    for item in self._version_items(target.key, username, model, version):
                        yield item

    def _take_model(self, model: Json, target: Target, stats: CrawlStats) -> bool:
        """Keep (and cache) a listed model of the creator's of a wanted type; count the rest."""
        creator = (model.get("creator") or {}).get("username")
        if not same_user(creator, target.username or "") or not self._wanted_type(model, target):
            stats.dropped += 1
            return False
        if isinstance(model.get("id"), int):
            self._models[model["id"]] = model
        note_mode(model, stats)
        return True

    async def _creator_gallery(
        self, gallery: Gallery, username: str, stats: CrawlStats
    ) -> AsyncIterator[tuple[int, Json]]:
        """(version, image) for every image of the creator placed on one of its versions."""
        async for page in self._images(username=username):
            for image in page:
                if belongs(image, username, stats) and not unplaceable(image, stats):
                    for pair in gallery.see(image):
                        yield pair
        wanted = gallery.wanted()
        if len(gallery.undecided()) > len(wanted):
            # Fewer calls than one post.get per post: every version's own listing.
            for version_id in wanted:
                async for page in self._images(modelVersionId=version_id, username=username):
                    for image in page:
                        if same_user(image.get("username") or username, username):
                            for pair in gallery.see(image, version_id):
                                yield pair
            gallery.unlisted_elsewhere()
        async for pair in self._posts.resolve(gallery, username, stats):
            yield pair

    async def _creator_images(self, target: Target, stats: CrawlStats) -> AsyncIterator[Item]:
        username = target.username or ""
        async for page in self._images(username=username):
            for image in page:
                if not belongs(image, username, stats) or unplaceable(image, stats):
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
        gallery = Gallery(version_ids, showcase_ids([v for v in versions if "id" in v]))
        for version_id in version_ids:
            async for page in self._images(modelVersionId=version_id, username=username):
                for image in page:
                    if not belongs(image, username, stats) or unplaceable(image, stats):
                        continue
                    for _, each in gallery.see(image, version_id):
                        yield ImageItem(f"image:{each['id']}", target, each, folder)
        async for _, each in self._posts.resolve(gallery, username, stats):
            yield ImageItem(f"image:{each['id']}", target, each, folder)

    async def _model_target(self, target: Target, stats: CrawlStats) -> AsyncIterator[Item]:
        assert target.id is not None
        model = await self._get_model(target.id)
        username = str((model.get("creator") or {}).get("username") or "")
        if self._choices.types and not self._wanted_type(model, target):
            chosen = ", ".join(self._choices.types)
            stats.notes.append(f"model {target.id} is a {model.get('type')}, not {chosen}: skipped")
            return
        note_mode(model, stats)
        version_ids: list[int] = []
        for version in chosen_versions(model, latest=self._choices.latest):
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
        found = await self._fetch_version(target, version_id)
        model_id = found.get("modelId", target.model_id)
        if not isinstance(model_id, int) or found.get("id") != version_id:
            stats.notes.append(f"version {version_id}: CivitAI did not say which model it is of")
            return
        placed = await self._model_and_version(found, model_id, version_id)
        if placed is None:
            stats.notes.append(
                f"version {version_id} is not a published version of model {model_id}"
            )
            return
        model, version, username = placed
        note_mode(model, stats)
        for item in self._version_items(target.key, username, model, version):
            yield item
        async for image_item in self._version_images(
            target.key, username, model, [version_id], stats
        ):
            yield image_item

    async def _fetch_version(self, target: Target, version_id: int) -> Json:
        try:
            return await self._client.model_version(version_id)
        except ApiError as exc:
            # A version without files answers 404 "Missing model file" here; `/models/{id}`
            # still lists it (with `files: []`) when the URL named the model.
            if exc.http_status != 404 or not isinstance(target.model_id, int):
                raise
            return {"id": version_id, "modelId": target.model_id}

    async def _model_and_version(
        self, found: Json, model_id: int, version_id: int
    ) -> tuple[Json, Json, str] | None:
        """(model, version, creator) for a fetched version; None when the model lacks it."""
        username = version_creator(found)
        if model_id not in self._models and username:
            return model_of_version(found, model_id, username), found, username
        model = await self._get_model(model_id)
        username = str((model.get("creator") or {}).get("username") or "")
        for version in model.get("modelVersions") or []:
            if isinstance(version, dict) and version.get("id") == version_id:
                return model, version, username
        return None

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
