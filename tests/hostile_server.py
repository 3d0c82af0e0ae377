"""A small CivitAI look-alike that serves whatever a test scripts: bad records, gzip bombs,
trickling bodies, endless cursors, oversized files.

Two loopback servers share one route table: `api` on 127.0.0.1 and `cdn` on localhost (another
host as far as civittui is concerned, as CivitAI's storage is). A route is a function of the
request handler; helpers below write the common answers.
"""

from __future__ import annotations

import gzip
import json
import threading
import time
from collections.abc import Callable, Iterable
from types import TracebackType
from typing import Any

from tests.fakecivitai.httpbase import FakeHTTPServer, RecordedRequest, RecordingHandler, RequestLog

Route = Callable[["HostileHandler"], None]


class HostileHandler(RecordingHandler):
    """Dispatches GETs to the route registered for the path (exact match), else 404."""

    server: _Server

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        route = self.server.hostile.routes.get((self.server.fake_name, self.url_path))
        if route is None:
            self.send_body(404, b'{"error":"Not found"}', "application/json")
            return
        route(self)

    # -- answers ----------------------------------------------------------------------------
    def json(self, data: Any, status: int = 200, headers: dict[str, str] | None = None) -> None:
        """Python's json module: it writes NaN and Infinity, as a careless server would."""
        self.send_body(status, json.dumps(data).encode(), "application/json", headers)

    def redirect(self, location: str) -> None:
        """What `/api/download/models/{id}` answers: a 307 to presigned storage (Next.js
        `res.redirect` default, civitai-api.md "download" table)."""
        self.send_body(307, b"", "text/plain", {"Location": location})

    def raw_json(self, body: bytes, *, gzipped: bool = False) -> None:
        extra = {"Content-Encoding": "gzip"} if gzipped else None
        self.send_body(200, gzip.compress(body) if gzipped else body, "application/json", extra)

    def stream(
        self,
        chunks: Iterable[bytes],
        *,
        content_type: str = "application/octet-stream",
        length: int | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        """A body sent piece by piece (chunked unless `length` is given)."""
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        if length is None:
            self.send_header("Transfer-Encoding", "chunked")
        else:
            self.send_header("Content-Length", str(length))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.close_connection = True
        try:
            for chunk in chunks:
                if self.server.hostile.stopping.is_set():
                    return
                if length is None:
                    self.wfile.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
                else:
                    self.wfile.write(chunk)
                self.wfile.flush()
            if length is None:
                self.wfile.write(b"0\r\n\r\n")
        except OSError:
            pass  # the client hung up, as it should

    def trickle(self, *, every: float, content_type: str, length: int | None = None) -> None:
        """One byte per `every` seconds, until the client gives up or the server stops."""
        stop = self.server.hostile.stopping

        def bytes_slowly() -> Iterable[bytes]:
            while not stop.wait(every):
                yield b" "

        self.stream(bytes_slowly(), content_type=content_type, length=length)


class _Server(FakeHTTPServer):
    hostile: HostileCivitai


class HostileCivitai:
    """The API (127.0.0.1) and a CDN (localhost) on loopback, scripted per test."""

    def __init__(self) -> None:
        self.log = RequestLog()
        self.routes: dict[tuple[str, str], Route] = {}
        self.stopping = threading.Event()
        self._servers: dict[str, _Server] = {}
        for name, host in (("api", "127.0.0.1"), ("cdn", "localhost")):
            server = _Server(name, self.log, HostileHandler, host=host)
            server.hostile = self
            self._servers[name] = server

    @property
    def api_base(self) -> str:
        return f"http://127.0.0.1:{self._servers['api'].port}"

    @property
    def cdn_base(self) -> str:
        return f"http://localhost:{self._servers['cdn'].port}"

    def route(self, server: str, path: str, handler: Route) -> None:
        self.routes[(server, path)] = handler

    def api(self, path: str, handler: Route) -> None:
        self.route("api", path, handler)

    def cdn(self, path: str, handler: Route) -> None:
        self.route("cdn", path, handler)

    def requests_to(self, server: str, path: str | None = None) -> list[RecordedRequest]:
        return [
            r
            for r in self.log.snapshot()
            if r.server == server and (path is None or r.path == path)
        ]

    def wait_for_request(self, server: str, path: str, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while not self.requests_to(server, path):
            if time.monotonic() > deadline:
                raise TimeoutError(f"no request to {server}{path}")
            time.sleep(0.02)

    def __enter__(self) -> HostileCivitai:
        for server in self._servers.values():
            server.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stopping.set()
        for server in self._servers.values():
            server.stop()


# -- CivitAI-shaped records: the fields /api/v1/models and /api/v1/images serve (civitai-api.md
# sections 4-5, from src/pages/api/v1/models and images/index.ts), nothing more --------------


def image(
    image_id: Any, cdn: str, *, post_id: int = 500, version_id: int = 30, **extra: Any
) -> dict:
    return {
        "id": image_id,
        "url": f"{cdn}/img/{image_id}.jpeg",
        "postId": post_id,
        "username": "mallory",
        "modelVersionIds": [version_id],
        "type": "image",
        "meta": {"prompt": "a cat"},
        **extra,
    }


def model(
    model_id: int = 10,
    *,
    version_id: int = 30,
    files: list[dict] | None = None,
    **extra: Any,
) -> dict:
    return {
        "id": model_id,
        "name": "Model",
        "type": "LORA",
        "creator": {"username": "mallory"},
        "modelVersions": [
            {
                "id": version_id,
                "modelId": model_id,
                "name": "v1",
                "baseModel": "SDXL 1.0",
                "files": files if files is not None else [],
                "images": [],
            }
        ],
        **extra,
    }


def file_entry(file_id: int, name: str, size: int, sha256: str | None, **extra: Any) -> dict:
    return {
        "id": file_id,
        "name": name,
        "sizeKB": size / 1024,
        "hashes": {"SHA256": sha256.upper()} if sha256 else {},
        "downloadUrl": f"/api/download/models/{file_id}",
        "primary": True,
        **extra,
    }


def images_page(items: list[Any], next_page: str | None = None) -> dict:
    return {"items": items, "metadata": {"nextPage": next_page} if next_page else {}}
