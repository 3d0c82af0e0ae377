"""``GET /api/download/models/{versionId}`` (§8) and the HTML pages it redirects browsers to."""

from __future__ import annotations

from urllib.parse import quote

from .api_common import Req, Response, error, html_response, json_response
from .data import MODEL_LIKE_TYPES, FileEntry, Version, iso

NO_STORE = "no-store, max-age=0"
FILE_TYPES = (
    "Model, Text Encoder, Vision Encoder, Pruned Model, Negative, Training Data, VAE, Config, "
    "Archive, UNet, Diffusion Model, CLIPVision, ControlNet, Workflow, Upscaler, "
    "Enhancement LoRA, Other"
).split(", ")
FORMATS = ("SafeTensor", "PickleTensor", "GGUF", "Diffusers", "Core ML", "ONNX", "Other")


def _redirect(location: str, cache: str = NO_STORE) -> Response:
    body = f"Redirecting to {location}".encode()
    return Response(
        307, body, "text/plain; charset=utf-8", {"Location": location, "Cache-Control": cache}
    )


def _not_found(req: Req) -> Response:
    if req.is_browser():
        return html_response(404, "404", "File not found")
    return error(404, "File not found", NO_STORE)


def _score(file: FileEntry, prefs: dict[str, str]) -> float:
    score = 1000.0 if file.type in MODEL_LIKE_TYPES else 0.0
    weights = {"format": 100, "size": 10, "fp": 1}
    for key, weight in weights.items():
        if file.metadata.get(key) == prefs.get(key):
            score += weight
    return score


def pick_file(version: Version, req: Req) -> FileEntry | None:
    """``getFileForModelVersion``: by ``fileId``, else best score plus the mismatch check."""
    files = [f for f in version.files if f.visibility == "Public"]
    file_id = req.first("fileId")
    if file_id is not None:
        return next((f for f in files if str(f.id) == file_id), None)
    wanted_type = req.first("type")
    if wanted_type is not None:
        files = [f for f in files if f.type == wanted_type]
    if not files:
        return None
    prefs = {"format": "SafeTensor", "size": "pruned", "fp": "fp16"}
    asked = {k: req.first(k) for k in ("format", "size", "fp")}
    prefs.update({k: v for k, v in asked.items() if v})
    best = max(files, key=lambda f: (_score(f, prefs), f.primary, -f.id))
    for key, value in asked.items():
        if value and best.metadata.get(key) != value:
            return None
    return best


def download(req: Req, raw_id: str) -> Response:
    """Resolve a version download to a presigned storage URL, or explain why not."""
    world = req.world
    if not raw_id.isdigit():
        return error(400, "Invalid modelVersionId", NO_STORE)
    type_param = req.first("type")
    if type_param is not None and type_param not in FILE_TYPES:
        return error(400, f"Invalid type: {type_param}", NO_STORE)
    format_param = req.first("format")
    if format_param is not None and format_param not in FORMATS:
        return error(400, f"Invalid format: {format_param}", NO_STORE)
    version = world.versions.get(int(raw_id))
    if version is None or version.status != "Published":
        return _not_found(req)
    model = world.model_of(version)
    if model.mode == "TakenDown":
        return _not_found(req)
    if model.mode == "Archived":
        return error(410, "Model archived, not available for download", NO_STORE)
    signed_in = req.authenticated()
    if version.require_auth and not signed_in:
        if req.is_browser():
            return_url = quote(f"/api/download/models/{version.id}", safe="")
            return _redirect(f"{req.api_base}/login?returnUrl={return_url}&reason=download-auth")
        return json_response(
            401,
            {
                "error": "Unauthorized",
                "message": "The creator of this asset requires you to be logged in to download it",
            },
            NO_STORE,
        )
    deadline = version.early_access_deadline
    if deadline is not None and world.now < deadline:
        if req.is_browser():
            return _redirect(f"{req.api_base}/model-versions/{version.id}")
        return json_response(
            403,
            {
                "error": "Early Access",
                "deadline": iso(deadline),
                "message": "This asset is in Early Access. You can use Buzz access it now!",
            },
            NO_STORE,
        )
    file = pick_file(version, req)
    if file is None:
        return _not_found(req)
    return _redirect(world.files_cdn.presign(file.key, file.name))


def login_page(req: Req) -> Response:
    """The site's sign-in page (where browsers land after an auth failure)."""
    return html_response(200, "Sign in to Civitai", "Sign in to continue.", cache="no-store")


def version_page(req: Req, raw_id: str) -> Response:
    """The site's model-version page (where browsers land during early access)."""
    return html_response(200, "Civitai", f"Model version {raw_id}", cache="no-store")
