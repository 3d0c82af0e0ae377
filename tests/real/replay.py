"""A loopback CivitAI that answers from the captured responses in ``tests/real/`` (see SOURCES).

What is served as captured (hosts rewritten to loopback):

- ``GET /api/v1/models/{id}``          from ``models_{id}.json``
- ``GET /api/v1/model-versions/{id}``  from ``model-versions_{id}.json``

What the replay derives from the captures, because no capture of that exact query exists:

- ``GET /api/v1/models?username=U``: the captured model objects whose ``creator.username`` is U,
  one page (a listing item has the same shape as ``/models/{id}``; see
  ``models_page_types-Checkpoint_sort-HighestRated.json``).
- ``GET /api/v1/images?...``: the captured image items filtered by ``postId``, ``imageId``,
  ``username`` (case-insensitive) and ``modelVersionId``. The version a post is attached to is in
  no captured image, so ``modelVersionId=V`` can only match the resources detected in the item
  (``modelVersionIds`` or ``meta.civitaiResources``); CivitAI also matches "posted to V"
  (civitai/civitai ``src/server/services/image.service.ts``). One page, ``metadata: {}`` (the
  shape of a last page, civitai/civitai#1329).
- ``/api/download/models/{v}``: 307 to a presigned URL on the loopback file store for the file
  the query picks (``type``/``format``/``size``/``fp`` against the file's ``type``/``metadata``,
  else the ``primary`` file), as civitai/civitai does in
  ``src/pages/api/download/models/[modelVersionId].ts``.
- Anything not captured: ``/api/v1/models/{id}`` and ``/model-versions/{id}`` answer 404
  ``{"error": ...}`` (the REST routes' error body); ``/api/v1/posts/{id}`` the HTML 404 page the
  real site gives (no such REST route is deployed, issue 13); tRPC ``post.get`` a tRPC NOT_FOUND
  in tRPC's error envelope (the corpus holds no ``post.get`` capture).

Alterations made while serving (the captured files on disk are never changed): the real files are
gigabytes and their bytes are not public, so every file is served as small synthetic safetensors
bytes and its ``sizeKB`` and ``hashes`` are replaced by those of the served bytes (``SHA256`` and
``AutoV2``; ``AutoV1``/``AutoV3``/``CRC32``/``BLAKE3`` are dropped because they would no longer
match). Images are served as small valid JPEG/PNG/WebP/MP4 bytes chosen by the URL's suffix.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import quote, unquote, urlsplit

from tests.fakecivitai.cdn import IMAGE_PREFIX, FakeCdn
from tests.fakecivitai.httpbase import FakeHTTPServer, RecordedRequest, RecordingHandler, RequestLog
from tests.fakecivitai.media import media_bytes, safetensors_bytes

Json = dict[str, Any]

CORPUS_DIR = Path(__file__).parent
API_HOSTS = frozenset({"civitai.com", "www.civitai.com", "api.civitai.com"})
IMAGE_HOSTS = frozenset({"image.civitai.com", "imagecache.civitai.com"})
_MEDIA_KINDS = {".jpeg": "jpeg", ".jpg": "jpeg", ".png": "png", ".webp": "webp", ".mp4": "mp4"}
_HTML_404 = (
    b"<!DOCTYPE html><html><head><title>404: This page could not be found</title></head>"
    b"<body><h1>404</h1><h2>This page could not be found.</h2></body></html>"
)


@dataclass
class Corpus:
    """The captured responses, by endpoint."""

    models: dict[int, Json] = field(default_factory=dict)
    versions: dict[int, Json] = field(default_factory=dict)
    images: dict[int, Json] = field(default_factory=dict)
    files_read: list[str] = field(default_factory=list)


def load_corpus(directory: Path = CORPUS_DIR) -> Corpus:
    """Read every ``*.json`` of the corpus, sorted by name (later files never override)."""
    corpus = Corpus()
    for path in sorted(directory.glob("*.json")):
        data = json.loads(path.read_text("utf-8"))
        corpus.files_read.append(path.name)
        name = path.name
        if name.startswith("models_page_"):
            for model in data["items"]:
                corpus.models.setdefault(model["id"], model)
        elif name.startswith("models_"):
            corpus.models.setdefault(data["id"], data)
        elif name.startswith("model-versions_"):
            corpus.versions.setdefault(data["id"], data)
        elif name.startswith("images_"):
            for image in data["items"]:
                corpus.images.setdefault(image["id"], image)
    return corpus


def synthetic_file(file_id: int) -> bytes:
    """The bytes served for CivitAI file ``file_id``: a valid safetensors file, a few KiB."""
    return safetensors_bytes(4096 + file_id % 4093, seed=file_id)


def _detected_versions(image: Json) -> set[int]:
    found = {v for v in image.get("modelVersionIds") or [] if isinstance(v, int)}
    meta = image.get("meta")
    resources = meta.get("civitaiResources") if isinstance(meta, dict) else None
    for resource in resources if isinstance(resources, list) else []:
        if isinstance(resource, dict) and isinstance(resource.get("modelVersionId"), int):
            found.add(resource["modelVersionId"])
    return found


class ReplayCivitai:
    """The API (127.0.0.1), a file store and an image CDN (``localhost``) serving a corpus."""

    def __init__(self, corpus: Corpus | None = None) -> None:
        self.corpus = corpus if corpus is not None else load_corpus()
        self._log = RequestLog()
        self.files = FakeCdn("files", self._log)
        self.images = FakeCdn("images", self._log)
        self._api = FakeHTTPServer("api", self._log, _ReplayHandler)
        self._api.replay = self  # type: ignore[attr-defined]
        self.api_base = f"http://127.0.0.1:{self._api.port}"
        self.api_key = "replay-key-not-checked"
        # What the replay serves: the captures with the alterations of the module docstring.
        self.models: dict[int, Json] = {k: self._rewrite(v) for k, v in self.corpus.models.items()}
        self.versions: dict[int, Json] = {
            k: self._rewrite(v) for k, v in self.corpus.versions.items()
        }
        self.image_items: dict[int, Json] = {
            k: self._rewrite(v) for k, v in self.corpus.images.items()
        }
        for version in self._all_versions():
            for entry in version.get("files") or []:
                data = synthetic_file(entry["id"])
                self.files.put_bytes(str(entry["id"]), data, "application/octet-stream")
        self._put_images(self.corpus)

    # -- what the replay serves ------------------------------------------------------------
    def _all_versions(self) -> Iterator[Json]:
        for model in self.models.values():
            yield from model.get("modelVersions") or []
        yield from self.versions.values()

    def version(self, version_id: int) -> Json | None:
        """A version as served (from ``/model-versions`` or inside a ``/models`` response)."""
        if version_id in self.versions:
            return self.versions[version_id]
        return next((v for v in self._all_versions() if v.get("id") == version_id), None)

    def images_matching(self, query: dict[str, list[str]]) -> list[Json]:
        """The image items ``/api/v1/images`` answers for ``query`` (see the module docstring)."""

        def first(name: str) -> str | None:
            values = query.get(name)
            return values[0] if values else None

        items = list(self.image_items.values())
        for name, key in (("postId", "postId"), ("imageId", "id")):
            wanted = first(name)
            if wanted is not None:
                items = [i for i in items if str(i.get(key)) == wanted]
        username = first("username")
        if username is not None:
            items = [i for i in items if str(i.get("username") or "").lower() == username.lower()]
        version = first("modelVersionId")
        if version is not None:
            items = [
                i for i in items if version.isdigit() and int(version) in _detected_versions(i)
            ]
        model_id = first("modelId")
        if model_id is not None:
            model = self.models.get(int(model_id)) if model_id.isdigit() else None
            ids = {v["id"] for v in (model or {}).get("modelVersions") or []}
            items = [i for i in items if _detected_versions(i) & ids]
        return items

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request the three servers saw."""
        return self._log.snapshot()

    # -- rewriting -------------------------------------------------------------------------
    def _rewrite(self, value: Any) -> Any:
        value = copy.deepcopy(value)
        self._rewrite_files(value)
        return self._rewrite_urls(value)

    def _rewrite_files(self, value: Any) -> None:
        """Give every file object the size and hashes of the bytes the replay serves for it."""
        if isinstance(value, dict):
            files = value.get("files")
            if isinstance(files, list):
                for entry in files:
                    if isinstance(entry, dict) and isinstance(entry.get("id"), int):
                        data = synthetic_file(entry["id"])
                        digest = hashlib.sha256(data).hexdigest().upper()
                        entry["sizeKB"] = len(data) / 1024
                        entry["hashes"] = {"AutoV2": digest[:10], "SHA256": digest}
            for child in value.values():
                self._rewrite_files(child)
        elif isinstance(value, list):
            for child in value:
                self._rewrite_files(child)

    def _rewrite_urls(self, value: Any) -> Any:
        if isinstance(value, dict):
            return {k: self._rewrite_urls(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self._rewrite_urls(v) for v in value]
        if isinstance(value, str) and value.startswith("https://"):
            parts = urlsplit(value)
            tail = parts.path + (f"?{parts.query}" if parts.query else "")
            if parts.hostname in API_HOSTS:
                return self.api_base + tail
            if parts.hostname in IMAGE_HOSTS:
                return self.images.base_url + quote(tail, safe="/?=&%,")
        return value

    def _put_images(self, corpus: Corpus) -> None:
        """Serve a small valid image for every image URL anywhere in the corpus."""
        for url in _strings(
            [corpus.models, corpus.versions, corpus.images], lambda s: s.startswith("https://")
        ):
            parts = urlsplit(url)
            segments = parts.path.split("/")
            if parts.hostname not in IMAGE_HOSTS or len(segments) != 5:
                continue
            if segments[1] != IMAGE_PREFIX:
                continue
            suffix = Path(segments[4]).suffix.lower()
            kind = _MEDIA_KINDS.get(suffix, "jpeg")
            tag = int(hashlib.sha256(segments[2].encode()).hexdigest()[:8], 16)
            content_type = {"jpeg": "image/jpeg", "png": "image/png", "webp": "image/webp"}.get(
                kind, "video/mp4"
            )
            self.images.put_bytes(unquote(segments[2]), media_bytes(kind, tag), content_type)

    # -- lifecycle -------------------------------------------------------------------------
    def __enter__(self) -> ReplayCivitai:
        self.files.start()
        self.images.start()
        self._api.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        for part in (self._api, self.files, self.images):
            part.stop()


def _strings(value: Any, keep: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for child in value.values():
            yield from _strings(child, keep)
    elif isinstance(value, list):
        for child in value:
            yield from _strings(child, keep)
    elif isinstance(value, str) and keep(value):
        yield value


_DOWNLOAD = re.compile(r"^/api/download/models/(\d+)$")
_MODEL = re.compile(r"^/api/v1/models/(\d+)$")
_VERSION = re.compile(r"^/api/v1/model-versions/(\d+)$")
_POST = re.compile(r"^/api/v1/posts/(\d+)$")


class _ReplayHandler(RecordingHandler):
    @property
    def replay(self) -> ReplayCivitai:
        return self.server.replay  # type: ignore[attr-defined, no-any-return]

    def do_GET(self) -> None:
        path = self.url_path
        if match := _MODEL.match(path):
            model = self.replay.models.get(int(match[1]))
            if model is None:
                self._json(404, {"error": f"No model with id {match[1]}"})
            else:
                self._json(200, model)
        elif match := _VERSION.match(path):
            version = self.replay.versions.get(int(match[1]))
            if version is None:
                self._json(404, {"error": f"No model version with id {match[1]}"})
            else:
                self._json(200, version)
        elif path == "/api/v1/models":
            self._models_listing()
        elif path == "/api/v1/images":
            self._json(200, {"items": self.replay.images_matching(self.query), "metadata": {}})
        elif _POST.match(path):
            self.send_body(404, _HTML_404, "text/html; charset=utf-8")
        elif path == "/api/trpc/post.get":
            self._trpc_not_found("post.get")
        elif match := _DOWNLOAD.match(path):
            self._download(int(match[1]))
        else:
            self.send_body(404, _HTML_404, "text/html; charset=utf-8")

    def _json(self, status: int, payload: Any) -> None:
        body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        self.send_body(status, body, "application/json; charset=utf-8")

    def _models_listing(self) -> None:
        username = (self.query.get("username") or [""])[0].lower()
        types = set(self.query.get("types") or [])
        items = [
            model
            for model in self.replay.models.values()
            if str((model.get("creator") or {}).get("username") or "").lower() == username
            and (not types or model.get("type") in types)
        ]
        self._json(200, {"items": items, "metadata": {}})

    def _trpc_not_found(self, procedure: str) -> None:
        self._json(
            404,
            {
                "error": {
                    "json": {
                        "message": "not in the captured corpus",
                        "code": -32004,
                        "data": {"code": "NOT_FOUND", "httpStatus": 404, "path": procedure},
                    }
                }
            },
        )

    def _download(self, version_id: int) -> None:
        version = self.replay.version(version_id)
        files = [f for f in (version or {}).get("files") or [] if isinstance(f, dict)]
        wanted = {k: v[0] for k, v in self.query.items() if k in ("type", "format", "size", "fp")}
        if wanted:
            chosen = next((f for f in files if _file_matches(f, wanted)), None)
        else:
            chosen = next((f for f in files if f.get("primary")), files[0] if files else None)
        if chosen is None:
            self._json(404, {"error": "File not found"})
            return
        location = self.replay.files.presign(str(chosen["id"]), str(chosen["name"]))
        self.send_response(307)
        self.send_header("Location", location)
        self.send_header("Content-Length", "0")
        self.end_headers()


def _file_matches(entry: Json, wanted: dict[str, str]) -> bool:
    metadata = entry.get("metadata") or {}
    for key, value in wanted.items():
        have = entry.get("type") if key == "type" else metadata.get(key)
        if str(have) != value:
            return False
    return True
