"""JSON shapes of the API's objects, per endpoint (see civitai-api.md §2-§7)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from .data import FileEntry, Image, Model, Post, Version, World, iso

LEVEL_NAMES = {1: "None", 2: "Soft", 4: "Mature", 8: "X", 16: "X", 32: "Blocked"}
_ECOSYSTEMS = {
    "SD 1.5": "sd1",
    "SDXL 1.0": "sdxl",
    "Pony": "pony",
    "Illustrious": "illustrious",
    "Flux.1 D": "flux1",
}
_AIR_TYPES = {"LORA": "lora", "LoCon": "lycoris", "DoRA": "lora", "Checkpoint": "checkpoint"}


def remove_empty(obj: dict[str, Any]) -> dict[str, Any]:
    """``removeEmpty``: drop keys whose value is None or an empty list."""
    return {k: v for k, v in obj.items() if v is not None and v != []}


# Real payloads name CivitAI's own API host in `downloadUrl`, not the host that was asked; the
# fake does the same, so a client must map it onto its API base (set to None to name the fake).
DOWNLOAD_HOST: str | None = "https://api.civitai.com"
# Newer `/model-versions/{id}` payloads name the creator; the select in
# src/server/selectors/modelVersion.selector.ts (getModelVersionApiSelect) of older ones does not.
VERSION_CREATOR = False


def download_url(api_base: str, version: Version, file: FileEntry | None = None) -> str:
    """``createModelFileDownloadUrl``: bare for the primary file, typed otherwise."""
    url = f"{DOWNLOAD_HOST or api_base}/api/download/models/{version.id}"
    if file is None or file.primary:
        return url
    params = {"type": file.type}
    for key in ("format", "size", "fp"):
        if file.metadata.get(key):
            params[key] = file.metadata[key]
    return f"{url}?{urlencode(params)}"


def image_cdn_url(world: World, image: Image, name: str) -> str:
    """An original-quality CDN URL whose cosmetic name ends in .jpeg (or .mp4 for video)."""
    ext = "mp4" if image.type == "video" else "jpeg"
    return world.images_cdn.image_url(image.uuid, f"{name}.{ext}")


def file_json(api_base: str, version: Version, file: FileEntry, *, explicit_primary: bool) -> dict:
    """A ``files[]`` entry; ``primary`` is true-or-absent unless ``explicit_primary``."""
    out: dict[str, Any] = {
        "id": file.id,
        "sizeKB": file.size_kb,
        "name": file.name,
        "type": file.type,
        "overrideName": file.override_name,
        "metadata": dict(file.metadata),
        "pickleScanResult": "Success",
        "pickleScanMessage": "No Pickle imports",
        "virusScanResult": "Success",
        "virusScanMessage": None,
        "scannedAt": iso(file.scanned_at) if file.scanned_at else None,
        "hashes": dict(file.hashes),
        "downloadUrl": download_url(api_base, version, file),
    }
    if explicit_primary:
        out["primary"] = file.primary
    elif file.primary:
        out["primary"] = True
    return out


def version_image_json(world: World, image: Image, *, with_id: bool, with_meta: bool) -> dict:
    """A version's showcase image (``/models`` with id, by-id endpoints without)."""
    out: dict[str, Any] = {}
    if with_id:
        out["id"] = image.id
    out.update(
        url=image_cdn_url(world, image, str(image.id)),
        nsfwLevel=image.nsfw_level,
        width=image.width,
        height=image.height,
        hash=image.hash,
        type=image.type,
        minor=False,
        poi=False,
        hasMeta=image.meta is not None,
        hasPositivePrompt=bool(image.meta and image.meta.get("prompt")),
        onSite=False,
        remixOfId=None,
    )
    if with_meta:
        out["metadata"] = {"hash": image.hash, "width": image.width, "height": image.height}
        out["meta"] = image.meta
        out["availability"] = "Public"
    return out


