"""Tunables of the builtin downloader and the layouts a download can take.

Tests lower some of these (stall window, caps) on this module, so code reads them through the
module (`policy.STALL_WINDOW`), never as copied names.
"""

from __future__ import annotations

import enum

import httpx

__all__ = ["Mode"]

DEFAULT_TIMEOUT = httpx.Timeout(connect=20.0, read=60.0, write=30.0, pool=60.0)
MIN_SPLIT = 1 << 20
"""A range is split for another connection only if both halves get at least this much."""
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
SAFETENSORS_PARSE_LIMIT = 16 << 20
READ_SIZE = 256 * 1024
DIRECT_MIN = 16 << 20
"""A body at least this long is read from the socket directly (`rawbody`); its connection is
then closed, not reused, which costs nothing next to the body."""
THREADS = 64
"""Worker threads of one downloader: each open connection's body is copied in one."""
HASH_BESIDE = 4 << 20
"""A body at least this long (or of unknown length) is hashed in a thread of its own beside
the one that reads and writes it; a shorter one is hashed where it is written."""
TICK = 0.1
"""Seconds between progress reports while a body is copied in a thread."""
UNKNOWN_TOTAL = 1 << 62
"""The plan's size while the server has not told it (a body without a length)."""

# Adaptive segmentation: a big file starts on one connection; another is added only when the
# last one raised the measured throughput (as IDM's dynamic segmentation and aria2's
# lowest-speed heuristics do). A link one stream saturates (a LAN, loopback, a fast line, or
# a loaded CPU) stays on one stream and is hashed as it arrives; a CDN that caps each
# connection gets every connection it allows.
PROBE_WARMUP = 0.05
"""Seconds the first connection runs before its throughput is measured."""
PROBE_WINDOW = 0.2
"""Seconds over which one stream's throughput is measured."""
PROBE_TRIAL_WINDOW = 0.1
"""Seconds after a new connection's first bytes (counted in) before it may show that the
link caps each connection; it is judged anyway after `PROBE_TRIAL_MAX`."""
PROBE_TRIAL_MAX = 0.3
PROBE_STEP = 0.05
PROBE_OPEN_MAX = 1.0
"""Seconds a new connection gets to bring its first bytes before it is judged anyway."""
PROBE_POLL = 0.01
PROBE_GAIN = 0.5
"""With n connections, one more is kept if throughput rose by at least this share of 1/n
(half of what a per-connection cap would give: +50 % for the 2nd, +25 % for the 3rd, ...)."""
PROBE_HASH_BOUND = 0.05
"""One stream whose reader waits for the hash this share of the probe or more is limited by
the hash, not the link: no connection is added (a link that caps each connection, or a
slow line, never fills the hash's queue)."""
PROBE_NEAR_HASH = 0.3
"""One stream bringing at least this share of what the hash takes (measured as it runs)
stays alone: a second one saves little, and its bytes are hashed later, read back."""
HASH_RATE_SAMPLE = 4 << 20
"""Bytes hashed before the hash's own rate is trusted."""
PROBE_FULL = 0.8
"""A connection that added at least this share of 1/n shows a per-connection cap: the rest
of the `segments` connections are added at once."""


class Mode(enum.Enum):
    """How one attempt lays the file out on disk and talks to the server."""

    PLAIN = "plain"
    """One stream from byte 0 without a Range header (the server does not honour ranges):
    nothing survives a failure but what the stream wrote, which is restarted from 0."""
    STREAM = "stream"
    """One stream; the `.part` is a contiguous prefix, resumed with a Range header."""
    RANGES = "ranges"
    """Byte ranges over up to `segments` connections into a preallocated `.part`, finished
    ranges recorded in the control file beside it."""
