"""One builtin download: what an earlier run left, the first response, and the mode it picks."""

from __future__ import annotations

from pathlib import Path

import anyio
import httpx

from civittui.config import DownloadSettings
from civittui.download.base import DownloadRequest, DownloadResult, Progress
from civittui.download.builtin import policy
from civittui.download.builtin.connections import (
    Connections,
    Stream,
    content_length,
    parse_content_range,
)
from civittui.download.builtin.failures import (
    BadContent,
    CredentialsRefused,
    Restart,
    Unsatisfiable,
    pick,
)
from civittui.download.builtin.finish import verify_or_remove
from civittui.download.builtin.link import Link
from civittui.download.builtin.policy import Mode
from civittui.download.builtin.pump import Meter
from civittui.download.builtin.transfer import Transfer
from civittui.download.partfile import (
    ControlData,
    PartWriter,
    PrefixHasher,
    control_path,
    part_path,
    read_control,
    remove_quietly,
)
from civittui.download.segments import RangePlan, Segment
from civittui.download.sniff import looks_like_error_page
from civittui.download.verify import SIZE_TOLERANCE, size_matches
from civittui.errors import DownloadError

__all__ = ["Job"]


class _Leftover(Exception):
    """What an earlier run left: the attempt resumes from it."""

    def __init__(self, control: ControlData | None, part_size: int) -> None:
        super().__init__()
        self.control = control
        self.part_size = part_size


