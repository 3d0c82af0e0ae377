"""The fake CivitAI API server: routing, recording and fault injection."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from urllib.parse import parse_qsl, urlsplit

from .api_common import HTML_TYPE, Req, Response, ValidationFailed, json_response, next_js_404
from .faults_api import ApiFault, ApiFaults
from .httpbase import FakeHTTPServer, RecordingHandler, RequestLog
from .routes_by_hash import post_by_hash, post_by_hash_ids
from .routes_download import download, login_page, version_page
from .routes_images import get_post, list_images, trpc
from .routes_models import get_by_hash, get_model, get_model_version, list_models

Route = Callable[..., Response]
ROUTES: list[tuple[re.Pattern[str], Route]] = [
    (re.compile(r"/api/v1/models/?"), list_models),
    (re.compile(r"/api/v1/models/([^/]+)/?"), get_model),
    (re.compile(r"/api/v1/model-versions/by-hash/([^/]+)/?"), get_by_hash),
    (re.compile(r"/api/v1/model-versions/([^/]+)/?"), get_model_version),
    (re.compile(r"/api/v1/images/?"), list_images),
    (re.compile(r"/api/v1/posts/([^/]+)/?"), get_post),
    (re.compile(r"/api/trpc/([A-Za-z.]+)"), trpc),
    (re.compile(r"/api/download/models/([^/]+)/?"), download),
    (re.compile(r"/login/?"), login_page),
    (re.compile(r"/model-versions/([^/]+)/?"), version_page),
]
POST_ROUTES: list[tuple[re.Pattern[str], Route]] = [
    (re.compile(r"/api/v1/model-versions/by-hash/?"), post_by_hash),
    (re.compile(r"/api/v1/model-versions/by-hash/ids/?"), post_by_hash_ids),
]

_CLOUDFLARE = {
    403: ("Attention Required! | Cloudflare", "Sorry, you have been blocked"),
    503: ("Just a moment...", "Checking if the site connection is secure"),
}


def _fault_body(fault: ApiFault) -> Response:
    if fault.body is not None:
        if isinstance(fault.body, bytes | str):
            raw = fault.body.encode() if isinstance(fault.body, str) else fault.body
            response = Response(fault.status, raw)
        else:
            response = json_response(fault.status, fault.body, cache="no-store")
    else:
        default = {
            429: {"error": "Too Many Requests"},
            500: {"message": "An unexpected error occurred", "error": "Injected failure"},
            503: {"error": "Server busy, please retry shortly."},
        }.get(fault.status, {"error": f"Injected status {fault.status}"})
        response = json_response(fault.status, default, cache="no-store")
    response.headers.setdefault("Cache-Control", "no-store")
    if fault.retry_after is not None:
        response.headers["Retry-After"] = fault.retry_after
    return response


def _cloudflare_page(status: int) -> Response:
    title, text = _CLOUDFLARE.get(status, (f"Error {status}", "Origin error"))
    page = (
        "<!DOCTYPE html><html lang='en-US'><head><title>"
        f"{title}</title></head><body><div id='cf-wrapper'><h1>{title}</h1>"
        f"<p>{text}</p><p>Cloudflare Ray ID: 8c1f00fake</p></div></body></html>"
    )
    return Response(
        status, page.encode(), HTML_TYPE, {"Server": "cloudflare", "Cache-Control": "no-store"}
    )


class ApiServer:
    """The API on ``http://127.0.0.1:{port}`` serving a :class:`World`."""

    def __init__(self, log: RequestLog, api_key: str, port: int = 0) -> None:
        self.api_key = api_key
        self.faults = ApiFaults()
        self.world = None  # set by FakeCivitai before start
        self._server = FakeHTTPServer("api", log, _ApiHandler, port)
        self._server.api = self  # type: ignore[attr-defined]
        self.port = self._server.port
        self.base_url = f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        """Serve in a daemon thread."""
        self._server.start()

    def stop(self) -> None:
        """Stop serving and close open connections."""
        self._server.stop()

    def handle(self, req: Req) -> Response:
        """Route one request."""
        if req.method == "POST":
            for pattern, route in POST_ROUTES:
                if pattern.fullmatch(req.path):
                    return route(req)
        if req.method not in ("GET", "HEAD"):
            return json_response(405, {"error": "Method not allowed"}, cache="no-store")
        for pattern, route in ROUTES:
            match = pattern.fullmatch(req.path)
            if match is not None:
                try:
                    return route(req, *match.groups())
                except ValidationFailed as exc:
                    return exc.response()
        return next_js_404()


class _ApiHandler(RecordingHandler):
    server: FakeHTTPServer

    def do_GET(self) -> None:
        self._serve()

    def do_HEAD(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self._body = self.rfile.read(length) if 0 < length <= 4_000_000 else b""
        if length > 4_000_000:
            self.drain_body()
        self._serve()

    def _serve(self) -> None:
        api: ApiServer = self.server.api  # type: ignore[attr-defined]
        faults = api.faults
        path = urlsplit(self.path).path
        slow = faults.take(self.path, path, ("slow",))
        if slow is not None:
            time.sleep(slow.seconds)
        fault = faults.take(self.path, path, ("status", "reset", "truncate", "html"))
        if fault is not None and fault.kind == "reset":
            self.drop_with_reset()
            return
        if fault is not None and fault.kind == "status":
            response = _fault_body(fault)
        elif fault is not None and fault.kind == "html":
            response = _cloudflare_page(fault.status)
        else:
            headers = {name.lower(): value for name, value in self.headers.items()}
            req = Req(
                method=self.command,
                path=path,
                query_pairs=parse_qsl(urlsplit(self.path).query, keep_blank_values=True),
                headers=headers,
                world=api.world,  # type: ignore[arg-type]
                api_base=api.base_url,
                api_key=api.api_key,
                posts_enabled=faults.posts_endpoint,
                body=getattr(self, "_body", b""),
            )
            response = api.handle(req)
        self._send(response, truncate=fault is not None and fault.kind == "truncate")

    def _send(self, response: Response, truncate: bool) -> None:
        self.send_response(response.status)
        self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(response.body)))
        for name, value in response.headers.items():
            self.send_raw_header(name, value)
        self.end_headers()
        if self.command == "HEAD":
            return
        if truncate:
            self.wfile.write(response.body[: len(response.body) // 2])
            self.close_now()
            return
        self.wfile.write(response.body)
