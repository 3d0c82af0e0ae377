"""Byte-range planning for a segmented download: which ranges are done, which to fetch next.

Pure bookkeeping, no I/O. Offsets are half-open `[start, end)`. A `Segment` is claimed by one
connection; when a connection runs out of work, `RangePlan.take` splits the largest remaining
segment in two (as aria2 and IDM do), so the tail of a file never waits on one slow connection.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["ALIGN", "RangePlan", "Segment", "merge_intervals", "missing_intervals"]

ALIGN = 64 * 1024
"""Split points are rounded down to this, so writes stay page-aligned."""


def merge_intervals(intervals: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    """Sort and merge half-open intervals, dropping empty ones.

    Args:
        intervals: `(start, end)` pairs, any order, may overlap or touch.

    Returns:
        Disjoint, non-touching intervals in ascending order.
    """
    merged: list[tuple[int, int]] = []
    for start, end in sorted(i for i in intervals if i[1] > i[0]):
        if merged and start <= merged[-1][1]:
            if end > merged[-1][1]:
                merged[-1] = (merged[-1][0], end)
        else:
            merged.append((start, end))
    return merged


def missing_intervals(done: Iterable[tuple[int, int]], total: int) -> list[tuple[int, int]]:
    """The complement of `done` within `[0, total)`.

    Args:
        done: completed intervals (any order).
        total: size of the object.

    Returns:
        The missing intervals in ascending order.
    """
    missing: list[tuple[int, int]] = []
    cursor = 0
    for start, end in merge_intervals(done):
        start, end = max(start, 0), min(end, total)
        if start > cursor:
            missing.append((cursor, start))
        cursor = max(cursor, end)
    if cursor < total:
        missing.append((cursor, total))
    return missing


@dataclass(slots=True, eq=False)
class Segment:
    """A byte range being (or waiting to be) fetched: bytes `[pos, end)` are still missing."""

    start: int
    """Where this segment began; `[start, pos)` is on disk."""
    pos: int
    """Next byte to fetch."""
    end: int
    """Exclusive end. Shrinks when another connection takes over the upper part."""
    active: bool = False
    """Claimed by a connection."""
    fetched: int = 0
    """Bytes up to here have arrived (some may still be on their way to the disk)."""

    @property
    def remaining(self) -> int:
        """Bytes still to fetch."""
        return max(self.end - self.pos, 0)

    @property
    def unfetched(self) -> int:
        """Bytes not yet received: what a split can hand to another connection."""
        return max(self.end - max(self.pos, self.fetched), 0)

    @property
    def finished(self) -> bool:
        """All of `[start, end)` is on disk."""
        return self.pos >= self.end


class RangePlan:
    """The ranges of one object: completed intervals from a previous run plus live segments.

    Args:
        total: object size in bytes.
        done: intervals already on disk (e.g. from the control file of an earlier run).
        min_split: a segment is split only if both halves get at least this many bytes.
    """

    def __init__(
        self, total: int, done: Iterable[tuple[int, int]] = (), *, min_split: int = 1 << 20
    ) -> None:
        self.total = total
        self.min_split = max(min_split, 1)
        self._prior = merge_intervals((max(s, 0), min(e, total)) for s, e in done)
        self.segments: list[Segment] = [
            Segment(start, start, end) for start, end in missing_intervals(self._prior, total)
        ]

    def first_missing(self) -> int | None:
        """Offset of the first byte not yet on disk, or None when complete."""
        pending = [s.pos for s in self.segments if not s.finished]
        return min(pending) if pending else None

    def planned_end(self, offset: int) -> int:
        """End of the pending segment that starts fetching at `offset` (or `total`)."""
        for seg in self.segments:
            if seg.pos == offset and not seg.finished:
                return seg.end
        return self.total

    def claim(self, offset: int) -> Segment | None:
        """Claim the unclaimed segment whose next byte is `offset`."""
        for seg in self.segments:
            if seg.pos == offset and not seg.active and not seg.finished:
                seg.active = True
                return seg
        return None

    def take(self) -> Segment | None:
        """Claim work for an idle connection: a pending segment, else half of the largest one.

        Returns:
            The claimed segment, or None when nothing is left worth splitting.
        """
        pending = [s for s in self.segments if not s.active and not s.finished]
        if pending:
            seg = min(pending, key=lambda s: s.pos)
            seg.active = True
            return seg
        new = self._split_largest([s for s in self.segments if not s.finished])
        if new is not None:
            new.active = True
        return new

    def release(self, seg: Segment) -> None:
        """Give a segment back (its connection failed or stopped); another one may claim it."""
        seg.active = False

    def give_back(self, seg: Segment) -> None:
        """Undo a split whose connection was stopped early: while the range it was cut from
        is still streaming towards it, that range runs on over it (what the stopped one
        wrote is fetched again); otherwise it waits, released, for another connection."""
        seg.active = False
        if seg.finished:
            return  # all of it is on disk already: nothing to fetch again
        index = self.segments.index(seg)
        before = self.segments[index - 1] if index else None
        if (
            before is not None
            and before.active
            and before.end == seg.start
            and before.fetched < before.end
        ):
            before.end = seg.end
            del self.segments[index]

    def _split_largest(self, candidates: list[Segment]) -> Segment | None:
        if not candidates:
            return None
        largest = max(candidates, key=lambda s: s.unfetched)
        if largest.unfetched < 2 * self.min_split:
            return None
        low = max(largest.pos, largest.fetched)
        mid = low + largest.unfetched // 2
        aligned = mid - mid % ALIGN
        if aligned - low >= self.min_split and largest.end - aligned >= self.min_split:
            mid = aligned
        new = Segment(mid, mid, largest.end)
        largest.end = mid
        self.segments.insert(self.segments.index(largest) + 1, new)
        return new

    def done_intervals(self) -> list[tuple[int, int]]:
        """Everything on disk: earlier runs plus the fetched part of every segment."""
        return merge_intervals([*self._prior, *((s.start, s.pos) for s in self.segments)])

    def done_bytes(self) -> int:
        """Bytes on disk."""
        return sum(end - start for start, end in self.done_intervals())

    def contiguous_prefix(self) -> int:
        """End of the completed run of bytes that starts at offset 0."""
        intervals = self.done_intervals()
        return intervals[0][1] if intervals and intervals[0][0] == 0 else 0

    @property
    def complete(self) -> bool:
        """Every byte of `[0, total)` is on disk."""
        return self.contiguous_prefix() >= self.total
