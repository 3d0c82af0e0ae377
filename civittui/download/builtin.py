"""The builtin downloader: httpx streaming into a `.part`, segmented, resumable, verified.

Small files (and images) come over one stream; files of at least `segment_min` bytes are fetched
as up to `segments` byte ranges over parallel connections, written at their offsets into one
preallocated `.part`, with finished ranges recorded beside it (`.part.ranges`) so a later run
fetches only what is missing. A connection that runs out of work takes half of the largest
remaining range. The SHA256 is computed while streaming for the contiguous front of the file
and by reading the rest back once it is assembled; only a verified file gets its final name.
"""

from __future__ import annotations

import contextlib
import math
import re
from dataclasses import dataclass
from http.cookiejar import CookieJar, DefaultCookiePolicy
from pathlib import Path

import anyio
import anyio.abc
import anyio.lowlevel
import httpcore
import httpx

from civittui import USER_AGENT
from civittui.config import DownloadSettings
from civittui.download.base import Downloader, DownloadRequest, DownloadResult, Progress
from civittui.download.partfile import (
    ControlData,
    PartWriter,
    PrefixHasher,
    control_path,
    fsync_path,
    part_path,
    read_control,
    read_head,
    remove_quietly,
    write_control,
)
from civittui.download.segments import RangePlan, Segment
from civittui.download.sniff import (
    extension_for,
    extension_from_magic,
    looks_like_error_page,
    safetensors_header_problem,
)
from civittui.download.verify import SIZE_TOLERANCE, size_difference, size_matches
from civittui.errors import DownloadError, ItemError

__all__ = ["BuiltinDownloader"]

DEFAULT_TIMEOUT = httpx.Timeout(connect=20.0, read=60.0, write=30.0, pool=60.0)
MIN_SPLIT = 1 << 20
"""A range is split for an idle connection only if both halves get at least this much."""
MAX_ATTEMPTS = 5
"""Consecutive failed attempts of one range without a byte of progress."""
MAX_FAILURES = 30
"""Transient failures of one download in total (progress or not)."""
MAX_REFRESHES = 3
"""Fresh presigned URLs asked for one download."""
MAX_RESTARTS = 2
"""Times a download starts over from byte 0 because the server misbehaved."""
FLUSH_INTERVAL = 0.5
"""Seconds between control-file flushes while ranges progress."""
COMMIT_INTERVAL = 0.25
"""Seconds a slow connection's bytes may wait in memory before they are written."""
IMAGE_MAX_BYTES = 2 << 30
"""An image or video bigger than this is refused: CivitAI's largest media (long videos) are
a few hundred MB, so 2 GiB leaves room and still stops a body that never ends."""
STALL_WINDOW = 30.0
"""Seconds over which a transfer must bring at least `STALL_MIN_BYTES`, else it has stalled
(the per-read timeout never fires on a server that sends one byte every few seconds)."""
STALL_MIN_BYTES = 64 * 1024
OPEN_DEADLINE = 90.0
"""Seconds to connect and receive a response's headers, however slowly they trickle."""
_SAFETENSORS_PARSE_LIMIT = 16 << 20
_READ_SIZE = 256 * 1024
_RETRY_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})
_EXPIRED_STATUSES = frozenset({400, 401, 403})
_GONE_STATUSES = frozenset({404, 410})
_CONTENT_RANGE = re.compile(r"^\s*bytes\s+(\d+)-(\d+)/(\d+|\*)\s*$", re.IGNORECASE)
_UNSATISFIED_RANGE = re.compile(r"^\s*bytes\s+\*/(\d+)\s*$", re.IGNORECASE)


class _Restart(Exception):
    """The server misbehaved: drop the `.part` and start over (plain: without Range)."""

    def __init__(self, why: str, *, plain: bool) -> None:
        super().__init__(why)
        self.why = why
        self.plain = plain


class _Unsatisfiable(Exception):
    """The server answered 416; `total` is the size it announced, if any."""

    def __init__(self, total: int | None) -> None:
        super().__init__(total)
        self.total = total


class _CredentialsRefused(Exception):
    """A request to a download host would have carried credentials."""


class _BadContent(Exception):
    """The body is not the file (an error page): the `.part` is deleted, the download fails."""


_PRIORITY = (_CredentialsRefused, _BadContent, DownloadError, _Restart, _Unsatisfiable)


