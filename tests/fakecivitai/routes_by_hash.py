"""``POST /api/v1/model-versions/by-hash`` and ``/by-hash/ids`` (civitai-api.md §4.2).

Shapes from civitai/civitai src/pages/api/v1/model-versions/by-hash/index.ts and ids.ts: the
body is a JSON array of 64-character hashes (uppercased; at most 100, resp. 10 000, else 400
``{"error": "Request must include an array of SHA256 Hashes. …"}``); only SHA256 hashes of files
whose model and version are both Published match; index.ts answers one version body (as
``/model-versions/{id}``) per matching *file*, ids.ts ``{modelVersionId, modelId, hash}``.
"""

from __future__ import annotations

import json

from .api_common import Req, Response, error, json_response
from .data import FileEntry, Version
from .shapes import model_version_json


def _hashes(req: Req, limit: int) -> list[str] | Response:
    try:
        body = json.loads(req.body or b"null")
    except ValueError:
        body = None
    bad = "Request must include an array of SHA256 Hashes."
    if not isinstance(body, list) or not all(isinstance(h, str) for h in body):
        return error(400, f"{bad} Expected array")
    if any(len(h) != 64 for h in body):
        return error(400, f"{bad} Invalid hash")
    if len(body) > limit:
        return error(400, f"{bad} Too many hashes")
    return [h.upper() for h in body]


def _matches(req: Req, hashes: list[str]) -> list[tuple[Version, FileEntry]]:
    wanted = set(hashes)
    return [
        (version, file)
        for version in req.world.versions.values()
        if version.status == "Published" and req.world.model_of(version).mode != "TakenDown"
        for file in version.files
        if file.hashes.get("SHA256", "").upper() in wanted
    ]


def post_by_hash(req: Req) -> Response:
    """Version bodies of the files with these SHA256s (one per matching file)."""
    hashes = _hashes(req, 100)
    if isinstance(hashes, Response):
        return hashes
    bodies = [
        model_version_json(req.world, req.api_base, version) for version, _ in _matches(req, hashes)
    ]
    return json_response(200, bodies)


def post_by_hash_ids(req: Req) -> Response:
    """``[{modelVersionId, modelId, hash}]`` of the files with these SHA256s."""
    hashes = _hashes(req, 10_000)
    if isinstance(hashes, Response):
        return hashes
    rows = [
        {
            "modelVersionId": version.id,
            "modelId": version.model_id,
            "hash": file.hashes["SHA256"].upper(),
        }
        for version, file in _matches(req, hashes)
    ]
    return json_response(200, rows)
