"""Target -> items, through the API, spending as few calls as the API allows.

- creator: one paged `/models?username=` listing (versions and files come with it) plus one paged
  `/images?username=` listing; each image goes to the model its post is attached to. Posts are
  matched to versions by the version's showcase image ids and the images' `modelVersionIds`.
- model / version: `/models/{id}` (+ `/model-versions/{v}` to learn the model of a bare version
  id), then `/images?modelVersionId=&username=` per version.
- post: the post's fields (title, version) + `/images?postId=`.
- creator images / single image: `/images?username=` or `?imageId=`, one folder per post title.

Nothing is trusted: an image from another user, another post or another version than asked for is
dropped and counted (`CrawlStats.dropped`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from civittui.civitai.client import CivitaiClient
from civittui.civitai.urls import Target, TargetKind
from civittui.config import Config
from civittui.engine.items import FileItem, ImageItem, Item, MetaItem
from civittui.engine.plan import Planner
from civittui.layout import Layout
from civittui.store import Store

__all__ = ["CrawlStats", "Crawler"]

Json = dict[str, Any]

_PENDING_POSTS_CAP = 20_000  # images of not-yet-attributed posts kept in memory at most


@dataclass(slots=True)
class CrawlStats:
    """What a crawl saw besides its items."""

    dropped: int = 0
    """Items the server listed that do not belong to the target."""
    notes: list[str] = field(default_factory=list)


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

    def __init__(self, config: Config, client: CivitaiClient, store: Store, layout: Layout) -> None:
        self._config = config
        self._client = client
        self._store = store
        self._layout = layout
        self._plan = Planner(config, store, layout)
        self._models: dict[int, Json] = {}
        self._post_dirs: dict[int, str] = {}

    async def crawl(self, target: Target, stats: CrawlStats) -> AsyncIterator[Item]:
        """Yield every item of `target`.

        Raises:
            ApiError: the target itself cannot be crawled (unknown user, deleted model).
        """
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
            yield item

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
        names = self._file_names(folder, lora, version.get("files"))
        for file in version.get("files") or []:
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
        types = [t.lower() for t in self._config.model_types]
        types += [v.lower() for k, v in target.api_params if k == "types"]
        return not types or str(model.get("type", "")).lower() in types

    # -- creators -----------------------------------------------------------------------------

    async def _creator(self, target: Target, stats: CrawlStats) -> AsyncIterator[Item]:
        username = target.username or ""
        types = [v for k, v in target.api_params if k == "types"] or list(self._config.model_types)
        version_owner: dict[int, tuple[Json, Json]] = {}
        showcase: dict[int, int] = {}  # image id -> version id
        async for page in self._client.user_models(username, types=types):
            for model in page:
                creator = (model.get("creator") or {}).get("username")
                if not _same_user(creator, username) or not self._wanted_type(model, target):
                    stats.dropped += 1
                    continue
                if isinstance(model.get("id"), int):
                    self._models[model["id"]] = model
                self._note_mode(model, stats)
                for version in model.get("modelVersions") or []:
                    if not isinstance(version, dict) or not isinstance(version.get("id"), int):
                        continue
                    version_owner[version["id"]] = (model, version)
                    for image in version.get("images") or []:
                        image_id = _image_id(image) if isinstance(image, dict) else None
                        if image_id is not None:
                            showcase[image_id] = version["id"]
                    for item in self._version_items(target.key, username, model, version):
                        yield item
        if not version_owner:
            return
        post_version: dict[int, int] = {}
        pending: dict[int, list[Json]] = defaultdict(list)
        pending_count = 0
        async for page in self._client.images(username=username):
            for image in page:
                if not _same_user(image.get("username"), username):
                    stats.dropped += 1
                    continue
                post_id = image.get("postId")
                version_id = post_version.get(post_id) if isinstance(post_id, int) else None
                if version_id is None:
                    version_id = showcase.get(image.get("id"))  # type: ignore[arg-type]
                if version_id is None:
                    version_id = next(
                        (v for v in image.get("modelVersionIds") or [] if v in version_owner), None
                    )
                if version_id is None:
                    if isinstance(post_id, int) and pending_count < _PENDING_POSTS_CAP:
                        pending[post_id].append(image)
                        pending_count += 1
                    else:
                        stats.dropped += 1
                    continue
                if isinstance(post_id, int):
                    post_version[post_id] = version_id
                    waiting = pending.pop(post_id, [])
                    pending_count -= len(waiting)
                else:
                    waiting = []
                model, _ = version_owner[version_id]
                folder = self._model_folder(username, model)
                for each in [*waiting, image]:
                    yield ImageItem(f"image:{each['id']}", target.key, each, folder)
        unattached = sum(len(v) for v in pending.values())
        if unattached:
            stats.dropped += unattached
            stats.notes.append(
                f"{unattached} image(s) of {username} belong to posts not attached to any of "
                f"their models (get them with /user/{username}/images)"
            )

    async def _creator_images(self, target: Target, stats: CrawlStats) -> AsyncIterator[Item]:
        username = target.username or ""
        async for page in self._client.images(username=username):
            for image in page:
                if not _same_user(image.get("username"), username) or not isinstance(
                    image.get("postId"), int
                ):
                    stats.dropped += 1
                    continue
                folder = await self._post_folder(image["postId"])
                yield ImageItem(f"image:{image['id']}", target.key, image, folder)

    # -- models and versions ------------------------------------------------------------------

    async def _get_model(self, model_id: int) -> Json:
        if model_id not in self._models:
            self._models[model_id] = await self._client.model(model_id)
        return self._models[model_id]

    async def _version_images(
        self, target: str, username: str, model: Json, version_id: int, stats: CrawlStats
    ) -> AsyncIterator[Item]:
        folder = self._model_folder(username, model)
        async for page in self._client.images(modelVersionId=version_id, username=username):
            for image in page:
                if not _same_user(image.get("username"), username) or version_id not in (
                    image.get("modelVersionIds") or []
                ):
                    stats.dropped += 1
                    continue
                yield ImageItem(f"image:{image['id']}", target, image, folder)

    async def _model_target(self, target: Target, stats: CrawlStats) -> AsyncIterator[Item]:
        assert target.id is not None
        model = await self._get_model(target.id)
        username = str((model.get("creator") or {}).get("username") or "")
        self._note_mode(model, stats)
        for version in model.get("modelVersions") or []:
            if not isinstance(version, dict) or not isinstance(version.get("id"), int):
                continue
            for item in self._version_items(target.key, username, model, version):
                yield item
            async for image_item in self._version_images(
                target.key, username, model, version["id"], stats
            ):
                yield image_item

    async def _version_target(self, target: Target, stats: CrawlStats) -> AsyncIterator[Item]:
        version_id = target.version_id if target.version_id is not None else target.id
        assert version_id is not None
        model_id = target.model_id
        if not isinstance(model_id, int):
            found = await self._client.model_version(version_id)
            model_id = found.get("modelId")
        if not isinstance(model_id, int):
            return
        model = await self._get_model(model_id)
        username = str((model.get("creator") or {}).get("username") or "")
        for version in model.get("modelVersions") or []:
            if isinstance(version, dict) and version.get("id") == version_id:
                for item in self._version_items(target.key, username, model, version):
                    yield item
                async for image_item in self._version_images(
                    target.key, username, model, version_id, stats
                ):
                    yield image_item
                return
        stats.notes.append(f"version {version_id} is not a published version of model {model_id}")

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
        async for page in self._client.images(postId=target.id):
            for image in page:
                if image.get("postId") != target.id:
                    stats.dropped += 1
                    continue
                yield ImageItem(f"image:{image['id']}", target.key, image, folder)

    async def _image_target(self, target: Target, stats: CrawlStats) -> AsyncIterator[Item]:
        assert target.id is not None
        async for page in self._client.images(imageId=target.id):
            for image in page:
                if image.get("id") != target.id or not isinstance(image.get("postId"), int):
                    stats.dropped += 1
                    continue
                folder = await self._post_folder(image["postId"])
                yield ImageItem(f"image:{image['id']}", target.key, image, folder)
