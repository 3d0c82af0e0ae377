"""Shared HTTP plumbing for the fake servers: recording, connection ids, drops, threads."""

from __future__ import annotations

import itertools
import socket
import struct
import sys
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

_connection_ids = itertools.count(1)


@dataclass(frozen=True)
class RecordedRequest:
    """One request as a fake server saw it.

    ``status`` is the status sent, or 0 when the connection was dropped before any status.
    ``connection_id`` is the same for every request that arrived on one TCP connection.
    """

    server: str
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    started: float
    status: int
    range: str | None
    connection_id: int


class RequestLog:
    """Thread-safe, append-only list of :class:`RecordedRequest` shared by all servers."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: list[RecordedRequest] = []

    def append(self, item: RecordedRequest) -> None:
        """Record one request."""
        with self._lock:
            self._items.append(item)

    def snapshot(self) -> list[RecordedRequest]:
        """Return a copy of everything recorded so far, in arrival order of the status."""
        with self._lock:
            return list(self._items)

    def clear(self) -> None:
        """Forget every recorded request."""
        with self._lock:
            self._items.clear()


class FakeHTTPServer(ThreadingHTTPServer):
    """A threading HTTP server that knows its name, its request log and its live sockets."""

    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True

    def __init__(
        self,
        name: str,
        log: RequestLog,
        handler: type[BaseHTTPRequestHandler],
        port: int = 0,
        host: str = "127.0.0.1",
    ) -> None:
        if ":" in host:
            self.address_family = socket.AF_INET6
        self.fake_name = name
        self.log = log
        self._live: set[socket.socket] = set()
        self._live_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        super().__init__((host, port), handler)

    @property
    def port(self) -> int:
        """The port bound on 127.0.0.1."""
        return int(self.server_address[1])

    def track(self, sock: socket.socket, live: bool) -> None:
        """Remember (or forget) a connection so ``stop`` can close it."""
        with self._live_lock:
            if live:
                self._live.add(sock)
            else:
                self._live.discard(sock)

    def start(self) -> None:
        """Serve in a daemon thread."""
        self._thread = threading.Thread(
            target=self.serve_forever,
            kwargs={"poll_interval": 0.02},
            name=f"fakecivitai-{self.fake_name}",
            daemon=True,
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop serving and close every open connection."""
        self.shutdown()
        self.server_close()
        with self._live_lock:
            live = list(self._live)
            self._live.clear()
        for sock in live:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        if self._thread is not None:
            self._thread.join(timeout=5)

    def handle_error(self, request: object, client_address: object) -> None:
        """Stay quiet about clients that went away; report real bugs on stderr."""
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, TimeoutError, OSError)):
            return
        super().handle_error(request, client_address)


class RecordingHandler(BaseHTTPRequestHandler):
    """HTTP/1.1 keep-alive handler that records each request when its status is sent."""

    protocol_version = "HTTP/1.1"
    timeout = 60
    server: FakeHTTPServer

    # -- connection lifecycle -------------------------------------------------------------
    def setup(self) -> None:
        super().setup()
        # Headers and body go out in separate writes; without NODELAY, Nagle plus delayed
        # ACK adds ~40 ms to every small response.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.connection_id = next(_connection_ids)
        self.server.track(self.connection, True)

    def finish(self) -> None:
        self.server.track(self.connection, False)
        try:
            super().finish()
        except OSError:
            pass

    def handle(self) -> None:
        try:
            super().handle()
        except (ConnectionError, TimeoutError):
            pass
        except OSError:
            # The socket was closed under us (a deliberate drop or a server stop).
            pass

    def parse_request(self) -> bool:
        self.started = time.monotonic()
        self._recorded = False
        ok = super().parse_request()
        split = urlsplit(self.path)
        self.url_path = split.path
        self.query = parse_qs(split.query, keep_blank_values=True)
        return ok

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        """Silence the default per-request stderr line."""

    # -- recording ------------------------------------------------------------------------
    def record(self, status: int) -> None:
        """Append this request to the log once (called when the status is decided)."""
        if getattr(self, "_recorded", True):
            return
        self._recorded = True
        headers: dict[str, str] = {}
        for name, value in self.headers.items():
            low = name.lower()
            headers[low] = f"{headers[low]}, {value}" if low in headers else value
        split = urlsplit(self.path)
        self.server.log.append(
            RecordedRequest(
                server=self.server.fake_name,
                method=self.command,
                path=split.path,
                query=parse_qs(split.query, keep_blank_values=True),
                headers=headers,
                started=self.started,
                status=status,
                range=self.headers.get("Range"),
                connection_id=self.connection_id,
            )
        )

    def send_response(self, code: int, message: str | None = None) -> None:
        self.record(code)
        super().send_response(code, message)

    def send_raw_header(self, name: str, value: str) -> None:
        """Send a header whose value is UTF-8 (as real object stores do for file names)."""
        if not hasattr(self, "_headers_buffer"):
            self._headers_buffer = []
        self._headers_buffer.append(f"{name}: ".encode("latin-1") + value.encode("utf-8") + b"\r\n")

    # -- helpers --------------------------------------------------------------------------
    def drain_body(self) -> None:
        """Read and discard a request body so the keep-alive stream stays in sync."""
        length = int(self.headers.get("Content-Length") or 0)
        while length > 0:
            chunk = self.rfile.read(min(length, 65536))
            if not chunk:
                break
            length -= len(chunk)

    def send_body(
        self,
        status: int,
        body: bytes,
        content_type: str,
        extra: dict[str, str] | None = None,
    ) -> None:
        """Send a complete small response with a correct Content-Length."""
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (extra or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def drop_with_reset(self) -> None:
        """Abort the connection with a TCP RST before any response (SO_LINGER 0)."""
        self.record(0)
        self.close_connection = True
        linger = struct.pack("hh" if sys.platform == "win32" else "ii", 1, 0)
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger)
        except OSError:
            pass
        self.server.track(self.connection, False)
        self.connection.close()

    def close_now(self) -> None:
        """Close the connection after a deliberately short body (FIN, not RST)."""
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