def _pick(group: BaseExceptionGroup[BaseException]) -> BaseException:
    """The exception that explains a failed task group (the first by `_PRIORITY`)."""
    leaves: list[BaseException] = []
    pending: list[BaseException] = [group]
    while pending:
        exc = pending.pop(0)
        if isinstance(exc, BaseExceptionGroup):
            pending.extend(exc.exceptions)
        else:
            leaves.append(exc)
    for kind in _PRIORITY:
        for exc in leaves:
            if isinstance(exc, kind):
                return exc
    return group


async def _refuse_credentials(request: httpx.Request) -> None:
    # The API key and cookies belong to the API host only; a CDN must never see them (and
    # presigned storage rejects any Authorization header anyway).
    if "authorization" in request.headers or "cookie" in request.headers:
        raise _CredentialsRefused("refusing to send credentials to a download host")
    if "token" in request.url.params:
        raise _CredentialsRefused("refusing to send a token in a download URL")


def _widen_reads() -> None:
    """Let httpcore read up to 256 KiB per socket read instead of 64 KiB.

    Per-read Python overhead (h11 events, anyio receive, httpcore's loop) dominates a loopback
    or LAN transfer: measured on a 2-core box, `aiter_raw` over one connection goes from about
    230 MB/s to about 800 MB/s. asyncio hands over at most 256 KiB per read anyway. The
    attribute is a class-level tunable of httpcore's HTTP/1.1 connection; other clients in the
    process only see larger reads.
    """
    conn = getattr(httpcore, "AsyncHTTP11Connection", None)
    if conn is not None and getattr(conn, "READ_NUM_BYTES", _READ_SIZE) < _READ_SIZE:
        conn.READ_NUM_BYTES = _READ_SIZE


def _no_cookies() -> CookieJar:
    """A cookie jar that accepts and returns nothing (a CDN's Set-Cookie is never echoed)."""
    return CookieJar(policy=DefaultCookiePolicy(allowed_domains=[]))


def _describe(exc: BaseException) -> str:
    """A failure reason for a transport error, in our words (never a URL)."""
    if isinstance(exc, httpx.TimeoutException):
        return "the connection timed out"
    if isinstance(exc, httpx.RemoteProtocolError):
        return "the server closed the connection mid-transfer"
    if isinstance(exc, httpx.ConnectError):
        return "could not connect to the download host"
    if isinstance(exc, (httpx.ReadError, httpx.WriteError)):
        return "the connection was reset"
    if isinstance(exc, _ShortBody):
        return "the server sent fewer bytes than announced"
    if isinstance(exc, _Stalled):
        return f"the download stalled (less than {STALL_MIN_BYTES >> 10} KiB in {STALL_WINDOW:g} s)"
    if isinstance(exc, TimeoutError):
        return "the server took too long to answer"
    return "the transfer failed"


class _ShortBody(Exception):
    """A response ended cleanly but before the bytes it announced."""


class _Stalled(Exception):
    """A response kept its connection alive but brought almost nothing (see `STALL_WINDOW`)."""


@dataclass(slots=True)
class _Stream:
    """An open streamed response plus the per-host connection slot it holds."""

    response: httpx.Response
    limiter: anyio.CapacityLimiter
    token: object
    asked: tuple[int, int | None] | None
    """The byte range asked for, `[start, end)` (end None: to the end), or None: no Range."""

    closed: bool = False

    async def aclose(self) -> None:
        if self.closed:
            return
        self.closed = True
        with anyio.CancelScope(shield=True):
            try:
                await self.response.aclose()
            finally:
                self.limiter.release_on_behalf_of(self.token)


