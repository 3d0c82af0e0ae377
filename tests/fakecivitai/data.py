"""The fake CivitAI's data: creators, models, versions, files, posts, images (editable)."""

from __future__ import annotations

import hashlib
import itertools
import re
import uuid as uuidlib
import zlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from .media import CONTENT_TYPES, media_bytes, safetensors_bytes
from .prompts import make_meta

if TYPE_CHECKING:
    from .cdn import FakeCdn

NSFW_LEVELS = (1, 2, 4, 8, 16)
MODEL_LIKE_TYPES = ("Model", "Pruned Model", "Diffusion Model", "UNet")
# Some images also list the (someone else's) checkpoint they were made with; not in the world.
FOREIGN_CHECKPOINT_VERSION_ID = 128713
_BASE83 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz#$%*+,-.:;=?@[]^_{|}~"


def iso(dt: datetime) -> str:
    """CivitAI's JSON timestamp form: ``2024-08-30T15:38:14.770Z``."""
    dt = dt.astimezone(UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def _blurhash(seed: int) -> str:
    digest = hashlib.sha256(str(seed).encode()).digest()
    return "U" + "".join(_BASE83[b % 83] for b in digest[:35])


def _uuid(seed: int) -> str:
    digest = hashlib.md5(f"image-{seed}".encode(), usedforsecurity=False).digest()
    return str(uuidlib.UUID(bytes=digest, version=4))


def file_hashes(data: bytes) -> dict[str, str]:
    """The ``hashes`` object CivitAI reports for a file's bytes (uppercase hex)."""
    sha = hashlib.sha256(data).hexdigest().upper()
    hashes = {
        "AutoV1": hashlib.sha256(data[0x100000:0x110000]).hexdigest()[:8].upper(),
        "AutoV2": sha[:10],
        "SHA256": sha,
        "CRC32": f"{zlib.crc32(data) & 0xFFFFFFFF:08X}",
    }
    if data[:8] and len(data) > 8:
        header_len = int.from_bytes(data[:8], "little")
        if 8 + header_len <= len(data) and data[8:9] == b"{":
            hashes["AutoV3"] = hashlib.sha256(data[8 + header_len :]).hexdigest().upper()
    return hashes


@dataclass(eq=False)
class Creator:
    """A CivitAI user who publishes models and posts."""

    id: int
    username: str
    image: str | None = None


@dataclass(eq=False)
class FileEntry:
    """One file of a model version, stored on the files CDN under ``key``."""

    id: int
    name: str
    key: str
    size: int
    sha256: str  # what the API reports (lowercase hex); equals content_sha256 unless wrong-hash
    content_sha256: str
    hashes: dict[str, str]
    type: str = "Model"
    metadata: dict[str, Any] = field(default_factory=dict)
    primary: bool = False
    visibility: str = "Public"
    override_name: str | None = None
    scanned_at: datetime | None = None

    @property
    def size_kb(self) -> float:
        """``sizeKB`` as the API reports it (bytes / 1024)."""
        return self.size / 1024


@dataclass(eq=False)
class Version:
    """A model version; ``index`` 0 is the newest."""

    id: int
    model_id: int
    name: str
    index: int
    base_model: str
    published_at: datetime
    created_at: datetime
    status: str = "Published"
    nsfw_level: int = 1
    trained_words: list[str] = field(default_factory=list)
    description: str | None = None
    early_access_deadline: datetime | None = None
    require_auth: bool = False
    files: list[FileEntry] = field(default_factory=list)
    stats: dict[str, int] = field(default_factory=dict)
    base_model_type: str = "Standard"


@dataclass(eq=False)
class Model:
    """A model and its versions (in ``index`` order)."""

    id: int
    name: str
    type: str
    creator: Creator
    description: str | None = None
    nsfw_level: int = 1
    mode: str | None = None  # None | "Archived" | "TakenDown"
    tags: list[str] = field(default_factory=list)
    versions: list[Version] = field(default_factory=list)
    poi: bool = False
    minor: bool = False
    stats: dict[str, Any] = field(default_factory=dict)
    published_at: datetime | None = None

    @property
    def nsfw(self) -> bool:
        """The model's ``nsfw`` flag: any content above PG-13."""
        return bool(self.nsfw_level & ~3)


@dataclass(eq=False)
class Image:
    """An image (or video) of a post, stored on the images CDN under ``uuid``."""

    id: int
    uuid: str
    post_id: int
    username: str
    type: str  # "image" | "video"
    content_type: str
    width: int
    height: int
    nsfw_level: int
    meta: dict[str, Any] | None
    created_at: datetime
    model_version_ids: list[int]
    """The resources *detected* in the generation data, never the version the post is on:
    CivitAI's search index stores `modelVersionIds: modelVersionIdsAuto`
    (src/server/search-index/metrics-images.search-index.ts in civitai/civitai)."""
    base_model: str | None
    hash: str
    stats: dict[str, int] = field(default_factory=dict)
    index: int = 0
    version_ids_key: bool = True
    """False: the `/images` item has no `modelVersionIds` key (as in many 2024-25 captures)."""
    username_shown: bool = True
    """False: the `/images` item has no `username` (as some real items do)."""


@dataclass(eq=False)
class Post:
    """A post: a titled set of images, attached to a model version or not."""

    id: int
    user: Creator
    model_version_id: int | None
    title: str | None
    published_at: datetime
    detail: str | None = None
    images: list[Image] = field(default_factory=list)
    tags: list[dict[str, Any]] = field(default_factory=list)
    availability: str = "Public"

    @property
    def nsfw_level(self) -> int:
        """Bitwise OR of the images' levels."""
        level = 0
        for image in self.images:
            level |= image.nsfw_level
        return level


def _default_file_name(model: Model, version: Version, file_type: str, ext: str) -> str:
    def clean(text: str) -> str:
        return re.sub(r"[^A-Za-z0-9]+", "_", text).strip("_") or "model"

    if file_type == "Training Data":
        return f"{clean(model.name)}_{clean(version.name)}_trainingData.zip"
    if model.type in ("LORA", "LoCon", "DoRA"):
        return f"{clean(model.name).lower()}_{clean(version.name).lower()}.{ext}"
    return f"{clean(model.name)}_{clean(version.name)}.{ext}"


class World:
    """All data the fake API serves. Tests may edit it or add to it with the builders."""

    def __init__(self, files_cdn: FakeCdn, images_cdn: FakeCdn, now: datetime | None = None):
        self.files_cdn = files_cdn
        self.images_cdn = images_cdn
        self.now = now or datetime(2026, 11, 20, 12, 0, 0, tzinfo=UTC)
        self.creators: dict[str, Creator] = {}
        self.models: dict[int, Model] = {}
        self.versions: dict[int, Version] = {}
        self.files: dict[int, FileEntry] = {}
        self.posts: dict[int, Post] = {}
        self.images: dict[int, Image] = {}
        self._user_ids = itertools.count(100)
        self._model_ids = itertools.count(1000)
        self._version_ids = itertools.count(2000)
        self._file_ids = itertools.count(3000)
        self._post_ids = itertools.count(4000)
        self._image_ids = itertools.count(10000)
        self._clock = self.now - timedelta(days=400)

    @classmethod
    def default(cls, files_cdn: FakeCdn, images_cdn: FakeCdn) -> World:
        """The standard world (alice, bob, carol); see :func:`make_default_world`."""
        return make_default_world(files_cdn, images_cdn)

    # -- lookups --------------------------------------------------------------------------
    def creator(self, username: str) -> Creator | None:
        """The creator whose name matches ``username`` case-insensitively."""
        return self.creators.get(username.lower())

    def model_of(self, version: Version) -> Model:
        """The model a version belongs to."""
        return self.models[version.model_id]

    def models_of(self, creator: Creator) -> list[Model]:
        """The creator's models, by id."""
        return [m for m in self.models.values() if m.creator is creator]

    def posts_of(self, creator: Creator) -> list[Post]:
        """The creator's posts, by id."""
        return [p for p in self.posts.values() if p.user is creator]

    def creator_images_of_version(self, version: Version) -> list[Image]:
        """Images of the creator's own posts on ``version`` (post order, then image order)."""
        model = self.model_of(version)
        out: list[Image] = []
        for post in self.posts.values():
            if post.model_version_id == version.id and post.user is model.creator:
                out.extend(post.images)
        return out

    def posted_to(self, image: Image) -> int | None:
        """The version the image's post is attached to (never returned on an image)."""
        post = self.posts.get(image.post_id)
        return post.model_version_id if post is not None else None

    def delete_image(self, image: Image) -> None:
        """Remove an image from the API and its bytes from the CDN (404 from then on)."""
        self.images.pop(image.id, None)
        post = self.posts.get(image.post_id)
        if post is not None and image in post.images:
            post.images.remove(image)
        self.images_cdn.remove(image.uuid)

    def delete_model(self, model: Model) -> None:
        """Remove a model, its versions and their files (as if deleted on CivitAI)."""
        self.models.pop(model.id, None)
        for version in model.versions:
            self.versions.pop(version.id, None)
            for file in version.files:
                self.files.pop(file.id, None)

    def _tick(self, hours: float = 7.0) -> datetime:
        self._clock += timedelta(hours=hours, milliseconds=137)
        return self._clock

    # -- builders -------------------------------------------------------------------------
    def add_creator(self, username: str, image: str | None = None) -> Creator:
        """Create a creator (usernames are ASCII ``[A-Za-z0-9_]``, as CivitAI's)."""
        creator = Creator(next(self._user_ids), username, image)
        self.creators[username.lower()] = creator
        return creator

    def add_model(
        self,
        creator: Creator,
        name: str,
        type: str = "LORA",  # noqa: A002 - the API's field name
        *,
        versions: int | list[str] = 1,
        files: int = 1,
        nsfw_level: int = 1,
        base_model: str = "SD 1.5",
        mode: str | None = None,
        file_size: int | None = None,
        tags: list[str] | None = None,
        description: str | None = "<p>Made for the fake CivitAI.</p>",
    ) -> Model:
        """Create a model with ``versions`` versions (oldest first), each with ``files`` files."""
        model_id = next(self._model_ids)
        model = Model(
            id=model_id,
            name=name,
            type=type,
            creator=creator,
            description=description,
            nsfw_level=nsfw_level,
            mode=mode,
            tags=tags if tags is not None else ["character", "clothing"],
            stats={
                "downloadCount": 100 + model_id * 37 % 5000,
                "thumbsUpCount": 10 + model_id * 13 % 700,
                "thumbsDownCount": model_id % 3,
                "commentCount": model_id % 17,
                "tippedAmountCount": model_id * 7 % 300,
            },
        )
        self.models[model_id] = model
        names = versions if isinstance(versions, list) else [f"v{i + 1}.0" for i in range(versions)]
        for version_name in names:
            self.add_version(
                model,
                version_name,
                files=files,
                base_model=base_model,
                nsfw_level=nsfw_level,
                file_size=file_size,
            )
        return model

    def add_version(
        self,
        model: Model,
        name: str,
        *,
        files: int = 1,
        base_model: str = "SD 1.5",
        nsfw_level: int | None = None,
        trained_words: list[str] | None = None,
        early_access_deadline: datetime | None = None,
        require_auth: bool = False,
        file_size: int | None = None,
        status: str = "Published",
    ) -> Version:
        """Add a new newest version (index 0) to ``model`` with ``files`` files."""
        published = self._tick()
        version_id = next(self._version_ids)
        version = Version(
            id=version_id,
            model_id=model.id,
            name=name,
            index=0,
            base_model=base_model,
            published_at=published,
            created_at=published - timedelta(minutes=9, milliseconds=412),
            status=status,
            nsfw_level=nsfw_level if nsfw_level is not None else model.nsfw_level,
            trained_words=trained_words
            if trained_words is not None
            else [f"{re.sub(r'[^a-z]+', ' ', model.name.lower()).strip() or 'style'}"],
            early_access_deadline=early_access_deadline,
            require_auth=require_auth,
            stats={
                "downloadCount": 50 + version_id * 11 % 900,
                "thumbsUpCount": 5 + version_id * 3 % 120,
                "thumbsDownCount": 0,
            },
        )
        model.versions.insert(0, version)
        for i, v in enumerate(model.versions):
            v.index = i
        self.versions[version_id] = version
        if model.published_at is None:
            model.published_at = published
        for i in range(files):
            self.add_file(version, type="Model" if i == 0 else "Pruned Model", size=file_size)
        return version

    def add_file(
        self,
        version: Version,
        name: str | None = None,
        *,
        type: str = "Model",  # noqa: A002 - the API's field name
        size: int | None = None,
        content: bytes | None = None,
        content_type: str = "application/octet-stream",
        metadata: dict[str, Any] | None = None,
        primary: bool | None = None,
        wrong_hash: bool = False,
    ) -> FileEntry:
        """Add a file (valid safetensors unless ``content`` is given) and store it on the CDN.

        ``wrong_hash`` makes the API report a SHA-256 that does not match the bytes served.
        """
        model = self.model_of(version)
        file_id = next(self._file_ids)
        if content is None:
            size = size if size is not None else 20 * 1024 + file_id * 7919 % (280 * 1024)
            content = safetensors_bytes(size, seed=file_id)
        ext = "zip" if type == "Training Data" else "safetensors"
        if name is None:
            name = _default_file_name(model, version, type, ext)
        if metadata is None:
            metadata = (
                {"format": "Other"}
                if type == "Training Data"
                else {"format": "SafeTensor", "size": "pruned", "fp": "fp16"}
            )
        if primary is None:
            primary = type in MODEL_LIKE_TYPES and not any(f.primary for f in version.files)
        key = f"{model.creator.id}/{file_id}.{ext}"
        self.files_cdn.put_bytes(key, content, content_type)
        hashes = file_hashes(content)
        real = hashes["SHA256"].lower()
        if wrong_hash:
            bogus = hashlib.sha256(b"not the served bytes" + content[:64]).hexdigest().upper()
            hashes.update(SHA256=bogus, AutoV2=bogus[:10])
        entry = FileEntry(
            id=file_id,
            name=name,
            key=key,
            size=len(content),
            sha256=hashes["SHA256"].lower(),
            content_sha256=real,
            hashes=hashes,
            type=type,
            metadata=metadata,
            primary=primary,
            scanned_at=version.published_at - timedelta(minutes=5),
        )
        version.files.append(entry)
        self.files[file_id] = entry
        return entry

    def add_post(
        self,
        creator: Creator,
        version: Version | None = None,
        *,
        title: str | None = None,
        images: int = 0,
        kinds: list[str] | None = None,
        nsfw_levels: list[int] | None = None,
        with_meta: bool = True,
        detail: str | None = None,
        detected: list[int] | None = None,
    ) -> Post:
        """Create a post (attached to ``version`` or not) with ``images`` images."""
        post = Post(
            id=next(self._post_ids),
            user=creator,
            model_version_id=version.id if version is not None else None,
            title=title,
            published_at=self._tick(3),
            detail=detail,
            tags=[{"id": 5133, "name": "woman"}, {"id": 4, "name": "clothing"}],
        )
        self.posts[post.id] = post
        if images:
            self.add_images(
                post,
                images,
                kinds=kinds,
                nsfw_levels=nsfw_levels,
                with_meta=with_meta,
                detected=detected,
            )
        return post

    def add_images(
        self,
        post: Post,
        n: int,
        *,
        kinds: list[str] | None = None,
        nsfw_levels: list[int] | None = None,
        with_meta: bool = True,
        detected: list[int] | None = None,
    ) -> list[Image]:
        """Add ``n`` images to ``post``; ``kinds`` (png/jpeg/webp/mp4) and levels cycle.

        ``modelVersionIds`` are the resources detected in the meta: by default the post's version
        (its LoRA is in the prompt) and sometimes a foreign checkpoint; ``[]`` without meta and
        for videos, as on CivitAI. ``detected`` overrides that for images with meta.
        """
        kinds = kinds or ["png", "jpeg", "webp"]
        nsfw_levels = nsfw_levels or [1]
        version = self.versions.get(post.model_version_id) if post.model_version_id else None
        base_model = version.base_model if version else "SDXL 1.0"
        added: list[Image] = []
        for i in range(n):
            image_id = next(self._image_ids)
            kind = kinds[i % len(kinds)]
            width, height = [(832, 1216), (1024, 1024), (1216, 832), (512, 768)][image_id % 4]
            has_meta = with_meta and kind != "mp4"
            if detected is not None:
                version_ids = list(detected) if has_meta else []
            else:
                version_ids = [version.id] if version and has_meta else []
                if version_ids and image_id % 4 == 0:
                    version_ids.append(FOREIGN_CHECKPOINT_VERSION_ID)
            lora = next((v for v in version_ids if v in self.versions), None)
            meta = make_meta(image_id, width, height, lora) if has_meta else None
            image = Image(
                id=image_id,
                uuid=_uuid(image_id),
                post_id=post.id,
                username=post.user.username,
                type="video" if kind == "mp4" else "image",
                content_type=CONTENT_TYPES[kind],
                width=width,
                height=height,
                nsfw_level=nsfw_levels[i % len(nsfw_levels)],
                meta=meta,
                created_at=post.published_at + timedelta(seconds=len(post.images)),
                model_version_ids=version_ids,
                base_model=base_model,
                hash=_blurhash(image_id),
                stats={
                    "cryCount": image_id % 3,
                    "laughCount": image_id % 5,
                    "likeCount": image_id * 7 % 50,
                    "dislikeCount": 0,
                    "heartCount": image_id * 3 % 20,
                    "commentCount": image_id % 4,
                },
                index=len(post.images),
                # Many real captures have no `modelVersionIds` key at all.
                version_ids_key=image_id % 10 != 7,
            )
            self.images_cdn.put_bytes(image.uuid, media_bytes(kind, image_id), image.content_type)
            post.images.append(image)
            self.images[image_id] = image
            added.append(image)
        return added


LONG_NAME = ("아주 긴 이름 " * 30 + "long name ") * 2
LONG_NAME = LONG_NAME[:300]
HOSTILE_FILE_NAME = '../../../x/"evil"; name=..\\..\\escape.safetensors'


def make_default_world(files_cdn: FakeCdn, images_cdn: FakeCdn) -> World:
    """Build the standard world.

    - ``alice``: a LORA (2 versions), a LoCon (model file + training-data zip), a Checkpoint;
      hostile and Unicode names; six posts (one of 235 images); png/jpeg/webp and one video.
    - ``bob``: login-required, early-access, archived, wrong-hash versions; images at every
      NSFW level; a mature-only model.
    - ``carol``: no models, two posts not attached to any model.
    - ``dave``: no models, one post (2 images) on alice's newest LoRA version.
    """
    world = World(files_cdn, images_cdn)
    alice = world.add_creator("alice")
    lora = world.add_model(
        alice,
        "메이드 클래식/maid classic - v1.0",
        "LORA",
        versions=["v1.0", "v2.0 pony"],
        base_model="Pony",
        tags=["clothing", "maid"],
    )
    lora_v2, lora_v1 = lora.versions
    lora_v1.trained_words = ["maid, maid apron", "classic maid"]
    lora_v2.trained_words = []
    lora_v1.files[0].name = "maid_classic_v1.safetensors"
    lora_v2.files[0].name = "메이드_클래식_pony.safetensors"
    lora_v2.description = None
    locon = world.add_model(alice, "../../etc/passwd", "LoCon", files=1, base_model="SDXL 1.0")
    locon_v = locon.versions[0]
    world.add_file(
        locon_v,
        type="Training Data",
        content=_training_zip(locon_v.id),
        content_type="application/zip",
    )
    ckpt = world.add_model(alice, "CON", "Checkpoint", base_model="SD 1.5", files=0)
    ckpt_v = ckpt.versions[0]
    world.add_file(ckpt_v, HOSTILE_FILE_NAME, size=96 * 1024)

    world.add_post(
        alice,
        lora_v2,
        title="メイド クラシック/maid classic - v1.0 XL Showcase",
        images=4,
        kinds=["png", "jpeg", "webp", "mp4"],
    )
    world.add_post(alice, lora_v1, title=None, images=3, kinds=["jpeg"])
    world.add_post(alice, lora_v1, title="Showcase", images=235, kinds=["png", "jpeg", "webp"])
    world.add_post(alice, locon_v, title="Showcase", images=2, kinds=["webp", "png"])
    world.add_post(
        alice, ckpt_v, title='a:b*c?"<>|. ', images=5, kinds=["png"], nsfw_levels=[1, 1, 2]
    )
    world.add_post(alice, ckpt_v, title=LONG_NAME, images=2, kinds=["jpeg"], with_meta=False)

    bob = world.add_creator("bob")
    locked = world.add_model(bob, "Members Only", "LORA")
    locked.versions[0].require_auth = True
    world.add_post(bob, locked.versions[0], title="members", images=2)
    early = world.add_model(bob, "Early Bird", "LORA", versions=["v1 public", "v2 early"])
    early.versions[0].early_access_deadline = world.now + timedelta(days=3, hours=5)
    world.add_post(bob, early.versions[0], title="early", images=2)
    world.add_post(bob, early.versions[1], title="public", images=2)
    archived = world.add_model(bob, "Old Archive", "Checkpoint", mode="Archived")
    world.add_post(bob, archived.versions[0], title="archive", images=2)
    bad = world.add_model(bob, "Bad Hash", "LORA", files=0)
    world.add_file(bad.versions[0], "bad_hash.safetensors", wrong_hash=True)
    world.add_post(bob, bad.versions[0], title="bad", images=2)
    levels = world.add_model(bob, "Every Level", "LORA", nsfw_level=31)
    world.add_post(bob, levels.versions[0], title="levels", images=5, nsfw_levels=list(NSFW_LEVELS))
    spicy = world.add_model(bob, "Spicy", "LORA", nsfw_level=12)
    world.add_post(bob, spicy.versions[0], title="spicy", images=2, nsfw_levels=[4, 8])

    carol = world.add_creator("carol")
    world.add_post(carol, None, title="carol's sketches", images=3, kinds=["png", "webp"])
    world.add_post(carol, None, title=None, images=3, kinds=["jpeg"])

    _add_erin(world)

    # A fan's post on alice's newest LoRA version: in that version's gallery
    # (/images?modelVersionId=), never among alice's own images or showcase.
    dave = world.add_creator("dave")
    world.add_post(dave, lora_v2, title="fan art", images=2, kinds=["png"])
    return world


def _add_erin(world: World) -> None:
    """``erin``: what real galleries look like when images do not say where they were posted.

    - ``Dream Mix`` (Checkpoint, v7 and v8): each version ships a pruned and a full file under
      one name, the full one (typed download URL) listed before the primary pruned one, as
      DreamShaper does.
    - a v8 showcase post (25 images: 20 in the showcase), a v8 post without meta (empty
      ``modelVersionIds``, no ``username`` on the items), a v7 post whose images are videos;
    - ``Erin Style`` (LORA): a post whose images detect Dream Mix v8 (it was made with it);
    - a post attached to no model.
    """
    erin = world.add_creator("erin")
    mix = world.add_model(erin, "Dream Mix", "Checkpoint", versions=["v7", "v8"], files=0)
    v8, v7 = mix.versions
    for version in (v7, v8):
        world.add_file(
            version,
            "dreammix.safetensors",
            type="Model",
            primary=False,
            metadata={"format": "SafeTensor", "size": "full", "fp": "fp32"},
        )
        world.add_file(version, "dreammix.safetensors", type="Model", primary=True)
    world.add_post(erin, v8, title="v8 showcase", images=25)
    bare = world.add_post(erin, v8, title="v8 no meta", images=3, with_meta=False)
    for image in bare.images:
        image.username_shown = False
    world.add_post(erin, v7, title="v7 videos", images=2, kinds=["mp4"])
    style = world.add_model(erin, "Erin Style", "LORA", base_model="SD 1.5")
    world.add_post(erin, style.versions[0], title="made with dream mix", images=3, detected=[v8.id])
    world.add_post(erin, None, title="erin's doodles", images=2, kinds=["png"])


def _training_zip(seed: int) -> bytes:
    from .media import zip_bytes

    return zip_bytes(seed, ["img_001.png", "img_001.txt", "img_002.png", "img_002.txt"])


def make_big_creator(
    world: World,
    models: int = 40,
    versions: int = 3,
    images: int = 2000,
    username: str = "bigcreator",
    bare_posts: int = 0,
) -> Creator:
    """Add a creator with many small models and images (for crawl-cost benches).

    ``bare_posts`` more posts of two images without meta (no detected resources) go to the
    versions in turn, after each version's showcase post.
    """
    creator = world.add_creator(username)
    all_versions: list[Version] = []
    for m in range(models):
        model = world.add_model(
            creator, f"Big Model {m:03d}", "LORA", versions=versions, file_size=4096
        )
        all_versions.extend(model.versions)
    if not all_versions:
        return creator
    per_post, extra = divmod(images, len(all_versions))
    for i, version in enumerate(all_versions):
        count = per_post + (1 if i < extra else 0)
        world.add_post(creator, version, title=f"Post {i:04d}", images=count, kinds=["png"])
    for i in range(bare_posts):
        version = all_versions[i % len(all_versions)]
        world.add_post(
            creator, version, title=f"Bare {i:04d}", images=2, kinds=["png"], with_meta=False
        )
    return creator
