"""Moving the bytes of one download: connections, ranges, writes, the running hash.

Small files come over one stream. A big file (`Mode.RANGES`) also starts on one connection;
a probe adds connections, each taking half of the largest remaining range, only while each
one raised the measured throughput, up to `segments` (a link one stream saturates stays on
one stream). Bytes are hashed as they are written wherever they extend the hashed prefix; the
bytes of a later range are read back once the prefix reaches them, only as far as they were
not hashed in-stream.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import anyio
import anyio.abc
import anyio.lowlevel
import httpx

from civittui.download.builtin import policy
from civittui.download.builtin.connections import Stream, content_length, parse_content_range
from civittui.download.builtin.failures import BadContent, Restart, ShortBody, Stalled, describe
from civittui.download.builtin.policy import Mode
from civittui.download.partfile import ControlData, PartWriter, write_control
from civittui.download.segments import RangePlan, Segment
from civittui.download.sniff import looks_like_error_page

if TYPE_CHECKING:
    from civittui.download.builtin.job import Job

__all__ = ["Transfer"]

_SIDE_BY_SIDE = 512 * 1024
"""Buffers at least this big are written and hashed in two threads at once."""


class Transfer:
    """The connections of one attempt of a `Job`, from its first response to the last byte."""

    def __init__(self, job: Job) -> None:
        self.job = job
        self.plan: RangePlan = job.plan
        self._flushed = -1
        self._behind = anyio.Event()

    async def run(self, first: Segment | None, stream: Stream) -> None:
        """Fetch every missing byte (`first` is the range `stream` answers; None: empty)."""
        job = self.job
        if first is None:
            await stream.aclose()
            return
        ranges = job.mode is Mode.RANGES
        job.done = self.plan.done_bytes()
        owned: Stream | None = stream
        try:
            if ranges:
                await anyio.to_thread.run_sync(self._prepare_ranges)
            elif job.done:
                # Resuming one stream: hash what is already on disk first, then stream on.
                await anyio.to_thread.run_sync(job.hasher.catch_up, job.part, job.done)
            job.report()
            async with anyio.create_task_group() as outer:
                if ranges:
                    outer.start_soon(self._flusher)
                    outer.start_soon(self._hash_behind)
                async with anyio.create_task_group() as workers:
                    workers.start_soon(self._worker, first, owned)
                    owned = None  # the worker owns it now
                    if ranges and job.connections > 1:
                        outer.start_soon(self._grow, workers)
                outer.cancel_scope.cancel()
        finally:
            if owned is not None:
                await owned.aclose()
            if ranges:
                with anyio.CancelScope(shield=True):
                    await anyio.to_thread.run_sync(self._flush_control)

    # -- the control file -----------------------------------------------------------------
    def _prepare_ranges(self) -> None:
        """Record the plan, then preallocate the `.part` to full size (thread)."""
        self._flush_control()
        writer = PartWriter(self.job.part)
        try:
            if writer.size() != self.plan.total:
                writer.truncate(self.plan.total)
        finally:
            writer.close()

    def _flush_control(self) -> None:
        job = self.job
        done = job.done
        write_control(
            job.control,
            ControlData(
                self.plan.total,
                self.plan.done_intervals(),
                job.request.sha256.lower() if job.request.sha256 else None,
                job.content_type,
            ),
        )
        self._flushed = done

    async def _flusher(self) -> None:
        while True:
            await anyio.sleep(policy.FLUSH_INTERVAL)
            if self.job.done != self._flushed:
                await anyio.to_thread.run_sync(self._flush_control)

    async def _hash_behind(self) -> None:
        """Read back and hash bytes that joined the prefix without passing the hasher."""
        job = self.job
        while True:
            await self._behind.wait()
            self._behind = anyio.Event()
            prefix = self.plan.contiguous_prefix()
            if prefix > job.hasher.offset and job.hasher.claim(job.hasher.offset):
                try:
                    await anyio.to_thread.run_sync(job.hasher.catch_up, job.part, prefix)
                finally:
                    job.hasher.busy = False
                self._behind.set()  # more may have joined meanwhile

    # -- connections ----------------------------------------------------------------------
    async def _measure(self) -> float:
        """Bytes per second received on every connection over one probe window."""
        before, started = self.job.arrived, anyio.current_time()
        await anyio.sleep(policy.PROBE_WINDOW)
        return (self.job.arrived - before) / max(anyio.current_time() - started, 1e-6)

    async def _grow(self, workers: anyio.abc.TaskGroup) -> None:
        """Add connections while each one raises the throughput.

        One is added at a time; when one raised the throughput almost as much as a link that
        caps each connection would (`PROBE_FULL`), the rest are added at once.
        """
        await anyio.sleep(policy.PROBE_WARMUP)
        # The best of two windows: one stream starved for a moment (a loaded CPU) must not
        # look slow, or any second connection would seem to help.
        rate = max(await self._measure(), await self._measure())
        active = 1
        while active < self.job.connections:
            seg = self.plan.take()
            if seg is None:
                return  # nothing left worth splitting
            trial = anyio.CancelScope()
            workers.start_soon(self._trial, seg, trial)
            await anyio.sleep(policy.PROBE_RAMP)
            now = await self._measure()
            gain = (now / max(rate, 1.0) - 1) * active  # 1.0: as much as each one before
            if gain < policy.PROBE_GAIN:
                trial.cancel()  # it did not help: the range goes back to where it came from
                return
            rate, active = now, active + 1
            if gain >= policy.PROBE_FULL:
                for _ in range(self.job.connections - active):
                    workers.start_soon(self._worker, None, None)
                return

    async def _trial(self, seg: Segment, scope: anyio.CancelScope) -> None:
        with scope:
            await self._worker(seg, None)
        if scope.cancelled_caught:
            self.plan.give_back(seg)

    async def _worker(self, seg: Segment | None, stream: Stream | None) -> None:
        writer = PartWriter(self.job.part)  # opened by its first write, in a thread
        try:
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
            writer.close()  # no flush: closing costs no wait on the disk

    async def _fetch(self, seg: Segment, stream: Stream | None, writer: PartWriter) -> None:
        """Fetch `[seg.pos, seg.end)`, reconnecting with Range after failures."""
        job = self.job
        attempts = 0
        while not seg.finished:
            before = seg.pos
            try:
                if stream is None:
                    end = seg.end if job.known_total is not None else None
                    stream = await job.link.open(seg.pos, end, ranged=job.mode is not Mode.PLAIN)
                    self._check_range(stream, seg, writer)
                await self._pump(stream, seg, writer)
                if job.known_total is None:  # a body without a length ended cleanly: all of it
                    self.plan.total = seg.end = seg.pos
                    job.known_total = seg.pos
                elif not seg.finished and seg.pos == before:
                    raise ShortBody()
            except (httpx.TransportError, ShortBody, Stalled, TimeoutError) as exc:
                # A trickle is progress of a kind that must not reset the attempts.
                progressed = seg.pos > before and not isinstance(exc, Stalled)
                attempts = 0 if progressed else attempts + 1
                await job.link.count_failure(attempts, describe(exc))
            finally:
                if stream is not None:
                    await stream.aclose()
                stream = None

    def _check_range(self, stream: Stream, seg: Segment, writer: PartWriter) -> None:
        job = self.job
        response = stream.response
        if response.status_code == 200:
            if job.mode is Mode.RANGES:
                raise Restart("the server stopped honouring byte ranges", plain=True)
            # 200 to a resumed single stream: the body starts at byte 0 again.
            writer.truncate(0)
            job.hasher.reset()
            self.plan = job.plan = RangePlan(self.plan.total, [], min_split=1 << 62)
            seg.start = seg.pos = 0
            seg.end = self.plan.total
            self.plan.segments = [seg]
            seg.active = True
            job.done = 0
            length = content_length(response)
            if length is not None:
                job.check_total(length)
                self.plan.total = seg.end = length
                job.known_total = length
            return
        parsed = parse_content_range(response.headers.get("content-range"))
        asked = stream.asked or (seg.pos, None)
        if (
            parsed is None
            or parsed[0] != asked[0]
            or parsed[0] != seg.pos
            or (asked[1] is not None and parsed[1] >= asked[1])
        ):
            raise Restart("the server sent a byte range other than the one asked", plain=True)
        total = parsed[2]
        if total is not None and job.known_total is not None and total != job.known_total:
            raise Restart("the file changed on the server", plain=False)
        if job.known_total is None and total is not None:
            job.check_total(total)
            self.plan.total = seg.end = job.known_total = total

    # -- bytes ----------------------------------------------------------------------------
    async def _pump(self, stream: Stream, seg: Segment, writer: PartWriter) -> None:
        """Copy a response body to the part at `seg.pos` until `seg.end` or the body ends.

        Bytes are gathered into `chunk_size` buffers; a second task writes (and hashes) one
        buffer in a thread while the next one arrives.
        """
        response = stream.response
        announced = content_length(response)
        send, receive = anyio.create_memory_object_stream[tuple[int, bytearray]](1)
        async with receive, anyio.create_task_group() as tg:  # closed even if never drained
            tg.start_soon(self._drain, receive, seg, writer)
            async with send:
                received, failure = await self._gather(response, seg, send)
        if failure is not None:
            raise failure
        if not seg.finished and announced is not None and received < announced:
            raise ShortBody()

    async def _gather(
        self,
        response: httpx.Response,
        seg: Segment,
        send: anyio.abc.ObjectSendStream[tuple[int, bytearray]],
    ) -> tuple[int, BaseException | None]:
        """Collect chunks into buffers and hand them to the writer (see `_pump`).

        Returns:
            Bytes received, and the transport failure that ended the body early (if any).
        """
        job = self.job
        cap = job.byte_cap()
        window = _StallWindow()
        buffer = bytearray()
        received = 0
        failure: BaseException | None = None
        offset = seg.fetched = seg.pos
        next_commit = anyio.current_time() + policy.COMMIT_INTERVAL
        try:
            async for chunk in response.aiter_raw():
                received += len(chunk)
                job.arrived += len(chunk)
                # A known total was checked against the cap; only an open end can run on.
                if job.known_total is None and seg.fetched + len(chunk) > cap:
                    raise BadContent(
                        f"the server sent more than the {cap} bytes expected of the "
                        f"{job.noun} (refused)"
                    )
                window.add(len(chunk))
                room = seg.end - (offset + len(buffer))
                if len(chunk) > room:
                    # Past the (possibly shrunk) end: keep what belongs here, hang up.
                    buffer += chunk[: max(room, 0)]
                    seg.fetched += max(room, 0)
                    break
                buffer += chunk
                seg.fetched += len(chunk)
                # Full buffer, or a slow connection: hand over what arrived.
                if len(buffer) >= job.chunk_size or anyio.current_time() >= next_commit:
                    await send.send((offset, buffer))
                    offset += len(buffer)
                    buffer = bytearray()
                    next_commit = anyio.current_time() + policy.COMMIT_INTERVAL
        except (httpx.TransportError, ShortBody, Stalled) as exc:
            failure = exc  # what arrived before the failure is still written
        except anyio.BrokenResourceError:
            # The writer task is gone: cancelled (Ctrl+C) or failed. The task group reports
            # which; this side only has to stop feeding it.
            await anyio.lowlevel.checkpoint()
            buffer = bytearray()
        if buffer:
            with anyio.CancelScope(shield=True):
                try:
                    await send.send((offset, buffer))
                except anyio.BrokenResourceError:
                    pass  # same as above: the task group raises the real reason
        return received, failure

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
        job = self.job
        end = min(offset + len(data), seg.end)
        if end <= offset or offset != seg.pos:
            return
        view = memoryview(data)[: end - offset]
        if offset == 0:
            self._sniff_head(bytes(view[:512]))
        feed = job.hasher.claim(offset)
        try:
            if feed and len(view) >= _SIDE_BY_SIDE:
                # Write and hash side by side: both release the GIL, and the hash (the slower)
                # is the only cost left on the critical path.
                async with anyio.create_task_group() as tg:
                    tg.start_soon(anyio.to_thread.run_sync, job.hasher.update, view)
                    await anyio.to_thread.run_sync(writer.write_at, offset, view)
            else:  # one thread hop is cheaper than two for an image's few buffers
                await anyio.to_thread.run_sync(_write, writer, offset, view, job, feed)
        finally:
            if feed:
                job.hasher.busy = False
        seg.pos = end
        job.done += end - offset
        if not feed and job.mode is Mode.RANGES:
            self._behind.set()
        job.report()

    def _sniff_head(self, head: bytes) -> None:
        job = self.job
        if job.request.kind != "file" and not job.request.check_safetensors:
            return
        what = looks_like_error_page(job.content_type, head)
        if what is None and job.request.check_safetensors and head[:1] in (b"{", b"["):
            what = "JSON document"
        if what is not None:
            raise BadContent(job.error_page_reason(what))


def _write(writer: PartWriter, offset: int, view: memoryview, job: Job, feed: bool) -> None:
    writer.write_at(offset, view)
    if feed:
        job.hasher.update(view)


class _StallWindow:
    """Raises `Stalled` when a window of `STALL_WINDOW` seconds brought too few bytes."""

    def __init__(self) -> None:
        self.end = anyio.current_time() + policy.STALL_WINDOW
        self.bytes = 0

    def add(self, count: int) -> None:
        self.bytes += count
        if anyio.current_time() >= self.end:
            if self.bytes < policy.STALL_MIN_BYTES:
                raise Stalled()
            self.end = anyio.current_time() + policy.STALL_WINDOW
            self.bytes = 0