class Job:
    """One download: its link, its plan of ranges, the part file and the running hash."""

    def __init__(
        self,
        connections: Connections,
        settings: DownloadSettings,
        request: DownloadRequest,
        progress: Progress,
        *,
        chunk_size: int,
    ) -> None:
        self.request = request
        self.chunk_size = chunk_size
        """Bytes gathered from a connection before one write (and hash) in a thread."""
        self.progress = progress
        self.settings = settings
        self.part = part_path(request.dest)
        self.control = control_path(request.dest)
        self.link = Link(connections, request)
        self.ranges_ok = True
        """False once the server mishandled a Range: every later attempt is `Mode.PLAIN`."""
        self.mode = Mode.STREAM
        self.connections = 1
        """Most connections this attempt may use (`Mode.RANGES` only)."""
        self.content_type: str | None = None
        self.hasher = PrefixHasher()
        self.plan = RangePlan(0)
        self.known_total: int | None = None
        """The object's size once a response (or the control file) told it."""
        self.done = 0
        """Bytes on disk."""
        self.meter = Meter()
        """Bytes received on every connection (throughput probes read it)."""
        self.result: tuple[Path, str] | None = None
        """The verified file and its SHA256, once the thread of a single stream renamed it."""

    # -- top level ------------------------------------------------------------------------
    async def run(self) -> DownloadResult:
        """Attempt, starting over when the server misbehaved; map failures to DownloadError."""
        last = ""
        for _ in range(policy.MAX_RESTARTS + 1):
            try:
                try:
                    return await self._attempt()
                except BaseExceptionGroup as group:
                    raise pick(group) from None
            except Restart as restart:
                await anyio.to_thread.run_sync(remove_quietly, self.part, self.control)
                self.ranges_ok = self.ranges_ok and not restart.plain
                last = restart.why
            except BadContent as bad:
                with anyio.CancelScope(shield=True):
                    await anyio.to_thread.run_sync(remove_quietly, self.part, self.control)
                raise DownloadError(str(bad)) from None
            except CredentialsRefused as exc:
                raise DownloadError(str(exc), permanent=True) from None
        raise DownloadError(f"download failed: {last}")

    def _wants_ranges(self, size_hint: int) -> bool:
        """A big file (or a model file of unknown size, probed with an open range) is split."""
        if not self.ranges_ok or self.settings.segments <= 1:
            return False
        if size_hint == 0:
            return self.request.kind == "file"
        return size_hint >= self.settings.segment_min

    async def _attempt(self) -> DownloadResult:
        self.hasher = PrefixHasher()
        self.meter = Meter()
        self.result = None
        self.known_total = None
        size_hint = self.request.expected_size or 0
        ranged = self._wants_ranges(size_hint)
        try:
            # Most downloads start afresh: what an earlier run left is looked for in the
            # thread that sends the request (one thread hop, not two); when something is
            # there, nothing is sent and the attempt resumes from it.
            stream = await self.link.open(
                0,
                self._first_end(ranged, size_hint, [], 0),
                ranged=self.ranges_ok and ranged,
                prepare=self._expect_fresh,
            )
        except _Leftover as left:
            return await self._resume(left.control, left.part_size)
        except Unsatisfiable as exc:
            return await self._after_416(exc.total, 0, None)
        return await self._transfer(stream, 0, [], ranged, part_size=0)

    async def _resume(self, control: ControlData | None, part_size: int) -> DownloadResult:
        """Go on from what an earlier run left: a control file and/or a `.part`."""
        if control is not None:
            self.mode = Mode.RANGES
            self.content_type = control.content_type
            self.plan = RangePlan(control.total, control.done, min_split=policy.MIN_SPLIT)
            self.known_total = control.total
            if self.plan.complete:
                return await self.finish()
            done: list[tuple[int, int]] = control.done
        else:
            done = [(0, part_size)] if part_size else []
        start = RangePlan(self.known_total or policy.UNKNOWN_TOTAL, done).first_missing() or 0
        size_hint = self.known_total or self.request.expected_size or 0
        ranged = self._wants_ranges(size_hint)
        first_end = self._first_end(ranged, size_hint, done, start)
        try:
            stream = await self.link.open(
                start, first_end, ranged=self.ranges_ok and (ranged or start > 0)
            )
        except Unsatisfiable as exc:
            return await self._after_416(exc.total, part_size, control)
        return await self._transfer(stream, start, done, ranged, part_size=part_size)

    async def _transfer(
        self,
        stream: Stream,
        start: int,
        done: list[tuple[int, int]],
        ranged: bool,
        *,
        part_size: int,
    ) -> DownloadResult:
        try:
            first = await self._start_plan(stream, start, done, ranged, fresh=not part_size)
        except BaseException:
            await stream.aclose()
            raise
        await Transfer(self).run(first, stream)
        return await self.finish()

    def _expect_fresh(self) -> None:
        """`_load`, raising `_Leftover` when an earlier run left something (thread)."""
        control, part_size = self._load()
        if control is not None or part_size:
            raise _Leftover(control, part_size)

    @staticmethod
    def _first_end(
        ranged: bool, size_hint: int, done: list[tuple[int, int]], start: int
    ) -> int | None:
        """Where the first request ends: the whole first hole when ranged (more connections
        take parts of it later, only if they add throughput; see `Transfer`), else open."""
        if not ranged or not size_hint:
            return None
        end = RangePlan(size_hint, done).planned_end(start)
        return end if end > start else None  # the part holds what was expected: ask the rest

    def _load(self) -> tuple[ControlData | None, int]:
        """Read what an earlier run left: a control file and/or a `.part` (thread)."""
        self.part.parent.mkdir(parents=True, exist_ok=True)
        try:
            part_size = self.part.stat().st_size
        except FileNotFoundError:
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
            self.known_total = part_size
            return await self.finish()
        raise Restart("the server refused the byte range (HTTP 416)", plain=part_size == 0)

    async def _start_plan(
        self,
        stream: Stream,
        start: int,
        done: list[tuple[int, int]],
        ranged: bool,
        *,
        fresh: bool,
    ) -> Segment | None:
        """Learn the object from the first response and lay out the ranges.

        Returns:
            The range the first response fills, or None when the file is empty.
        """
        response = stream.response
        self.content_type = response.headers.get("content-type")
        self._check_content_type()
        if response.status_code == 200:
            return await self._whole_body(response, fresh=fresh)
        total = self._first_range_total(stream, start)
        self.check_total(total)
        self.known_total = total
        ranged = ranged and total >= self.settings.segment_min
        if ranged:
            self.mode = Mode.RANGES
        elif self.mode is not Mode.RANGES:  # a control file keeps its ranges on one stream
            self.mode = Mode.STREAM
        self.connections = self.settings.segments if ranged else 1
        self.plan = RangePlan(total, done, min_split=policy.MIN_SPLIT if ranged else 1 << 62)
        seg = self.plan.claim(start)
        if seg is None:  # cannot happen: `start` is the first missing byte
            raise Restart("inconsistent resume state", plain=False)
        return seg

    async def _whole_body(self, response: httpx.Response, *, fresh: bool) -> Segment | None:
        """No Range sent, or the server ignores it: one stream from byte 0, nothing kept.

        `fresh`: no `.part` was there (`_load` also dropped any control file), so there is
        nothing to empty: an image saves a thread hop and a file open.
        """
        length = content_length(response)
        if length is not None:
            self.check_total(length)
        self.known_total = length
        self.mode = Mode.STREAM if self.ranges_ok else Mode.PLAIN
        if not fresh or length == 0:  # an empty file gets no writer: create it here
            await anyio.to_thread.run_sync(self._restart_part)
        self.plan = RangePlan(
            policy.UNKNOWN_TOTAL if length is None else length, [], min_split=1 << 62
        )
        if not self.plan.segments:  # an empty file
            return None
        self.plan.segments[0].active = True
        return self.plan.segments[0]

    def _first_range_total(self, stream: Stream, start: int) -> int:
        """The object's size from the first 206, which must answer exactly what was asked."""
        parsed = parse_content_range(stream.response.headers.get("content-range"))
        asked = stream.asked or (start, None)
        if (
            parsed is None
            or parsed[0] != start
            or parsed[2] is None
            or (asked[1] is not None and parsed[1] >= asked[1])
        ):
            raise Restart("the server sent a byte range other than the one asked", plain=True)
        total = parsed[2]
        if self.known_total is not None and total != self.known_total:
            raise Restart("the file changed on the server", plain=False)
        return total

    def _restart_part(self) -> None:
        """Empty the `.part` (a body from byte 0 follows) and forget recorded ranges (thread)."""
        remove_quietly(self.control)
        writer = PartWriter(self.part)
        try:
            writer.truncate(0)
        finally:
            writer.close()

    # -- checks ---------------------------------------------------------------------------
    @property
    def noun(self) -> str:
        """What the download is, in a reason."""
        return "image" if self.request.kind == "image" else "file"

    def _check_content_type(self) -> None:
        if self.request.kind == "file" or self.request.check_safetensors:
            what = looks_like_error_page(self.content_type, b"")
        else:
            ctype = (self.content_type or "").split(";")[0].strip().lower()
            what = "HTML page" if ctype in ("text/html", "application/xhtml+xml") else None
        if what is not None:
            raise BadContent(self.error_page_reason(what))

    def error_page_reason(self, what: str) -> str:
        """The reason given when the body is an error page, not the file."""
        return (
            f"server sent an {what} instead of the {self.noun}: login may be required, "
            "or the download link is no longer valid"
        )

    def byte_cap(self) -> int:
        """The most bytes this download may have: the announced size (+ tolerance), else
        `IMAGE_MAX_BYTES` for media; a model file of unknown size is not capped."""
        expected = self.request.expected_size
        if expected is not None:
            return expected + SIZE_TOLERANCE
        return policy.IMAGE_MAX_BYTES if self.request.kind == "image" else policy.UNKNOWN_TOTAL

    def check_total(self, total: int) -> None:
        """Refuse a body whose announced length is not what the API announced (before a byte
        is written: a 290 KB model once grew to 52 MB, images of 6 KB to 17 MB)."""
        expected = self.request.expected_size
        if expected is not None and not size_matches(total, expected):
            raise BadContent(
                f"the server offers {total:,} bytes of {expected:,}: not the expected file"
            )
        if total > self.byte_cap():
            raise BadContent(f"the server offers {total:,} bytes, over the {self.noun} cap")

    def report(self) -> None:
        """Tell the progress callback the bytes on disk."""
        self.progress(self.done, self.known_total)

    async def finish(self) -> DownloadResult:
        """Verify and rename; a file that fails verification is deleted."""
        total = self.plan.total
        if self.result is None:
            self.result = await anyio.to_thread.run_sync(
                verify_or_remove, self.request, self.hasher, total, self.content_type
            )
        final, digest = self.result
        self.progress(total, total)
        return DownloadResult(final, total, digest)
