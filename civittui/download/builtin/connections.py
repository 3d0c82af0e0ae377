"""The builtin downloader's HTTP side: one httpx client, a connection cap per host, streams.

The client is httpx's blocking one, driven from worker threads: a body is then copied,
written and hashed in its connection's thread (`pump`), where socket reads, writes and the
hash release the GIL, so one download can use more than the event loop's core, and the loop
only sees progress. Requests are sent from a daemon thread (`daemons`), abandoned (and closed
when they arrive) if the download is cancelled first, so a silent server never holds the
process open.
"""

from __future__ import annotations

import contextlib
import re
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.cookiejar import CookieJar, DefaultCookiePolicy

import anyio
import httpcore
import httpx

from civittui.download.builtin import policy
from civittui.download.builtin.daemons import DaemonThreads
from civittui.download.builtin.failures import CredentialsRefused

__all__ = ["Connections", "Stream", "content_length", "parse_content_range"]

_CONTENT_RANGE = re.compile(r"^\s*bytes\s+(\d+)-(\d+)/(\d+|\*)\s*$", re.IGNORECASE)


def _refuse_credentials(request: httpx.Request) -> None:
    # The API key and cookies belong to the API host only; a CDN must never see them (and
    # presigned storage rejects any Authorization header anyway).
    if "authorization" in request.headers or "cookie" in request.headers:
        raise CredentialsRefused("refusing to send credentials to a download host")
    if "token" in request.url.params:
        raise CredentialsRefused("refusing to send a token in a download URL")


def _widen_reads() -> None:
    """Let httpcore read up to 256 KiB per socket read instead of 64 KiB.

    Per-read Python overhead (h11 events, httpcore's loop) dominates a loopback or LAN
    transfer: measured on a 2-core box, one connection goes from about 230 MB/s to about
    800 MB/s. The attribute is a class-level tunable of httpcore's HTTP/1.1 connection; other
    clients in the process only see larger reads.
    """
    conn = getattr(httpcore, "HTTP11Connection", None)
    if conn is not None and getattr(conn, "READ_NUM_BYTES", policy.READ_SIZE) < policy.READ_SIZE:
        conn.READ_NUM_BYTES = policy.READ_SIZE


def _no_cookies() -> CookieJar:
    """A cookie jar that accepts and returns nothing (a CDN's Set-Cookie is never echoed)."""
    return CookieJar(policy=DefaultCookiePolicy(allowed_domains=[]))


def parse_content_range(value: str | None) -> tuple[int, int, int | None] | None:
    """`bytes a-b/total` -> (a, b, total or None for `*`); None when malformed."""
    match = _CONTENT_RANGE.match(value or "")
    if match is None:
        return None
    start, end, total = match.groups()
    return int(start), int(end), None if total == "*" else int(total)


def content_length(response: httpx.Response) -> int | None:
    """The announced body length, or None."""
    try:
        return int(response.headers["content-length"])
    except (KeyError, ValueError):
        return None


@dataclass(slots=True)
class Stream:
    """An open streamed response plus the per-host connection slot it holds.

    The response is read in a worker thread (`pump`); `interrupt` may be called from any
    thread to make a blocked read return at once.
    """

    response: httpx.Response
    limiter: anyio.CapacityLimiter
    token: object
    asked: tuple[int, int | None] | None
    """The byte range asked for, `[start, end)` (end None: to the end), or None: no Range."""
    threads: anyio.CapacityLimiter
    """The worker threads of the downloader (its transfers must not starve other work)."""

    closed: bool = False
    stopped: bool = False
    """Set by `interrupt`: the reader stops at its next chunk."""
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def interrupt(self) -> None:
        """Stop the reader: flag it and shut the socket down so a blocked read returns."""
        with self._lock:  # never shut a socket that went back to the pool (`done_reading`)
            if self.stopped or self.response.is_closed:
                return
            self.stopped = True
            sock = self.response.extensions.get("network_stream")
            raw = sock.get_extra_info("socket") if sock is not None else None
            if isinstance(raw, socket.socket):
                with contextlib.suppress(OSError):  # already closed
                    # The plain socket's shutdown, even under TLS: `SSLSocket.shutdown` would
                    # drop the TLS state the reading thread is using.
                    socket.socket.shutdown(raw, socket.SHUT_RDWR)

    def done_reading(self) -> None:
        """Close the response from the reading thread (a body read to its end gives the
        connection back to the pool; a cut one closes it)."""
        with self._lock:
            self.response.close()

    async def aclose(self) -> None:
        """Close the response and give the host slot back (idempotent, shielded)."""
        if self.closed:
            return
        self.closed = True
        with anyio.CancelScope(shield=True):
            try:
                if not self.response.is_closed:
                    await anyio.to_thread.run_sync(self.response.close, limiter=self.threads)
            finally:
                self.limiter.release_on_behalf_of(self.token)


