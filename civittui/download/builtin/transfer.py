"""Moving the bytes of one download: connections, ranges, writes, the running hash.

Small files come over one stream. A big file (`Mode.RANGES`) also starts on one connection;
a probe adds connections, each taking half of the largest remaining range, only while each
one raised the measured throughput, up to `segments` (a link one stream saturates, or one
whose stream already brings bytes about as fast as the hash takes them, stays on one
stream). Each body is copied in a worker thread (`pump`); bytes are hashed as they are
written wherever they extend the hashed prefix; the bytes of a later range are read back once
the prefix reaches them, only as far as they were not hashed in-stream.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import anyio
import anyio.abc
import httpx

from civittui.download.builtin import policy
from civittui.download.builtin.connections import Stream, content_length, parse_content_range
from civittui.download.builtin.failures import Restart, ShortBody, Stalled, describe
from civittui.download.builtin.policy import Mode
from civittui.download.builtin.pump import Pump
from civittui.download.partfile import ControlData, PartWriter, write_control
from civittui.download.segments import RangePlan, Segment

if TYPE_CHECKING:
    from civittui.download.builtin.job import Job

__all__ = ["Transfer"]


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
            if not ranges:  # one stream: no task group to pay for (an image is all overhead)
                owned = None
                await self._worker(first, stream)
                return
            async with anyio.create_task_group() as outer:
                outer.start_soon(self._flusher)
                outer.start_soon(self._hash_behind)
                async with anyio.create_task_group() as workers:
                    workers.start_soon(self._worker, first, owned)
                    owned = None  # the worker owns it now
                    if job.connections > 1:
                        outer.start_soon(self._grow, workers, first)
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
    async def _measure(self, window: float) -> tuple[float, float]:
        """Bytes per second received on every connection over `window` seconds, and the
        share of that window a reader spent waiting for the hash."""
        meter = self.job.meter
        before, waited, started = meter.total, meter.hash_wait, anyio.current_time()
        await anyio.sleep(window)
        elapsed = max(anyio.current_time() - started, 1e-6)
        return (meter.total - before) / elapsed, (meter.hash_wait - waited) / elapsed

    def _hash_limits(self, rate: float, waited: float) -> bool:
        """Whether the hash, not the link, limits (or soon would limit) one stream: then the
        bytes another connection brings only wait to be read back and hashed."""
        hash_rate = self.job.meter.hash_rate
        return waited >= policy.PROBE_HASH_BOUND or (
            hash_rate is not None and rate >= hash_rate * policy.PROBE_NEAR_HASH
        )

    @staticmethod
    async def _first_bytes(seg: Segment) -> None:
        """Wait until a connection's range receives its first bytes (or a while)."""
        deadline = anyio.current_time() + policy.PROBE_OPEN_MAX
        while seg.fetched <= seg.pos and anyio.current_time() < deadline:
            await anyio.sleep(policy.PROBE_POLL)

    async def _judge(self, seg: Segment, rate: float, active: int) -> tuple[float, float]:
        """Measure the throughput once the new connection (on `seg`) brings bytes, until it
        shows a per-connection cap (`PROBE_FULL`) or `PROBE_TRIAL_MAX` has passed.

        Returns:
            The throughput, and the gain: how much the new connection added, in shares of
            what each of the `active` ones brought (1.0: as much as each).
        """
        await self._first_bytes(seg)
        meter = self.job.meter
        before, started = meter.total - (seg.fetched - seg.start), anyio.current_time()
        while True:
            await anyio.sleep(policy.PROBE_STEP)
            elapsed = max(anyio.current_time() - started, 1e-6)
            now = (meter.total - before) / elapsed
            gain = (now / max(rate, 1.0) - 1) * active
            if elapsed >= policy.PROBE_TRIAL_MAX or (
                elapsed >= policy.PROBE_TRIAL_WINDOW and gain >= policy.PROBE_FULL
            ):
                return now, gain

    async def _grow(self, workers: anyio.abc.TaskGroup, first: Segment) -> None:
        """Add connections while each one raises the throughput.

        One is added at a time, and judged from its first bytes on; when one raised the
        throughput almost as much as a link that caps each connection would (`PROBE_FULL`),
        the rest are added at once. The first one is measured once its bytes flow (a busy
        CPU may take a while to start its thread: a stream not yet started is not slow).
        """
        await self._first_bytes(first)
        await anyio.sleep(policy.PROBE_WARMUP)
        rate, waited = await self._measure(policy.PROBE_WINDOW)
        if self._hash_limits(rate, waited):
            return
        active = 1
        while active < self.job.connections:
            seg = self.plan.take()
            if seg is None:
                return  # nothing left worth splitting
            trial = anyio.CancelScope()
            workers.start_soon(self._trial, seg, trial)
            now, gain = await self._judge(seg, rate, active)
            if gain < policy.PROBE_GAIN:
                trial.cancel()  # it did not help: the range goes back to where it came from
                return
            rate, active = now, active + 1
            if self._hash_limits(rate, 0.0):
                return  # as fast as the hash goes: more would only wait to be read back
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
        """Copy a response body to the part at `seg.pos` until `seg.end` or the body ends,
        in a worker thread (`Pump`); the loop meanwhile reports progress, and a cancellation
        interrupts the thread's read and waits for it (nothing writes after it returns)."""
        pump = Pump(self.job, seg, writer, stream)
        error: Exception | None = None
        async with anyio.create_task_group() as tg:
            tg.start_soon(self._watch, pump)
            try:
                # One stream fills the whole file: the thread also verifies and renames it.
                body = pump.run if self.job.mode is Mode.RANGES else pump.run_then_finish
                await anyio.to_thread.run_sync(body, limiter=stream.threads)
            except Exception as exc:  # raised below, outside the group, as it is
                error = exc
            finally:
                tg.cancel_scope.cancel()
        self._progressed(pump)
        if error is not None:
            raise error

    async def _watch(self, pump: Pump) -> None:
        try:
            while True:
                await anyio.sleep(policy.TICK)
                self._progressed(pump)
        finally:
            pump.stream.interrupt()  # a no-op once the body was read

    def _progressed(self, pump: Pump) -> None:
        """Report the bytes on disk; wake the read-back hash when unhashed bytes landed."""
        job = self.job
        done = self.plan.done_bytes()
        if pump.behind and job.mode is Mode.RANGES:
            pump.behind = False
            self._behind.set()
        if done != job.done:
            job.done = done
            job.report()
