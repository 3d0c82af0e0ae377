"""Fake object storage (presigned model files) and fake image CDN, over real HTTP."""

from __future__ import annotations

import hashlib
import hmac
import itertools
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote, unquote, urlencode

from .faults_cdn import CdnFaults
from .httpbase import FakeHTTPServer, RecordingHandler, RequestLog
from .objects import CHUNK, StoredObject

IMAGE_PREFIX = "xG1nkqKTMzGDvpLrqFT7WA"
_FAST_PIECE = 1 << 20


def _xml_error(code: str, message: str) -> bytes:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{code}</Code><Message>{message}</Message></Error>\n"
    ).encode()


def parse_range(header: str, size: int) -> tuple[int, int] | None | str:
    """Parse a single ``bytes=`` range against ``size``.

    Returns:
        ``(start, end_inclusive)``; ``None`` when the header must be ignored (bad syntax or
        several ranges); the string ``"unsatisfiable"`` for a 416.
    """
    unit, _, spec = header.strip().partition("=")
    if unit.strip().lower() != "bytes" or "," in spec:
        return None
    first, dash, last = spec.strip().partition("-")
    if not dash:
        return None
    try:
        if first == "":
            suffix = int(last)
            if suffix <= 0 or size == 0:
                return "unsatisfiable"
            return max(size - suffix, 0), size - 1
        start = int(first)
        end = int(last) if last != "" else size - 1
    except ValueError:
        return None
    if start < 0 or (last != "" and end < start):
        return None
    if start >= size:
        return "unsatisfiable"
    return start, min(end, size - 1)


class _Signer:
    """HMAC presigning with a serial per URL, so URLs can be revoked by issue order."""

    def __init__(self) -> None:
        self.secret = hashlib.sha256(str(time.time_ns()).encode()).digest()
        self._serials = itertools.count(1)
        self._lock = threading.Lock()
        self._expiry: dict[int, float] = {}
        self._revoked_below: dict[str, int] = {}
        self._revoked_all_below = 0

    def next_serial(self, expires_at: float) -> int:
        with self._lock:
            serial = next(self._serials)
            self._expiry[serial] = expires_at
            return serial

    def current(self) -> int:
        with self._lock:
            serial = next(self._serials)
            self._expiry[serial] = 0.0
            return serial

    def revoke(self, key: str) -> None:
        self._revoked_below[key] = self.current() + 1

    def revoke_all(self) -> None:
        self._revoked_all_below = self.current() + 1

    def clear_revocations(self) -> None:
        self._revoked_below.clear()
        self._revoked_all_below = 0

    def sign(self, key: str, fields: list[tuple[str, str]]) -> str:
        material = key + "\n" + "\n".join(f"{k}={v}" for k, v in fields)
        return hmac.new(self.secret, material.encode(), hashlib.sha256).hexdigest()

    def check(self, key: str, query: dict[str, list[str]]) -> str | None:
        """Return None when valid, else the reason ("invalid" or "expired")."""
        fields = [(k, v[0]) for k, v in query.items() if k != "X-Amz-Signature" and v]
        given = (query.get("X-Amz-Signature") or [""])[0]
        if not given or not hmac.compare_digest(given, self.sign(key, sorted(fields))):
            return "invalid"
        credential = (query.get("X-Amz-Credential") or [""])[0]
        try:
            serial = int(credential.split("/")[1])
        except (IndexError, ValueError):
            return "invalid"
        expires_at = self._expiry.get(serial)
        if expires_at is None:
            return "invalid"
        if time.time() > expires_at:
            return "expired"
        if serial < max(self._revoked_below.get(key, 0), self._revoked_all_below):
            return "expired"
        return None