@dataclass(slots=True)
class _Sending:
    """A request sent from a thread the caller may abandon: whoever comes second closes."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    response: httpx.Response | None = None
    abandoned: bool = False

    def deliver(self, response: httpx.Response) -> httpx.Response:
        with self.lock:
            self.response = response
            abandoned = self.abandoned
        if abandoned:
            response.close()
        return response

    def abandon(self) -> httpx.Response | None:
        """Mark the request abandoned; the response if it already arrived (to be closed)."""
        with self.lock:
            self.abandoned = True
            return self.response


class Connections:
    """The client every download shares, with at most `per_host` connections to one host."""

    def __init__(self, *, per_host: int, user_agent: str, timeout: httpx.Timeout) -> None:
        _widen_reads()
        self._per_host = max(per_host, 1)
        # httpx pool limits are global; the cap per host is a CapacityLimiter per host below.
        limits = httpx.Limits(
            max_connections=None,
            max_keepalive_connections=self._per_host * 2,
            keepalive_expiry=15.0,
        )
        self._client = httpx.Client(
            headers={"User-Agent": user_agent, "Accept-Encoding": "identity"},
            timeout=timeout,
            limits=limits,
            cookies=_no_cookies(),
            follow_redirects=True,
            max_redirects=5,
            event_hooks={"request": [_refuse_credentials]},
        )
        self._hosts: dict[str, anyio.CapacityLimiter] = {}
        self._threads: anyio.CapacityLimiter | None = None
        self._senders = DaemonThreads()

    @property
    def threads(self) -> anyio.CapacityLimiter:
        """The downloader's own worker threads (made in the event loop on first use)."""
        if self._threads is None:
            self._threads = anyio.CapacityLimiter(policy.THREADS)
        return self._threads

    async def aclose(self) -> None:
        """Close the connection pool."""
        await anyio.to_thread.run_sync(self._client.close, limiter=self.threads)

    def _limiter(self, url: httpx.URL) -> anyio.CapacityLimiter:
        host = f"{url.host}:{url.port or ''}"
        limiter = self._hosts.get(host)
        if limiter is None:
            limiter = anyio.CapacityLimiter(self._per_host)
            self._hosts[host] = limiter
        return limiter

    async def open(
        self,
        url: str,
        headers: dict[str, str],
        asked: tuple[int, int | None] | None,
        prepare: Callable[[], None] | None = None,
    ) -> Stream:
        """Send a GET and return the streamed response once its headers are in.

        `prepare` runs first, in the same thread (what it raises is raised, nothing sent).
        """
        target = httpx.URL(url)
        limiter = self._limiter(target)
        token = object()
        await limiter.acquire_on_behalf_of(token)
        sending = _Sending()

        def send() -> httpx.Response:
            if prepare is not None:
                prepare()
            req = self._client.build_request("GET", target, headers=headers)
            return sending.deliver(self._client.send(req, stream=True))

        try:
            with anyio.fail_after(policy.OPEN_DEADLINE):
                response = await self._senders.run(send, limiter=self.threads)
        except BaseException:
            arrived = sending.abandon()
            limiter.release_on_behalf_of(token)
            if arrived is not None:
                arrived.close()  # headers only: closing drops the connection, no wait
            raise
        return Stream(response, limiter, token, asked, self.threads)
