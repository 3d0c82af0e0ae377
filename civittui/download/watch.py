"""Wait for a file another program writes: present, the right size, and no longer changing.

IDM gives no completion callback, so delivery is observed on disk. A file counts as delivered
when its (size, mtime) stayed the same across polls: one unchanged poll when the size matches an
announced size, two when no size is known. A file whose size is wrong and that stops changing
for `settle` seconds is final too, and a failure.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import anyio

from civittui.download.verify import SIZE_TOLERANCE, size_matches
from civittui.errors import DownloadError

__all__ = ["DeliveryRule", "wait_for_delivery"]

OnPoll = Callable[[int | None], None]
"""Called after every poll with the visible size, or None while the file is absent."""


@dataclass(frozen=True, slots=True)
class DeliveryRule:
    """When a watched file counts as delivered."""

    expected_size: int | None
    poll_interval: float = 1.0
    tolerance: int = SIZE_TOLERANCE
    stable_polls_known: int = 1
    """Unchanged polls needed once the size matches `expected_size`."""
    stable_polls_unknown: int = 2
    """Unchanged polls needed when no size is known."""
    settle: float = 30.0
    """Seconds a wrong-sized file may sit unchanged before it is a failure."""


async def _observe(path: Path) -> tuple[int, int] | None:
    try:
        st = await anyio.Path(path).stat()
    except OSError:
        # Absent, or (Windows) still locked by the writer: not delivered yet.
        return None
    return st.st_size, st.st_mtime_ns


async def wait_for_delivery(path: Path, rule: DeliveryRule, on_poll: OnPoll) -> int:
    """Poll `path` until it is delivered by `rule`; the caller bounds the wait (`fail_after`).

    Args:
        path: the final path the other program writes.
        rule: size, tolerance and stability requirements.
        on_poll: progress hook, called once per poll.

    Returns:
        The delivered file's size in bytes.

    Raises:
        DownloadError: a wrong-sized file stopped changing for `rule.settle` seconds.
    """
    last: tuple[int, int] | None = None
    unchanged = 0
    unchanged_since = 0.0
    while True:
        seen = await _observe(path)
        now = anyio.current_time()
        if seen is None or seen != last:
            unchanged, unchanged_since = 0, now
        else:
            unchanged += 1
        last = seen
        on_poll(None if seen is None else seen[0])
        if seen is not None:
            size = seen[0]
            if rule.expected_size is None:
                if unchanged >= rule.stable_polls_unknown:
                    return size
            elif size_matches(size, rule.expected_size, rule.tolerance):
                if unchanged >= rule.stable_polls_known:
                    return size
            elif unchanged and now - unchanged_since >= rule.settle:
                raise DownloadError(
                    f"{path.name} stopped at {size} bytes, expected {rule.expected_size}"
                )
        await anyio.sleep(rule.poll_interval)