class FakeCdn:
    """One CDN host: ``kind`` is ``"files"`` (presigned object storage) or ``"images"``."""

    def __init__(self, kind: str, log: RequestLog) -> None:
        if kind not in ("files", "images"):
            raise ValueError(f"unknown CDN kind: {kind}")
        self.kind = kind
        self.faults = CdnFaults()
        self._objects: dict[str, StoredObject] = {}
        self._lock = threading.Lock()
        self._signer = _Signer()
        self.faults._revoke_hook = self._signer.revoke
        self.faults._revoke_all_hook = self._signer.revoke_all
        self.faults._clear_revocations_hook = self._signer.clear_revocations
        self._servers = [FakeHTTPServer(kind, log, _CdnHandler)]
        self.port = self._servers[0].port
        # URLs say "localhost", which may resolve to ::1 first (macOS, Windows); answer there
        # too, so clients do not wait on a refused IPv6 connection before trying IPv4.
        try:
            self._servers.append(FakeHTTPServer(kind, log, _CdnHandler, self.port, "::1"))
        except OSError:
            pass
        for server in self._servers:
            server.cdn = self  # type: ignore[attr-defined]
        self.base_url = f"http://localhost:{self.port}"

    # -- lifecycle ------------------------------------------------------------------------
    def start(self) -> None:
        """Serve in daemon threads."""
        for server in self._servers:
            server.start()

    def stop(self) -> None:
        """Stop serving and close open connections."""
        for server in self._servers:
            server.stop()

    # -- content --------------------------------------------------------------------------
    def put_bytes(self, key: str, data: bytes, content_type: str) -> None:
        """Store ``data`` under ``key``."""
        with self._lock:
            self._objects[key] = StoredObject(len(data), content_type, data=bytes(data))

    def put_generated(
        self, key: str, size: int, seed: int, content_type: str = "application/octet-stream"
    ) -> str:
        """Store a deterministic pseudo-random object produced on the fly.

        Returns:
            The SHA-256 hex digest of the content (computed once by streaming, then cached).
        """
        obj = StoredObject(size, content_type, seed=seed)
        digest = obj.sha256()
        with self._lock:
            self._objects[key] = obj
        return digest

    def put_file(self, key: str, path: Path, content_type: str) -> None:
        """Serve the file at ``path`` under ``key`` (sent with sendfile when possible)."""
        path = Path(path)
        with self._lock:
            self._objects[key] = StoredObject(path.stat().st_size, content_type, path=path)

    def remove(self, key: str) -> None:
        """Delete an object (later requests get 404)."""
        with self._lock:
            self._objects.pop(key, None)

    def get(self, key: str) -> StoredObject | None:
        """The stored object for ``key``, if any."""
        with self._lock:
            return self._objects.get(key)

    def _require(self, key: str) -> StoredObject:
        obj = self.get(key)
        if obj is None:
            raise KeyError(key)
        return obj

    def __contains__(self, key: object) -> bool:
        with self._lock:
            return key in self._objects

    def sha256(self, key: str) -> str:
        """Hex SHA-256 of the object's content."""
        return self._require(key).sha256()

    def size(self, key: str) -> int:
        """Size of the object in bytes."""
        return self._require(key).size

    def read(self, key: str) -> bytes:
        """Whole content of a (small) object."""
        return self._require(key).read()

    # -- URLs -----------------------------------------------------------------------------
    def presign(self, key: str, filename: str, expires_in: float = 86400) -> str:
        """A presigned URL for ``key`` that downloads as ``filename``, valid ``expires_in`` s."""
        now = time.time()
        serial = self._signer.next_serial(now + expires_in)
        fields = [
            ("X-Amz-Algorithm", "AWS4-HMAC-SHA256"),
            ("X-Amz-Credential", f"FAKEACCESSKEY/{serial}/auto/s3/aws4_request"),
            ("X-Amz-Date", datetime.fromtimestamp(now, UTC).strftime("%Y%m%dT%H%M%SZ")),
            ("X-Amz-Expires", str(max(int(expires_in + 0.999), 0))),
            ("X-Amz-SignedHeaders", "host"),
            ("response-content-disposition", f'attachment; filename="{filename}"'),
        ]
        signature = self._signer.sign(key, sorted(fields))
        query = urlencode([*fields, ("X-Amz-Signature", signature)], quote_via=quote)
        return f"{self.base_url}/model/{quote(key, safe='/')}?{query}"

    def image_url(self, uuid: str, name: str, params: str = "original=true") -> str:
        """A CDN URL for the image stored under ``uuid`` (``name`` and ``params`` cosmetic)."""
        return f"{self.base_url}/{IMAGE_PREFIX}/{uuid}/{params}/{quote(name)}"


def _has_credentials(handler: RecordingHandler) -> str | None:
    if handler.headers.get("Authorization") is not None:
        return "Authorization header"
    if "token" in handler.query:
        return "token query parameter"
    cookie = handler.headers.get("Cookie") or ""
    if "civ" in cookie.lower():
        return "CivitAI cookie"
    return None


