"""``/api/v1/images``, ``/api/v1/posts/{id}`` and tRPC ``post.get``."""

from __future__ import annotations

import json
from urllib.parse import urlsplit

from .api_common import (
    BadCursor,
    Params,
    Req,
    Response,
    SortSpec,
    error,
    json_response,
    next_js_404,
    page_metadata,
    paginate,
    too_many_pages,
)
from .data import Image
from .shapes import image_json, post_rest_json, post_trpc_json

IMAGE_SORTS = ("Most Reactions", "Most Comments", "Most Collected", "Newest", "Oldest", "Random")
NSFW_MAP = {"None": 1, "Soft": 3, "Mature": 7, "X": 31, "true": 60, "false": 1}
CIVITAI_HOSTS = ("civitai.com", "civitai.red", "civitai.green", "civitai.blue")


def _reactions(image: Image) -> int:
    s = image.stats
    return (
        s.get("likeCount", 0)
        + s.get("heartCount", 0)
        + s.get("laughCount", 0)
        + s.get("cryCount", 0)
    )


def _image_sort(sort: str) -> SortSpec:
    # Real image cursors are three opaque numbers (`22138|364671|25494`): the sort value, the
    # id and the post id here.
    spec = _image_sort2(sort)
    return SortSpec(lambda im: (*spec.values(im), im.post_id), spec.descending)


def _image_sort2(sort: str) -> SortSpec:
    if sort == "Newest":
        return SortSpec(lambda im: (int(im.created_at.timestamp() * 1000), im.id))
    if sort == "Oldest":
        return SortSpec(lambda im: (int(im.created_at.timestamp() * 1000), im.id), False)
    if sort == "Most Comments":
        return SortSpec(lambda im: (im.stats.get("commentCount", 0), im.id))
    if sort == "Random":
        return SortSpec(lambda im: (im.id * 2654435761 % 1000003, im.id))
    return SortSpec(lambda im: (_reactions(im), im.id))


def list_images(req: Req) -> Response:
    """``GET /api/v1/images`` (§5)."""
    world = req.world
    params = Params(req)
    limit = params.integer("limit", minimum=0, maximum=200)
    page = params.integer("page", minimum=1)
    post_id = params.integer("postId", minimum=0)
    model_id = params.integer("modelId", minimum=0)
    version_id = params.integer("modelVersionId", minimum=0)
    image_id = params.integer("imageId", minimum=0)
    user_id = params.integer("userId", minimum=0)
    username = params.regex("username", r"[A-Za-z0-9_]*")
    nsfw = params.enum("nsfw", tuple(NSFW_MAP))
    browsing_level = params.integer("browsingLevel", minimum=0)
    sort = params.enum("sort", IMAGE_SORTS) or "Most Reactions"
    kind = params.enum("type", ("image", "video", "audio"))
    with_meta = params.boolean("withMeta")
    flat_meta = params.boolean("flatMeta")
    params.check()
    limit = 100 if limit is None else limit
    if page is not None and page * limit > 1000:
        return too_many_pages()
    legacy = image_id is not None or (model_id is not None and version_id is None)
    level = browsing_level if browsing_level is not None else NSFW_MAP.get(nsfw or "None", 1)
    images = list(world.images.values())
    if post_id is not None:
        images = [im for im in images if im.post_id == post_id]
    if image_id is not None:
        images = [im for im in images if im.id == image_id]
    # "Posted to V, or V among the image's resources": getAllImages in
    # src/server/services/image.service.ts (civitai/civitai); the posted-to version itself is
    # never part of the returned item.
    if version_id is not None:
        images = [
            im
            for im in images
            if world.posted_to(im) == version_id or version_id in im.model_version_ids
        ]
    if model_id is not None:
        model = world.models.get(model_id)
        ids = {v.id for v in model.versions} if model else set()
        images = [
            im for im in images if world.posted_to(im) in ids or ids & set(im.model_version_ids)
        ]
    if username:
        images = [im for im in images if im.username.lower() == username.lower()]
    if user_id is not None:
        names = {c.username for c in world.creators.values() if c.id == user_id}
        images = [im for im in images if im.username in names]
    if kind is not None:
        images = [im for im in images if im.type == kind]
    images = [im for im in images if im.nsfw_level & level]
    cursor = req.first("cursor")
    use_page = page if (legacy and cursor is None) else None
    try:
        chunk, next_cursor = paginate(images, _image_sort(sort), limit, cursor, use_page)
    except BadCursor as exc:
        return error(400, f"Invalid cursor: {exc}")
    flat = flat_meta if flat_meta is not None else not legacy
    items = [image_json(world, im, with_meta=bool(with_meta), flat_meta=flat) for im in chunk]
    meta = page_metadata(req, next_cursor, page, limit, use_page is not None)
    return json_response(200, {"items": items, "metadata": meta})


def get_post(req: Req, raw_id: str) -> Response:
    """``GET /api/v1/posts/{id}``: absent (Next.js 404 page) unless switched on."""
    if not req.posts_enabled:
        return next_js_404()
    post = req.world.posts.get(int(raw_id)) if raw_id.isdigit() else None
    if post is None:
        return error(404, "Post not found")
    return json_response(200, post_rest_json(req.world, post))


def _trpc_error(status: int, code: str, message: str, path: str) -> Response:
    codes = {"UNAUTHORIZED": -32001, "NOT_FOUND": -32004, "BAD_REQUEST": -32600}
    return json_response(
        status,
        {
            "error": {
                "json": {
                    "message": message,
                    "code": codes.get(code, -32603),
                    "data": {"code": code, "httpStatus": status, "path": path},
                }
            }
        },
        cache="no-store",
    )


def _civitai_origin(req: Req) -> bool:
    for header in ("origin", "referer"):
        value = req.headers.get(header)
        if not value:
            continue
        host = (urlsplit(value).hostname or "").lower()
        if any(host == h or host.endswith("." + h) for h in CIVITAI_HOSTS):
            return True
    return False


def trpc(req: Req, procedure: str) -> Response:
    """tRPC ``GET /api/trpc/{procedure}?input=...``; only ``post.get`` is implemented."""
    has_token = bool(req.headers.get("authorization")) and req.authenticated()
    if not has_token and not _civitai_origin(req):
        return _trpc_error(
            401,
            "UNAUTHORIZED",
            "Please use the public API instead: https://developer.civitai.com/",
            procedure,
        )
    if procedure != "post.get":
        return _trpc_error(
            404, "NOT_FOUND", f'No "query"-procedure on path "{procedure}"', procedure
        )
    try:
        payload = json.loads(req.first("input") or "")
        post_id = payload["json"]["id"]
        if not isinstance(post_id, int):
            raise TypeError(post_id)
    except (ValueError, KeyError, TypeError):
        return _trpc_error(400, "BAD_REQUEST", "Invalid input", procedure)
    post = req.world.posts.get(post_id)
    if post is None:
        return _trpc_error(404, "NOT_FOUND", "No post with id " + str(post_id), procedure)
    return json_response(
        200,
        {
            "result": {
                "data": {
                    "json": post_trpc_json(post),
                    "meta": {"values": {"publishedAt": ["Date"]}},
                }
            }
        },
        cache="no-store",
    )
