"""Events the engine emits for any UI (the TUI, the headless progress printer, tests).

Every event is a frozen dataclass. Progress events may be dropped when the consumer is slow;
state changes (started, finished, failed, target counts) never are.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from civittui.choices import TargetChoices

__all__ = [
    "NOT_THE_TARGETS",
    "Event",
    "GateChanged",
    "ItemFailed",
    "ItemFinished",
    "ItemProgress",
    "ItemStarted",
    "Notice",
    "RunFinished",
    "RunSummary",
    "TargetStatus",
    "TargetUpdated",
]


class TargetStatus(StrEnum):
    """Where a queued URL is in its life."""

    QUEUED = "queued"
    CRAWLING = "crawling"
    DOWNLOADING = "downloading"
    DONE = "done"
    FAILED = "failed"
    PAUSED = "paused"


@dataclass(frozen=True, slots=True)
class TargetUpdated:
    """A target's status or counts changed."""

    key: str
    """Stable target key, e.g. `user:alice`, `post:123`."""
    url: str
    """The URL as the user gave it."""
    status: TargetStatus
    found: int = 0
    """Items the crawl has found so far."""
    done: int = 0
    """Items on disk and verified (downloaded now or earlier)."""
    failed: int = 0
    skipped: int = 0
    """Items already done on an earlier run (a subset of `done`)."""
    error: str | None = None
    """Why the target itself failed (unknown user, deleted model), if it did."""
    name: str | None = None
    """What a person calls it (creator or model name), once the crawl learned it."""
    bytes_found: int = 0
    """Known bytes of the items found: declared file sizes, image sizes once fetched."""
    bytes_done: int = 0
    """Bytes of the items on disk (downloaded now or earlier)."""
    choices: TargetChoices = TargetChoices()
    """What this target mirrors (`choices.describe()` for a queue row; default: everything)."""


@dataclass(frozen=True, slots=True)
class ItemStarted:
    """A download began."""

    key: str
    """Item key: `image:{id}`, `file:{id}`, `meta:{versionId}`."""
    name: str
    """What a person calls it: the file name."""
    total: int | None
    """Expected bytes, when known."""
    engine: str
    """`builtin`, `idm` or `aria2`."""


@dataclass(frozen=True, slots=True)
class ItemProgress:
    """Bytes arrived for an active download (may be dropped under load)."""

    key: str
    done: int
    total: int | None
    speed: float
    """Bytes per second over the last few seconds."""
    note: str | None = None
    """Engine remark instead of bytes, e.g. `queued in IDM`."""


@dataclass(frozen=True, slots=True)
class ItemFinished:
    """An item is on disk and verified."""

    key: str
    name: str
    path: str
    size: int
    skipped: bool = False
    """True when it was already done before this run."""


@dataclass(frozen=True, slots=True)
class ItemFailed:
    """An item failed; it is recorded and can be retried."""

    key: str
    name: str
    reason: str
    http_status: int | None
    permanent: bool
    attempts: int
    retry_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class GateChanged:
    """The API gate's state, for a status line."""

    next_call_in: float
    """Seconds until the next API request may start (0 = now)."""
    backoff_for: float = 0.0
    """Seconds left of a cool-down after 429/5xx (0 = none)."""
    backoff_reason: str | None = None
    """e.g. `429`, `503`."""
    api_calls: int = 0
    """API requests made so far in this run."""


@dataclass(frozen=True, slots=True)
class Notice:
    """Something a person should read (ignored URL parameters, a setup warning)."""

    message: str
    level: str = "info"
    """`info`, `warning` or `error`."""


NOT_THE_TARGETS = "not the target's"
"""The drop reason of a record that belongs to another user, post or version."""


@dataclass(slots=True)
class RunSummary:
    """Totals of one run; also the body of `--report`."""

    targets: list[dict[str, object]] = field(default_factory=list)
    found: int = 0
    done: int = 0
    skipped: int = 0
    failed: int = 0
    failed_by_reason: dict[str, int] = field(default_factory=dict)
    dropped: int = 0
    """Records the server returned and the run did not use: not the target's (trust no
    filter), or malformed (an id that is not a number, an infinite size...)."""
    dropped_by_reason: dict[str, int] = field(default_factory=dict)
    api_calls: int = 0
    bytes: int = 0
    seconds: float = 0.0
    interrupted: bool = False
    dry_run: bool = False
    planned_bytes: int = 0
    """Dry run: bytes of model files still to fetch (image sizes are unknown before fetching)."""
    planned_api_calls: int = 0
    """Dry run: API calls the real run still needs (one presigned-URL resolve per file)."""
    planned_seconds: float = 0.0
    """Dry run: how long those calls take at the configured `min_interval`."""


@dataclass(frozen=True, slots=True)
class RunFinished:
    """The engine finished (or was stopped) with these totals."""

    summary: RunSummary


Event = (
    TargetUpdated
    | ItemStarted
    | ItemProgress
    | ItemFinished
    | ItemFailed
    | GateChanged
    | Notice
    | RunFinished
)
