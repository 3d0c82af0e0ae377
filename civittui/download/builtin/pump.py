"""Copying one response body into the `.part`, in a worker thread.

The reading thread gathers chunks, writes them at their offset with one `pwritev` per
`chunk_size` bytes, and hands them to the hash while they extend the hashed prefix: inline
for a short body, to a thread of its own for a long one (the hash is the slowest step, so
reading, writing and hashing then overlap on separate cores; all three release the GIL).

Only the loop changes the plan's layout (splits, give-backs); this thread only advances its
own segment's `fetched` and `pos`, after the bytes are written, so a control file flushed
meanwhile never records a byte that is not on disk.
"""

from __future__ import annotations

import queue
import threading
import time
from typing import TYPE_CHECKING

import httpx

from civittui.download.builtin import policy
from civittui.download.builtin.connections import Stream, content_length
from civittui.download.builtin.failures import BadContent, ShortBody, Stalled
from civittui.download.builtin.finish import verify_or_remove
from civittui.download.builtin.rawbody import direct_body
from civittui.download.partfile import PartWriter, PrefixHasher
from civittui.download.segments import Segment
from civittui.download.sniff import looks_like_error_page

if TYPE_CHECKING:
    from civittui.download.builtin.job import Job

__all__ = ["Meter", "Pump"]


