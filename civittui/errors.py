"""Every error civittui raises on purpose, each carrying a message meant for a person.

    CivittuiError                 base: `str(err)` is one line fit for stderr
    ├── ConfigError               bad config file, key, value or option (exit 2)
    ├── UrlError                  not a CivitAI URL / unsupported page (exit 2)
    ├── StateError                state file unreadable or corrupt (exit 2, with a way out)
    ├── FilterListError           unreadable / invalid filter list (exit 2)
    ├── EngineSetupError          a downloader cannot start: IDM missing, aria2 RPC down (exit 2)
    └── ItemError                 one item failed; recorded and retryable (run exits 1)
        ├── ApiError              CivitAI answered with an error status
        └── DownloadError         transfer or verification failed

`ItemError` never reaches the user as an exception: the engine records it as a failure.
"""

from __future__ import annotations

from datetime import datetime

__all__ = [
    "ApiError",
    "CivittuiError",
    "ConfigError",
    "DownloadError",
    "EngineSetupError",
    "FilterListError",
    "ItemError",
    "StateError",
    "UrlError",
]


class CivittuiError(Exception):
    """Base of all deliberate errors; the message is already written for a person."""

    exit_code: int = 2


class ConfigError(CivittuiError):
    """A config file, key, value or command-line option is wrong."""


class UrlError(CivittuiError):
    """A URL is not a CivitAI URL, or names a page civittui cannot mirror."""


class StateError(CivittuiError):
    """The state file cannot be read or is not civittui state."""


class FilterListError(CivittuiError):
    """A prompt-filter list cannot be read or holds an invalid pattern."""


class EngineSetupError(CivittuiError):
    """A download engine cannot be used: missing executable, unreachable RPC, wrong secret."""


class ItemError(CivittuiError):
    """One item could not be fetched; the engine records it as a retryable failure.

    Args:
        reason: what went wrong, in words a person understands (never a URL with secrets).
        http_status: the HTTP status that caused it, when there was one.
        permanent: retrying cannot help (deleted, archived): `retry --all` skips it.
        retry_at: the moment after which a retry may succeed (early access ends, cool-down).
    """

    exit_code = 1

    def __init__(
        self,
        reason: str,
        *,
        http_status: int | None = None,
        permanent: bool = False,
        retry_at: datetime | None = None,
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.http_status = http_status
        self.permanent = permanent
        self.retry_at = retry_at


class ApiError(ItemError):
    """CivitAI answered an API call with an error (after retries where retrying made sense)."""


class DownloadError(ItemError):
    """A transfer failed or its bytes did not verify."""