class BuiltinDownloader(Downloader):
    """httpx-based engine: resumable, segmented, verified downloads from presigned URLs/CDNs.

    Args:
        settings: `[download]` settings (segments, segment_min, connections_per_host).
        user_agent: User-Agent sent to the download hosts.
        timeout: httpx timeouts (default: connect 20 s, read 60 s).
        chunk_size: bytes gathered from a connection before one write (and hash) in a thread.
    """

    name = "builtin"

    def __init__(
        self,
        settings: DownloadSettings,
        *,
        user_agent: str = USER_AGENT,
        timeout: httpx.Timeout | None = None,
        chunk_size: int = 1 << 20,
    ) -> None:
        _widen_reads()
        self.settings = settings
        self.chunk_size = max(chunk_size, 64 * 1024)
        self.hash_while_downloading = False
        """Also hash the contiguous prefix in a thread as it grows (see bench/download.py)."""
        per_host = max(settings.connections_per_host, 1)
        # httpx pool limits are global; the cap per host is a CapacityLimiter per host below.
        limits = httpx.Limits(
            max_connections=None, max_keepalive_connections=per_host * 2, keepalive_expiry=15.0
        )
        self._client = httpx.AsyncClient(
            headers={"User-Agent": user_agent, "Accept-Encoding": "identity"},
            timeout=timeout or DEFAULT_TIMEOUT,
            limits=limits,
            cookies=_no_cookies(),
            follow_redirects=True,
            max_redirects=5,
            event_hooks={"request": [_refuse_credentials]},
        )
        self._hosts: dict[str, anyio.CapacityLimiter] = {}

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._client.aclose()

    async def download(self, request: DownloadRequest, progress: Progress) -> DownloadResult:
        """Fetch `request.url` to `request.dest`, verified, atomically renamed.

        Args:
            request: what to fetch and how to check it.
            progress: called with (bytes on disk, total or None) as bytes arrive.

        Returns:
            The verified file under its final name.

        Raises:
            DownloadError: transfer failed, body was not the file, or verification failed.
        """
        job = _Job(self, request, progress)
        return await job.run()

    def _limiter(self, url: httpx.URL) -> anyio.CapacityLimiter:
        host = f"{url.host}:{url.port or ''}"
        limiter = self._hosts.get(host)
        if limiter is None:
            limiter = anyio.CapacityLimiter(max(self.settings.connections_per_host, 1))
            self._hosts[host] = limiter
        return limiter

    async def _open(
        self, url: str, headers: dict[str, str], asked: tuple[int, int | None] | None
    ) -> _Stream:
        target = httpx.URL(url)
        limiter = self._limiter(target)
        token = object()
        await limiter.acquire_on_behalf_of(token)
        try:
            req = self._client.build_request("GET", target, headers=headers)
            with anyio.fail_after(OPEN_DEADLINE):
                response = await self._client.send(req, stream=True)
        except BaseException:
            limiter.release_on_behalf_of(token)
            raise
        return _Stream(response, limiter, token, asked)


def _parse_content_range(value: str | None) -> tuple[int, int, int | None] | None:
    match = _CONTENT_RANGE.match(value or "")
    if match is None:
        return None
    start, end, total = match.groups()
    return int(start), int(end), None if total == "*" else int(total)


def _content_length(response: httpx.Response) -> int | None:
    try:
        return int(response.headers["content-length"])
    except (KeyError, ValueError):
        return None