class Meter:
    """Bytes received on every connection of a download (the throughput probe reads it)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.total = 0
        self.hash_wait = 0.0
        """Seconds readers waited for the hash to take their bytes."""
        self.hashed = 0
        self.hash_seconds = 0.0
        """Bytes hashed in a thread of their own, and the seconds that took."""

    def add(self, count: int) -> None:
        with self._lock:
            self.total += count

    def waited(self, seconds: float) -> None:
        with self._lock:
            self.hash_wait += seconds

    def hashed_in(self, count: int, seconds: float) -> None:
        with self._lock:
            self.hashed += count
            self.hash_seconds += seconds

    @property
    def hash_rate(self) -> float | None:
        """Bytes per second the hash takes on this machine as it is now, once measured."""
        with self._lock:
            if self.hashed < policy.HASH_RATE_SAMPLE or self.hash_seconds <= 0:
                return None
            return self.hashed / self.hash_seconds


class _StallWindow:
    """Raises `Stalled` when a window of `STALL_WINDOW` seconds brought too few bytes."""

    def __init__(self) -> None:
        self.end = time.monotonic() + policy.STALL_WINDOW
        self.bytes = 0

    def add(self, count: int) -> None:
        self.bytes += count
        now = time.monotonic()
        if now >= self.end:
            if self.bytes < policy.STALL_MIN_BYTES:
                raise Stalled()
            self.end = now + policy.STALL_WINDOW
            self.bytes = 0


class _Feed:
    """Hands written chunks to the prefix hash, inline or through a thread of its own."""

    def __init__(self, hasher: PrefixHasher, meter: Meter, beside: bool) -> None:
        self._hasher = hasher
        self._meter = meter
        self._beside = beside
        self._queue: queue.Queue[list[bytes] | None] | None = None
        self._thread: threading.Thread | None = None
        self.next = -1
        """Offset the next fed chunk must start at; -1 while the hasher is not held."""

    def offer(self, offset: int, chunks: list[bytes]) -> bool:
        """Hash `chunks` (at `offset`) if they extend the hashed prefix; False otherwise."""
        if self.next != offset:
            if self.next >= 0 or not self._hasher.claim(offset):
                return False
        self.next = offset + sum(len(c) for c in chunks)
        if not self._beside:
            for chunk in chunks:
                self._hasher.update(chunk)
            return True
        if self._queue is None:
            self._queue = queue.Queue(maxsize=4)
            self._thread = threading.Thread(target=self._run, name="civittui-hash", daemon=True)
            self._thread.start()
        if self._queue.full():  # the hash is slower than this connection
            started = time.monotonic()
            self._queue.put(chunks)
            self._meter.waited(time.monotonic() - started)
        else:
            self._queue.put(chunks)
        return True

    def _run(self) -> None:
        assert self._queue is not None
        while (chunks := self._queue.get()) is not None:
            started = time.monotonic()
            for chunk in chunks:
                self._hasher.update(chunk)
            self._meter.hashed_in(sum(len(c) for c in chunks), time.monotonic() - started)

    def close(self) -> None:
        """Wait for the queued chunks to be hashed; give the hasher back."""
        if self._queue is not None and self._thread is not None:
            self._queue.put(None)
            self._thread.join()
        if self.next >= 0:
            self._hasher.busy = False
            self.next = -1


class Pump:
    """One body into the part at `seg.pos`, until `seg.end` or the body ends (thread).

    After `run`: `received` bytes came in; `behind` tells that bytes were written that the
    hash did not see (the loop reads them back once the prefix reaches them).
    """

    def __init__(self, job: Job, seg: Segment, writer: PartWriter, stream: Stream) -> None:
        self.job = job
        self.seg = seg
        self.writer = writer
        self.stream = stream
        self.received = 0
        self.behind = False
        announced = content_length(stream.response)
        self._announced = announced
        beside = announced is None or announced >= policy.HASH_BESIDE
        self._feed = _Feed(job.hasher, job.meter, beside)

    def run(self) -> None:
        """Copy the body; raise why it stopped early (`ShortBody` when it just ended)."""
        seg = self.seg
        failure: BaseException | None = None
        try:
            try:
                self._copy()
            except (httpx.TransportError, ShortBody, Stalled) as exc:
                failure = exc  # what arrived before the failure is written
            except Exception:
                if not self.stream.stopped:
                    raise  # (a read cut by `interrupt` may fail any way it likes)
        finally:
            self._feed.close()
            self.stream.done_reading()
        if self.stream.stopped:
            return  # cancelled: the loop raises the cancellation
        if failure is not None:
            raise failure
        if not seg.finished and self._announced is not None and self.received < self._announced:
            raise ShortBody()

    def run_then_finish(self) -> None:
        """`run`; then, when the body was the whole file (one stream), verify it and give
        it its name in the same thread (an image pays for one thread hop, not two)."""
        self.run()
        job, seg = self.job, self.seg
        if self.stream.stopped:
            return
        if job.known_total is None:  # a body without a length ended cleanly: all of it
            job.plan.total = seg.end = seg.pos
            job.known_total = seg.pos
        if seg.finished and job.plan.complete:
            self.writer.close()  # before the rename: Windows cannot rename an open file
            job.result = verify_or_remove(job.request, job.hasher, seg.end, job.content_type)

    def _copy(self) -> None:
        job, seg = self.job, self.seg
        cap = job.byte_cap()
        window = _StallWindow()
        chunks: list[bytes] = []
        gathered = 0
        offset = seg.fetched = seg.pos
        next_commit = time.monotonic() + policy.COMMIT_INTERVAL
        try:
            response = self.stream.response
            read_timeout = response.request.extensions.get("timeout", {}).get("read")
            body = direct_body(response, read_timeout) or response.iter_raw()
            for chunk in body:
                if self.stream.stopped:
                    return
                self.received += len(chunk)
                job.meter.add(len(chunk))
                # A known total was checked against the cap; only an open end can run on.
                if job.known_total is None and seg.fetched + len(chunk) > cap:
                    raise BadContent(
                        f"the server sent more than the {cap} bytes expected of the "
                        f"{job.noun} (refused)"
                    )
                window.add(len(chunk))
                room = seg.end - (offset + gathered)
                if len(chunk) > room:
                    # Past the (possibly shrunk) end: keep what belongs here, hang up.
                    if room > 0:
                        chunks.append(chunk[:room])
                        gathered += room
                        seg.fetched += room
                    break
                chunks.append(chunk)
                gathered += len(chunk)
                seg.fetched += len(chunk)
                # Enough gathered, or a slow connection: write what arrived.
                if gathered >= job.chunk_size or time.monotonic() >= next_commit:
                    self._commit(offset, chunks)
                    offset += gathered
                    chunks, gathered = [], 0
                    next_commit = time.monotonic() + policy.COMMIT_INTERVAL
        finally:
            if chunks:  # even when cancelled: these bytes need not be fetched again
                self._commit(offset, chunks)

    def _commit(self, offset: int, chunks: list[bytes]) -> None:
        """Write chunks at `offset` (and hash them when they extend the hashed prefix)."""
        seg = self.seg
        if offset != seg.pos:
            return
        end = min(offset + sum(len(c) for c in chunks), seg.end)
        if end <= offset:
            return
        chunks = _trim(chunks, end - offset)
        if offset == 0:
            sniff_head(self.job, b"".join(_trim(chunks, 512)))
        self.writer.write_chunks_at(offset, chunks)
        if not self._feed.offer(offset, chunks):
            self.behind = True
        seg.pos = end


def _trim(chunks: list[bytes], length: int) -> list[bytes]:
    """The first `length` bytes of `chunks` (a split may have shrunk the segment)."""
    if sum(len(c) for c in chunks) <= length:
        return chunks
    kept: list[bytes] = []
    for chunk in chunks:
        if length <= 0:
            break
        kept.append(chunk[:length])
        length -= len(kept[-1])
    return kept


def sniff_head(job: Job, head: bytes) -> None:
    """Refuse a model file whose first bytes are an error page or a JSON document."""
    if job.request.kind != "file" and not job.request.check_safetensors:
        return
    what = looks_like_error_page(job.content_type, head)
    if what is None and job.request.check_safetensors and head[:1] in (b"{", b"["):
        what = "JSON document"
    if what is not None:
        raise BadContent(job.error_page_reason(what))