class _CdnHandler(RecordingHandler):
    server: FakeHTTPServer

    @property
    def cdn(self) -> FakeCdn:
        return self.server.cdn  # type: ignore[attr-defined,no-any-return]

    def do_GET(self) -> None:
        self._serve()

    def do_HEAD(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self.drain_body()
        self.send_body(405, _xml_error("MethodNotAllowed", "Method not allowed"), "application/xml")

    do_PUT = do_POST
    do_DELETE = do_POST

    def _error(self, status: int, code: str, message: str) -> None:
        self.send_body(status, _xml_error(code, message), "application/xml")

    def _key(self) -> str | None:
        path = self.url_path
        if self.cdn.kind == "files":
            if not path.startswith("/model/") or len(path) <= len("/model/"):
                return None
            return unquote(path[len("/model/") :])
        parts = path.split("/")
        # ["", prefix, uuid, params, name]
        if len(parts) != 5 or parts[1] != IMAGE_PREFIX or not parts[2]:
            return None
        return unquote(parts[2])

    def _serve(self) -> None:
        cdn = self.cdn
        creds = _has_credentials(self)
        if creds is not None:
            self._error(
                400,
                "InvalidArgument",
                f"Only one auth mechanism allowed; unexpected {creds} on a presigned request",
            )
            return
        key = self._key()
        if key is None:
            self._error(404, "NoSuchKey", "The specified key does not exist.")
            return
        if cdn.faults.take_reset(key):
            self.drop_with_reset()
            return
        if cdn.kind == "files":
            problem = cdn._signer.check(key, self.query)
            if problem == "expired":
                self._error(403, "AccessDenied", "Request has expired")
                return
            if problem is not None:
                self._error(
                    403,
                    "SignatureDoesNotMatch",
                    "The request signature we calculated does not match the signature you "
                    "provided.",
                )
                return
            cdn.faults.count_signed_request(key)
        forced = cdn.faults.take_status(key)
        if forced is not None:
            self._error(forced, "InjectedError", f"Injected status {forced}")
            return
        obj = cdn.get(key)
        if obj is None:
            self._error(404, "NoSuchKey", "The specified key does not exist.")
            return
        self._send_object(key, obj)

    def _send_object(self, key: str, obj: StoredObject) -> None:
        cdn = self.cdn
        size = obj.size
        status, start, end = 200, 0, size - 1
        range_header = self.headers.get("Range")
        if range_header is not None and not cdn.faults.ignores_range(key):
            parsed = parse_range(range_header, size)
            if parsed == "unsatisfiable":
                self.send_body(
                    416,
                    _xml_error("InvalidRange", "The requested range is not satisfiable"),
                    "application/xml",
                    {"Content-Range": f"bytes */{size}"},
                )
                return
            if isinstance(parsed, tuple):
                status, (start, end) = 206, parsed
                if cdn.faults.wrong_range(key):
                    start = start + 1 if start < end else max(start - 1, 0)
        length = end - start + 1 if size else 0
        self.send_response(status)
        self.send_header("Content-Type", obj.content_type)
        self.send_header("Content-Length", str(length))
        self.send_header("Accept-Ranges", "bytes")
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        if cdn.kind == "files":
            disposition = (self.query.get("response-content-disposition") or [None])[0]
            if disposition:
                self.send_raw_header("Content-Disposition", disposition)
        self.send_header("Cache-Control", "private, max-age=0")
        self.end_headers()
        if self.command == "HEAD" or length == 0:
            return
        cut = cdn.faults.take_truncate(key)
        to_send = length if cut is None else max(0, min(cut, length))
        self._stream(obj, key, start, to_send)
        if to_send < length:
            self.close_now()

    def _stream(self, obj: StoredObject, key: str, start: int, count: int) -> None:
        rate = self.cdn.faults.throttle_bps
        shared = self.cdn.faults.shared_bps
        delay = self.cdn.faults.slow_delay(key)
        if not rate and not shared and not delay and obj.path is not None:
            with obj.path.open("rb") as fh:
                self.connection.sendfile(fh, start, count)
            return
        piece = _FAST_PIECE
        if delay:
            piece = CHUNK
        if rate:
            piece = min(piece, max(1024, int(rate / 20)))
        if shared:  # a line is byte-granular: small pieces, so a rate shows in a short window
            piece = min(piece, max(1024, int(shared / 100)))
        next_free = getattr(self, "_next_free", 0.0)
        first = True
        for block in obj.iter_bytes(start, count, piece):
            if delay and not first:
                time.sleep(delay)
            first = False
            if rate:
                now = time.monotonic()
                if next_free > now:
                    time.sleep(next_free - now)
                    now = next_free
                next_free = now + len(block) / rate
                self._next_free = next_free
            if shared:
                wait = self.cdn.faults.shared_slot(len(block)) - time.monotonic()
                if wait > 0:
                    time.sleep(wait)
            self.wfile.write(block)