class _Job:
    """One download: the URL (refreshed when it expires), the plan, the part file, the hash."""

    def __init__(self, owner: BuiltinDownloader, request: DownloadRequest, progress: Progress):
        self.owner = owner
        self.request = request
        self.progress = progress
        self.settings = owner.settings
        self.part = part_path(request.dest)
        self.control = control_path(request.dest)
        self.url = request.url
        self.generation = 0
        self.refreshes = 0
        self.refresh_lock = anyio.Lock()
        self.failures = 0
        self.plain = False
        self.content_type: str | None = None
        self.hasher = PrefixHasher()
        self.plan = RangePlan(0)
        self.single = True
        self.use_control = False
        self.done = 0
        self.dirty = False
        self.total_known = False

    # -- top level ------------------------------------------------------------------------
    async def run(self) -> DownloadResult:
        last = ""
        for _ in range(MAX_RESTARTS + 1):
            try:
                try:
                    return await self._attempt()
                except BaseExceptionGroup as group:
                    raise _pick(group) from None
            except _Restart as restart:
                await anyio.to_thread.run_sync(remove_quietly, self.part, self.control)
                self.plain = self.plain or restart.plain
                last = restart.why
            except _BadContent as bad:
                with anyio.CancelScope(shield=True):
                    await anyio.to_thread.run_sync(remove_quietly, self.part, self.control)
                raise DownloadError(str(bad)) from None
            except _CredentialsRefused as exc:
                raise DownloadError(str(exc), permanent=True) from None
        raise DownloadError(f"download failed: {last}")

    async def _attempt(self) -> DownloadResult:
        self.hasher = PrefixHasher()
        control, part_size = await anyio.to_thread.run_sync(self._load)
        self.use_control = control is not None
        if control is not None:
            self.content_type = control.content_type
            self.plan = RangePlan(control.total, control.done, min_split=MIN_SPLIT)
            self.total_known = True
            if self.plan.complete:
                return await self._finish()
            done: list[tuple[int, int]] = control.done
            known_total: int | None = control.total
        else:
            done = [(0, part_size)] if part_size else []
            known_total = None
        start = RangePlan(known_total or 1 << 62, done).first_missing() or 0
        size_hint = known_total or self.request.expected_size or 0
        # Model files of unknown size are probed with an open-ended range, so a big one can
        # still be split once the first answer tells its size.
        segmented = (
            not self.plain
            and self.settings.segments > 1
            and (
                size_hint >= self.settings.segment_min
                or (size_hint == 0 and self.request.kind == "file")
            )
        )
        first_end: int | None = None
        if segmented and size_hint:
            draft = RangePlan(size_hint, done, min_split=MIN_SPLIT)
            draft.spread(self.settings.segments)
            first_end = draft.planned_end(start)
            if first_end <= start:  # the part already holds what was expected: ask the rest
                first_end = None
        try:
            stream = await self._request(start, first_end, ranged=segmented or start > 0)
        except _Unsatisfiable as exc:
            return await self._after_416(exc.total, part_size, control)
        try:
            first = await self._start_plan(stream, start, first_end, done, known_total, segmented)
        except BaseException:
            await stream.aclose()
            raise
        return await self._transfer(first, stream)

    def _load(self) -> tuple[ControlData | None, int]:
        """Read what an earlier run left: a control file and/or a `.part` (thread)."""
        self.part.parent.mkdir(parents=True, exist_ok=True)
        try:
            part_size = self.part.stat().st_size
        except FileNotFoundError:
            part_size = 0
            remove_quietly(self.control)
            return None, 0
        control = read_control(self.control)
        if control is not None:
            expected = (self.request.sha256 or "").lower() or None
            recorded = (control.sha256 or "").lower() or None
            if part_size != control.total or expected != recorded:
                remove_quietly(self.part, self.control)
                return None, 0
        elif self.control.exists():
            remove_quietly(self.part, self.control)
            return None, 0
        return control, part_size

    async def _after_416(
        self, total: int | None, part_size: int, control: ControlData | None
    ) -> DownloadResult:
        expected = self.request.expected_size
        whole = part_size > 0 and (
            total == part_size
            or (total is None and expected is not None and size_matches(part_size, expected))
        )
        if control is None and whole:
            self.plan = RangePlan(part_size, [(0, part_size)])
            self.total_known = True
            return await self._finish()
        raise _Restart("the server refused the byte range (HTTP 416)", plain=part_size == 0)

    async def _start_plan(
        self,
        stream: _Stream,
        start: int,
        first_end: int | None,
        done: list[tuple[int, int]],
        known_total: int | None,
        segmented: bool,
    ) -> Segment | None:
        """Learn the object from the first response and lay out the ranges.

        Returns:
            The range the first response fills, or None when the file is empty.
        """
        response = stream.response
        self.content_type = response.headers.get("content-type")
        self._check_content_type()
        if response.status_code == 200:
            # No Range sent, or the server ignores it: one stream from byte 0, nothing kept.
            length = _content_length(response)
            if length is not None:
                self._check_total(length)
            total = length if length is not None else 1 << 62
            self.total_known = length is not None
            self.single, self.use_control = True, False
            await anyio.to_thread.run_sync(self._restart_part)
            self.plan = RangePlan(total, [], min_split=1 << 62)
            if not self.plan.segments:  # an empty file
                return None
            self.plan.segments[0].active = True
            return self.plan.segments[0]
        parsed = _parse_content_range(response.headers.get("content-range"))
        asked_end = None if first_end is None else first_end - 1
        if (
            parsed is None
            or parsed[0] != start
            or parsed[2] is None
            or (asked_end is not None and parsed[1] > asked_end)
        ):
            raise _Restart("the server sent a byte range other than the one asked", plain=True)
        total = parsed[2]
        if known_total is not None and total != known_total:
            raise _Restart("the file changed on the server", plain=False)
        self._check_total(total)
        self.total_known = True
        segmented = segmented and total >= self.settings.segment_min
        self.single = not segmented
        self.use_control = self.use_control or segmented
        self.plan = RangePlan(total, done, min_split=MIN_SPLIT if segmented else 1 << 62)
        if segmented:
            self.plan.spread(self.settings.segments, first_end=first_end)
        seg = self.plan.claim(start)
        if seg is None:  # cannot happen: `start` is the first missing byte
            raise _Restart("inconsistent resume state", plain=False)
        return seg

    def _restart_part(self) -> None:
        """Empty the `.part` (a body from byte 0 follows) and forget recorded ranges (thread)."""
        remove_quietly(self.control)
        writer = PartWriter(self.part)
        try:
            writer.truncate(0)
        finally:
            writer.close()

    def _check_content_type(self) -> None:
        if self.request.kind == "file" or self.request.check_safetensors:
            what = looks_like_error_page(self.content_type, b"")
        else:
            ctype = (self.content_type or "").split(";")[0].strip().lower()
            what = "HTML page" if ctype in ("text/html", "application/xhtml+xml") else None
        if what is not None:
            raise _BadContent(self._error_page_reason(what))

    def _error_page_reason(self, what: str) -> str:
        noun = "image" if self.request.kind == "image" else "file"
        return (
            f"server sent an {what} instead of the {noun}: login may be required, "
            "or the download link is no longer valid"
        )

    def _byte_cap(self) -> int:
        """The most bytes this download may have: the announced size (+ tolerance), else
        `IMAGE_MAX_BYTES` for media; a model file of unknown size is not capped."""
        expected = self.request.expected_size
        if expected is not None:
            return expected + SIZE_TOLERANCE
        return IMAGE_MAX_BYTES if self.request.kind == "image" else 1 << 62

    def _check_total(self, total: int) -> None:
        """Refuse a body whose announced length is not what the API announced (before a byte
        is written: a 290 KB model once grew to 52 MB, images of 6 KB to 17 MB)."""
        expected = self.request.expected_size
        if expected is not None and not size_matches(total, expected):
            raise _BadContent(
                f"the server offers {total:,} bytes of {expected:,}: not the expected file"
            )
        if total > self._byte_cap():
            raise _BadContent(f"the server offers {total:,} bytes, over the {self._noun} cap")

    @property
    def _noun(self) -> str:
        return "image" if self.request.kind == "image" else "file"

    # -- transfer -------------------------------------------------------------------------
    async def _transfer(self, first: Segment | None, stream: _Stream) -> DownloadResult:
        if first is None:
            await stream.aclose()
            return await self._finish()
        self.done = self.plan.done_bytes()
        segmented = not self.single
        try:
            if self.use_control:
                await anyio.to_thread.run_sync(self._prepare_segmented)
            elif self.done:
                # Resuming one stream: hash what is already on disk first, then stream on.
                await anyio.to_thread.run_sync(self.hasher.catch_up, self.part, self.done)
            self._report()
            async with anyio.create_task_group() as outer:
                if self.use_control:
                    outer.start_soon(self._flusher)
                async with anyio.create_task_group() as workers:
                    workers.start_soon(self._worker, first, stream)
                    stream = None  # type: ignore[assignment]  # the worker owns it now
                    if segmented:
                        for _ in range(self.settings.segments - 1):
                            workers.start_soon(self._worker, None, None)
                outer.cancel_scope.cancel()
        finally:
            if stream is not None:
                await stream.aclose()
            if self.use_control:
                with anyio.CancelScope(shield=True):
                    await anyio.to_thread.run_sync(self._flush_control)
        return await self._finish()

    def _prepare_segmented(self) -> None:
        """Record the plan, then preallocate the `.part` to full size (thread)."""
        self._flush_control()
        writer = PartWriter(self.part)
        try:
            if writer.size() != self.plan.total:
                writer.truncate(self.plan.total)
        finally:
            writer.close()

    def _flush_control(self) -> None:
        write_control(
            self.control,
            ControlData(
                self.plan.total,
                self.plan.done_intervals(),
                self.request.sha256.lower() if self.request.sha256 else None,
                self.content_type,
            ),
        )
        self.dirty = False

    async def _flusher(self) -> None:
        while True:
            await anyio.sleep(FLUSH_INTERVAL)
            if self.dirty:
                await anyio.to_thread.run_sync(self._flush_control)
            if self.owner.hash_while_downloading:
                await self._hash_prefix()

    async def _hash_prefix(self) -> None:
        prefix = self.plan.contiguous_prefix()
        if prefix - self.hasher.offset >= 4 * MIN_SPLIT and self.hasher.claim(self.hasher.offset):
            try:
                await anyio.to_thread.run_sync(self.hasher.catch_up, self.part, prefix)
            finally:
                self.hasher.busy = False

    async def _worker(self, seg: Segment | None, stream: _Stream | None) -> None:
        writer: PartWriter | None = None
        try:
            writer = await anyio.to_thread.run_sync(PartWriter, self.part)
            while True:
                if seg is None:
                    seg = self.plan.take()
                    if seg is None:
                        return
                try:
                    await self._fetch(seg, stream, writer)
                finally:
                    self.plan.release(seg)
                seg, stream = None, None
        finally:
            if stream is not None:
                await stream.aclose()
            if writer is not None:
                with anyio.CancelScope(shield=True):
                    await anyio.to_thread.run_sync(writer.close)

    async def _fetch(self, seg: Segment, stream: _Stream | None, writer: PartWriter) -> None:
        """Fetch `[seg.pos, seg.end)`, reconnecting with Range after failures."""
        attempts = 0
        while not seg.finished:
            before = seg.pos
            try:
                if stream is None:
                    stream = await self._request(seg.pos, seg.end if self.total_known else None)
                    self._check_range(stream, seg, writer)
                await self._pump(stream, seg, writer)
                if not self.total_known:  # a body without a length ended cleanly: all of it
                    self.plan.total = seg.end = seg.pos
                    self.total_known = True
                elif not seg.finished and seg.pos == before:
                    raise _ShortBody()
            except (httpx.TransportError, _ShortBody, _Stalled, TimeoutError) as exc:
                # A trickle is progress of a kind that must not reset the attempts.
                progressed = seg.pos > before and not isinstance(exc, _Stalled)
                attempts = 0 if progressed else attempts + 1
                await self._count_failure(attempts, _describe(exc))
            finally:
                if stream is not None:
                    await stream.aclose()
                stream = None

    def _check_range(self, stream: _Stream, seg: Segment, writer: PartWriter) -> None:
        response = stream.response
        if response.status_code == 200:
            if not self.single or self.use_control:
                raise _Restart("the server stopped honouring byte ranges", plain=True)
            # 200 to a resumed single stream: the body starts at byte 0 again.
            writer.truncate(0)
            self.hasher.reset()
            self.plan = RangePlan(self.plan.total, [], min_split=1 << 62)
            seg.start = seg.pos = 0
            seg.end = self.plan.total
            self.plan.segments = [seg]
            seg.active = True
            self.done = 0
            length = _content_length(response)
            if length is not None:
                self._check_total(length)
                self.plan.total = seg.end = length
            return
        parsed = _parse_content_range(response.headers.get("content-range"))
        asked = stream.asked or (seg.pos, None)
        if (
            parsed is None
            or parsed[0] != asked[0]
            or parsed[0] != seg.pos
            or (asked[1] is not None and parsed[1] >= asked[1])
        ):
            raise _Restart("the server sent a byte range other than the one asked", plain=True)
        if parsed[2] is not None and self.total_known and parsed[2] != self.plan.total:
            raise _Restart("the file changed on the server", plain=False)
        if not self.total_known and parsed[2] is not None:
            self._check_total(parsed[2])
            self.plan.total = seg.end = parsed[2]
            self.total_known = True

    async def _pump(self, stream: _Stream, seg: Segment, writer: PartWriter) -> None:
        """Copy a response body to the part at `seg.pos` until `seg.end` or the body ends.

        Bytes are gathered into `chunk_size` buffers; a second task writes (and hashes) one
        buffer in a thread while the next one arrives.
        """
        response = stream.response
        announced = _content_length(response)
        send, receive = anyio.create_memory_object_stream[tuple[int, bytearray]](1)
        failure: BaseException | None = None
        received = 0
        cap = self._byte_cap()
        window_end = anyio.current_time() + STALL_WINDOW
        window_bytes = 0
        async with receive, anyio.create_task_group() as tg:  # closed even if never drained
            tg.start_soon(self._drain, receive, seg, writer)
            async with send:
                buffer = bytearray()
                offset = seg.fetched = seg.pos
                next_commit = anyio.current_time() + COMMIT_INTERVAL
                try:
                    async for chunk in response.aiter_raw():
                        received += len(chunk)
                        # A known total was checked against the cap; only an open end can run on.
                        if not self.total_known and seg.fetched + len(chunk) > cap:
                            raise _BadContent(
                                f"the server sent more than the {cap} bytes expected of the "
                                f"{self._noun} (refused)"
                            )
                        window_bytes += len(chunk)
                        if anyio.current_time() >= window_end:
                            if window_bytes < STALL_MIN_BYTES:
                                raise _Stalled()
                            window_end = anyio.current_time() + STALL_WINDOW
                            window_bytes = 0
                        room = seg.end - (offset + len(buffer))
                        if len(chunk) > room:
                            # Past the (possibly shrunk) end: keep what belongs here, hang up.
                            buffer += chunk[: max(room, 0)]
                            seg.fetched += max(room, 0)
                            break
                        buffer += chunk
                        seg.fetched += len(chunk)
                        # Full buffer, or a slow connection: hand over what arrived.
                        if len(buffer) >= self.owner.chunk_size or (
                            anyio.current_time() >= next_commit
                        ):
                            await send.send((offset, buffer))
                            offset += len(buffer)
                            buffer = bytearray()
                            next_commit = anyio.current_time() + COMMIT_INTERVAL
                except (httpx.TransportError, _ShortBody, _Stalled) as exc:
                    failure = exc  # what arrived before the failure is still written
                except anyio.BrokenResourceError:
                    # The writer task is gone: cancelled (Ctrl+C) or failed. The task group
                    # reports which; this side only has to stop feeding it.
                    await anyio.lowlevel.checkpoint()
                    buffer = bytearray()
                if buffer:
                    with anyio.CancelScope(shield=True):
                        try:
                            await send.send((offset, buffer))
                        except anyio.BrokenResourceError:
                            pass  # same as above: the task group raises the real reason
        if failure is not None:
            raise failure
        if not seg.finished and announced is not None and received < announced:
            raise _ShortBody()

    async def _drain(
        self,
        receive: anyio.abc.ObjectReceiveStream[tuple[int, bytearray]],
        seg: Segment,
        writer: PartWriter,
    ) -> None:
        async with receive:
            async for offset, data in receive:
                await self._commit(seg, offset, data, writer)

    async def _commit(self, seg: Segment, offset: int, data: bytearray, writer: PartWriter) -> None:
        """Write bytes at `offset` (and hash them when they extend the hashed prefix)."""
        end = min(offset + len(data), seg.end)
        if end <= offset or offset != seg.pos:
            return
        view = memoryview(data)[: end - offset]
        if offset == 0:
            self._sniff_head(bytes(view[:512]))
        feed = self.hasher.claim(offset)
        try:
            await anyio.to_thread.run_sync(self._write, writer, offset, view, feed)
        finally:
            if feed:
                self.hasher.busy = False
        seg.pos = end
        self.done += end - offset
        self.dirty = True
        self._report()

    def _write(self, writer: PartWriter, offset: int, view: memoryview, feed: bool) -> None:
        writer.write_at(offset, view)
        if feed:
            self.hasher.update(view)

    def _sniff_head(self, head: bytes) -> None:
        if self.request.kind != "file" and not self.request.check_safetensors:
            return
        what = looks_like_error_page(self.content_type, head)
        if what is None and self.request.check_safetensors and head[:1] in (b"{", b"["):
            what = "JSON document"
        if what is not None:
            raise _BadContent(self._error_page_reason(what))

    def _report(self) -> None:
        total = self.plan.total if self.total_known else None
        self.progress(self.done, total)

    # -- requests -------------------------------------------------------------------------
    async def _request(self, start: int, end: int | None, *, ranged: bool = True) -> _Stream:
        """Open a GET for bytes `[start, end)` (end None: to the end), retrying what helps.

        Args:
            start: first byte wanted.
            end: end of the range (exclusive), or None for "to the end of the file".
            ranged: send a Range header (a plain first request does not).

        Raises:
            _Unsatisfiable: 416.
            DownloadError: a refusal retrying cannot fix, or too many failures.
        """
        attempts = 0
        while True:
            headers: dict[str, str] = {}
            if ranged and not self.plain:
                headers["Range"] = f"bytes={start}-{'' if end is None else end - 1}"
            generation = self.generation
            asked = (start, end) if headers else None
            try:
                stream = await self.owner._open(self.url, headers, asked)
            except (httpx.TransportError, TimeoutError) as exc:
                attempts += 1
                await self._count_failure(attempts, _describe(exc))
                continue
            status = stream.response.status_code
            if status in (200, 206):
                return stream
            retry_after = stream.response.headers.get("retry-after")
            content_range = stream.response.headers.get("content-range")
            await stream.aclose()
            if status == 416:
                match = _UNSATISFIED_RANGE.match(content_range or "")
                raise _Unsatisfiable(int(match.group(1)) if match else None)
            if status in _EXPIRED_STATUSES:
                await self._refresh(generation, status)
                continue
            if status in _GONE_STATUSES:
                raise DownloadError(
                    f"the file is gone from the download server (HTTP {status})",
                    http_status=status,
                    permanent=True,
                )
            if status in _RETRY_STATUSES:
                attempts += 1
                await self._count_failure(
                    attempts, f"the download server is busy (HTTP {status})", status, retry_after
                )
                continue
            raise DownloadError(
                f"the download server refused the request (HTTP {status})", http_status=status
            )

    async def _count_failure(
        self,
        attempts: int,
        reason: str,
        status: int | None = None,
        retry_after: str | None = None,
    ) -> None:
        """Count a transient failure; wait a little, or give up with the reason."""
        self.failures += 1
        if attempts > MAX_ATTEMPTS or self.failures > MAX_FAILURES:
            raise DownloadError(
                f"{reason} (gave up after {self.failures} tries)", http_status=status
            )
        delay = min(0.25 * 2 ** max(attempts - 1, 0), 8.0)
        with contextlib.suppress(TypeError, ValueError):
            asked = float(retry_after or "")
            if math.isfinite(asked):  # `Retry-After: nan` once crashed the run
                delay = min(max(asked, delay), 60.0)
        await anyio.sleep(delay)

    async def _refresh(self, generation: int, status: int) -> None:
        """Ask for a fresh presigned URL once per expiry, whichever range noticed it first."""
        async with self.refresh_lock:
            if self.generation != generation:
                return  # another range already got a fresh URL
            if self.request.refresh_url is None:
                raise DownloadError(
                    f"the download link expired or was refused (HTTP {status})",
                    http_status=status,
                )
            if self.refreshes >= MAX_REFRESHES:
                raise DownloadError(
                    f"the download link kept being refused (HTTP {status}) "
                    f"after {self.refreshes} fresh links",
                    http_status=status,
                )
            self.refreshes += 1
            try:
                self.url = await self.request.refresh_url()
            except ItemError as exc:
                raise DownloadError(
                    f"could not get a fresh download link: {exc.reason}",
                    http_status=exc.http_status,
                    permanent=exc.permanent,
                    retry_at=exc.retry_at,
                ) from exc
            self.generation += 1

    # -- verification ---------------------------------------------------------------------
    async def _finish(self) -> DownloadResult:
        total = self.plan.total
        try:
            final, digest = await anyio.to_thread.run_sync(self._verify_and_rename, total)
        except DownloadError:
            await anyio.to_thread.run_sync(remove_quietly, self.part, self.control)
            raise
        self.progress(total, total)
        return DownloadResult(final, total, digest)

    def _verify_and_rename(self, total: int) -> tuple[Path, str]:
        """Hash the rest, check size / hash / format, fsync, rename (thread)."""
        request = self.request
        size = self.part.stat().st_size
        if size != total:
            raise DownloadError(f"size mismatch: expected {total} bytes, got {size}")
        if (
            request.sha256 is None
            and request.expected_size is not None
            and not size_matches(size, request.expected_size)
        ):
            raise DownloadError(
                f"size mismatch: expected {request.expected_size} bytes, got {size}"
            )
        self.hasher.catch_up(self.part, total)
        digest = self.hasher.hexdigest()
        if request.sha256 is not None and digest != request.sha256.lower():
            differs = size_difference(size, request.expected_size)
            raise DownloadError(
                (f"{differs}: " if differs else "")
                + f"SHA256 mismatch: expected {request.sha256.lower()}, got {digest}"
            )
        head = b""
        if request.check_safetensors or request.pick_extension:
            head = read_head(self.part, 12)
        if request.check_safetensors:
            self._check_safetensors(head, total)
        final = request.dest
        if request.pick_extension:
            fallback = extension_from_magic(head) or request.dest.suffix or ".bin"
            final = request.dest.with_suffix(extension_for(self.content_type, fallback))
        fsync_path(self.part)
        self.part.replace(final)
        remove_quietly(self.control)
        return final, digest

    def _check_safetensors(self, head: bytes, total: int) -> None:
        problem = safetensors_header_problem(head, total)
        if problem == "safetensors header incomplete":
            length = int.from_bytes(head[:8], "little")
            if length + 8 <= _SAFETENSORS_PARSE_LIMIT:
                problem = safetensors_header_problem(read_head(self.part, 8 + length), total)
            elif read_head(self.part, 9)[8:9] != b"{":
                problem = "not a safetensors file (header is not JSON)"
            else:
                problem = None
        if problem is not None:
            raise DownloadError(f"{problem}: the server did not send the model file")