def _version_common(world: World, api_base: str, model: Model, version: Version) -> dict:
    return {
        "id": version.id,
        "index": version.index,
        "name": version.name,
        "baseModel": version.base_model,
        "baseModelType": version.base_model_type,
        "createdAt": iso(version.created_at),
        "publishedAt": iso(version.published_at),
        "status": version.status,
        "availability": "EarlyAccess" if _in_early_access(world, version) else "Public",
        "nsfwLevel": version.nsfw_level,
        "description": version.description,
        "trainedWords": list(version.trained_words),
        "vaeId": None,
        "earlyAccessDeadline": iso(version.early_access_deadline)
        if version.early_access_deadline
        else None,
        "paidAccess": None,
        "stats": dict(version.stats),
        "supportsGeneration": False,
    }


def _in_early_access(world: World, version: Version) -> bool:
    deadline = version.early_access_deadline
    return deadline is not None and world.now < deadline


def model_json(
    world: World,
    api_base: str,
    model: Model,
    versions: list[Version],
    *,
    list_shape: bool,
    image_filter: int | None,
    primary_only: bool = False,
) -> dict:
    """A model for ``/models`` (``list_shape``) or ``/models/{id}``.

    ``image_filter`` is the browsing level version images must match (None: unfiltered).
    """
    archived = model.mode == "Archived"
    out: dict[str, Any] = {
        "id": model.id,
        "name": model.name,
        "description": model.description,
        "allowNoCredit": True,
        "allowCommercialUse": ["Image", "RentCivit"],
        "allowDerivatives": True,
        "allowDifferentLicense": True,
        "type": model.type,
        "minor": model.minor,
        "sfwOnly": False,
        "poi": model.poi,
        "nsfw": model.nsfw,
        "nsfwLevel": model.nsfw_level,
        "availability": "Public",
        "cosmetic": None,
        "supportsGeneration": False,
        "userId": model.creator.id,
    }
    if model.mode is not None:
        out["mode"] = model.mode
    out["creator"] = {"username": model.creator.username, "image": model.creator.image}
    out["tags"] = list(model.tags)
    out["stats"] = dict(model.stats)
    shaped: list[dict[str, Any]] = []
    for version in versions:
        data = _version_common(world, api_base, model, version)
        if list_shape:
            del data["createdAt"], data["status"]
        files = [] if archived else [f for f in version.files if f.visibility == "Public"]
        if primary_only:
            files = [f for f in files if f.primary][:1]
        data["files"] = [file_json(api_base, version, f, explicit_primary=False) for f in files]
        images: list[Image] = []
        if model.mode != "TakenDown":
            images = [
                im
                for im in world.creator_images_of_version(version)
                if image_filter is None or im.nsfw_level & image_filter
            ][:20]
        data["images"] = [
            version_image_json(world, im, with_id=list_shape, with_meta=False) for im in images
        ]
        if not archived:
            data["downloadUrl"] = download_url(api_base, version)
        if not list_shape:
            for f in data["files"]:
                f["metadata"] = remove_empty(f["metadata"])
            data = remove_empty(data)
        shaped.append(data)
    out["modelVersions"] = shaped
    return out


def air(model: Model, version: Version) -> str:
    """``urn:air:<ecosystem>:<type>:civitai:<modelId>@<versionId>``."""
    eco = _ECOSYSTEMS.get(version.base_model, "other")
    kind = _AIR_TYPES.get(model.type, model.type.lower())
    return f"urn:air:{eco}:{kind}:civitai:{model.id}@{version.id}"


