"""``/api/v1/models``, ``/api/v1/models/{id}``, ``/api/v1/model-versions/{id}`` and by-hash."""

from __future__ import annotations

import re

from .api_common import (
    BadCursor,
    Params,
    Req,
    Response,
    SortSpec,
    error,
    json_response,
    page_metadata,
    paginate,
    too_many_pages,
)
from .data import Model
from .shapes import model_json, model_version_json

MODEL_TYPES = (
    "Checkpoint TextualInversion Hypernetwork AestheticGradient LORA LoCon DoRA Controlnet "
    "Upscaler MotionModule VAE TextEncoder UNet CLIPVision Poses Wildcards Workflows "
    "ComfyWorkflows Detection VisionLanguage CLIP LLM Other"
).split()
MODEL_SORTS = (
    "Highest Rated",
    "Most Downloaded",
    "Most Liked",
    "Most Discussed",
    "Most Collected",
    "Most Images",
    "Newest",
    "Oldest",
)
PERIODS = ("AllTime", "Year", "Month", "Week", "Day")


def _ms(model: Model) -> int:
    published = max(v.published_at for v in model.versions)
    return int(published.timestamp() * 1000)


def _model_sort(sort: str, image_counts: dict[int, int]) -> SortSpec:
    stat = {
        "Highest Rated": "thumbsUpCount",
        "Most Liked": "thumbsUpCount",
        "Most Downloaded": "downloadCount",
        "Most Discussed": "commentCount",
        "Most Collected": "thumbsUpCount",
    }.get(sort)
    if stat is not None:
        return SortSpec(lambda m: (int(m.stats.get(stat) or 0), m.id))
    if sort == "Most Images":
        return SortSpec(lambda m: (image_counts.get(m.id, 0), m.id))
    if sort == "Oldest":
        return SortSpec(lambda m: (_ms(m), m.id), descending=False, date_text=True)
    return SortSpec(lambda m: (_ms(m), m.id), date_text=True)


def postgres_slugify(name: str) -> str:
    """``postgresSlugify``: first space to ``_``, drop non ``[A-Za-z0-9_]``, lowercase."""
    return re.sub(r"[^A-Za-z0-9_]", "", name.replace(" ", "_", 1)).lower()


def list_models(req: Req) -> Response:
    """``GET /api/v1/models`` (§2)."""
    world = req.world
    params = Params(req)
    limit = params.integer("limit", minimum=0, maximum=100)
    page = params.integer("page", minimum=1)
    types = params.enum_list("types", MODEL_TYPES)
    sort = params.enum("sort", MODEL_SORTS) or "Highest Rated"
    params.enum("period", PERIODS)
    nsfw = params.boolean("nsfw")
    primary_only = params.boolean("primaryFileOnly")
    ids = params.int_list("ids")
    version_ids = params.int_list("modelVersionIds")
    params.check()
    limit = 100 if limit is None else limit
    cursor = req.first("cursor")
    query = req.first("query")
    if query and page is not None:
        return error(400, "Cannot use page param with query search. Use cursor-based pagination.")
    if page is not None and page * limit > 1000:
        return too_many_pages()
    if (req.first("favorites") or req.first("hidden")) and not req.authenticated():
        return error(401, "Unauthorized")
    models = list(world.models.values())
    username = req.first("username")
    if username is not None:
        creator = world.creator(postgres_slugify(username))
        if creator is None:
            return json_response(404, {"message": "User not found"})
        models = [m for m in models if m.creator is creator]
    if types:
        models = [m for m in models if m.type in types]
    if ids:
        models = [m for m in models if m.id in ids]
    if query:
        models = [m for m in models if query.lower() in m.name.lower()]
    browsing = 31 if nsfw else 1
    models = [m for m in models if m.nsfw_level & browsing]
    base_models = [b for raw in req.query.get("baseModels", []) for b in raw.split(",") if b]
    shaped_versions: dict[int, list] = {}
    for model in models:
        versions = [v for v in model.versions if v.status == "Published"]
        if version_ids:
            versions = [v for v in versions if v.id in version_ids]
        if base_models:
            versions = [v for v in versions if v.base_model in base_models]
        shaped_versions[model.id] = versions
    models = [m for m in models if shaped_versions[m.id]]
    image_counts: dict[int, int] = {}
    if sort == "Most Images":
        image_counts = {
            m.id: sum(len(world.creator_images_of_version(v)) for v in m.versions) for m in models
        }
    try:
        chunk, next_cursor = paginate(
            models, _model_sort(sort, image_counts), limit, cursor, page if not cursor else None
        )
    except BadCursor as exc:
        return error(400, f"Invalid cursor: {exc}")
    items = [
        model_json(
            world,
            req.api_base,
            m,
            shaped_versions[m.id],
            list_shape=True,
            image_filter=None if nsfw else 1,
            primary_only=bool(primary_only),
        )
        for m in chunk
    ]
    used_page = page is not None and cursor is None
    return json_response(
        200, {"items": items, "metadata": page_metadata(req, next_cursor, page, limit, used_page)}
    )


def _id_param(raw: str) -> int | None:
    if not re.fullmatch(r"\d+", raw):
        return None
    value = int(raw)
    return value if 1 <= value <= 2147483647 else None


def get_model(req: Req, raw_id: str) -> Response:
    """``GET /api/v1/models/{id}`` (§3)."""
    model_id = _id_param(raw_id)
    if model_id is None:
        return error(400, "Expected number, received nan" if not raw_id.isdigit() else "Invalid id")
    model = req.world.models.get(model_id)
    versions = [v for v in model.versions if v.status == "Published"] if model else []
    if model is None or not versions:
        return error(404, f"No model with id {model_id}")
    return json_response(
        200,
        model_json(req.world, req.api_base, model, versions, list_shape=False, image_filter=None),
    )


def get_model_version(req: Req, raw_id: str) -> Response:
    """``GET /api/v1/model-versions/{id}`` (§4.1)."""
    version_id = _id_param(raw_id)
    if version_id is None:
        return error(400, "Expected number, received nan")
    version = req.world.versions.get(version_id)
    if version is None or version.status != "Published":
        return error(404, "Model not found")
    model = req.world.model_of(version)
    if not version.files and model.mode != "Archived":
        return error(404, "Missing model file")
    return json_response(200, model_version_json(req.world, req.api_base, version))


def get_by_hash(req: Req, raw_hash: str) -> Response:
    """``GET /api/v1/model-versions/by-hash/{hash}`` (§4.2): any hash type, oldest wins."""
    wanted = raw_hash.upper()
    matches = []
    for version in req.world.versions.values():
        model = req.world.model_of(version)
        if version.status != "Published":
            continue
        if any(wanted in f.hashes.values() for f in version.files):
            matches.append((version.published_at, version.id, version, model))
    if not matches:
        return error(404, "Model not found")
    matches.sort(key=lambda m: (m[0], m[1]))
    response = json_response(200, model_version_json(req.world, req.api_base, matches[0][2]))
    response.headers["Cache-Control"] = "public, s-maxage=3600"
    return response