def model_version_json(world: World, api_base: str, version: Version) -> dict:
    """``/model-versions/{id}`` (§4.1): up to 10 images with meta and no ids."""
    model = world.model_of(version)
    archived = model.mode == "Archived"
    files = [] if archived else [f for f in version.files if f.visibility == "Public"]
    images = [] if model.mode == "TakenDown" else world.creator_images_of_version(version)[:10]
    out: dict[str, Any] = {
        "id": version.id,
        "modelId": model.id,
        "name": version.name,
        "nsfwLevel": version.nsfw_level,
        "createdAt": iso(version.created_at),
        "updatedAt": iso(version.published_at),
        "status": version.status,
        "publishedAt": iso(version.published_at),
        "trainedWords": list(version.trained_words),
        "trainingStatus": None,
        "trainingDetails": None,
        "baseModel": version.base_model,
        "baseModelType": version.base_model_type,
        "earlyAccessEndsAt": iso(version.early_access_deadline)
        if version.early_access_deadline
        else None,
        "description": version.description,
        "uploadType": "Created",
        "usageControl": "Download",
        "licensingFee": None,
        "paidAccess": None,
        "air": air(model, version),
        "stats": {
            "downloadCount": version.stats.get("downloadCount", 0),
            "thumbsUpCount": version.stats.get("thumbsUpCount", 0),
        },
        "model": {
            "name": model.name,
            "type": model.type,
            "nsfw": model.nsfw,
            "poi": model.poi,
            "mode": model.mode,
        },
        "files": [file_json(api_base, version, f, explicit_primary=True) for f in files],
        "images": [version_image_json(world, im, with_id=False, with_meta=True) for im in images],
    }
    if not archived:
        out["downloadUrl"] = download_url(api_base, version)
    if VERSION_CREATOR:
        out["creator"] = {"username": model.creator.username, "image": model.creator.image}
    return out


def image_json(world: World, image: Image, *, with_meta: bool, flat_meta: bool) -> dict:
    """An ``/images`` item (§5.2); ``nsfwLevel`` is the deprecated string."""
    meta: Any = None
    if with_meta and image.meta is not None:
        meta = dict(image.meta) if flat_meta else {"id": image.id, "meta": dict(image.meta)}
    out: dict[str, Any] = {
        "id": image.id,
        "url": image_cdn_url(world, image, image.uuid),
        "hash": image.hash,
        "width": image.width,
        "height": image.height,
        "nsfwLevel": LEVEL_NAMES.get(image.nsfw_level, "None"),
        "nsfw": image.nsfw_level > 1,
        "browsingLevel": image.nsfw_level,
        "type": image.type,
        "createdAt": iso(image.created_at),
        "postId": image.post_id,
        "stats": dict(image.stats),
        "meta": meta,
        "username": image.username,
        "baseModel": image.base_model,
        "modelVersionIds": list(image.model_version_ids),
    }
    if not image.username_shown:
        del out["username"]
    if not image.version_ids_key:
        del out["modelVersionIds"]
    return out


def post_rest_json(world: World, post: Post) -> dict:
    """``GET /api/v1/posts/{id}`` as the developer docs describe it (§7.1)."""
    return {
        "id": post.id,
        "title": post.title,
        "detail": post.detail,
        "nsfwLevel": post.nsfw_level,
        "publishedAt": iso(post.published_at),
        "modelVersionId": post.model_version_id,
        "user": {"id": post.user.id, "username": post.user.username},
        "tags": [dict(t) for t in post.tags],
        "images": [image_json(world, im, with_meta=True, flat_meta=True) for im in post.images],
    }


def post_trpc_json(post: Post) -> dict:
    """tRPC ``post.get`` output (§7.2)."""
    return {
        "id": post.id,
        "nsfw": post.nsfw_level > 3,
        "nsfwLevel": post.nsfw_level,
        "title": post.title,
        "detail": post.detail,
        "modelVersionId": post.model_version_id,
        "modelVersion": {"id": post.model_version_id} if post.model_version_id else None,
        "user": {
            "id": post.user.id,
            "username": post.user.username,
            "image": post.user.image,
            "deletedAt": None,
            "cosmetics": [],
            "profilePicture": None,
        },
        "publishedAt": iso(post.published_at),
        "availability": post.availability,
        "tags": [dict(t) for t in post.tags],
        "collectionId": None,
        "wasPublished": True,
        "unpublishedAt": None,
        "unpublishedBy": None,
    }
