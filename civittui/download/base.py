"""The one interface every download engine implements (builtin, IDM, aria2)."""

from __future__ import annotations

import abc
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Literal, Protocol, Self

__all__ = ["DownloadRequest", "DownloadResult", "Downloader", "Progress", "UrlRefresher"]

UrlRefresher = Callable[[], Awaitable[str]]
"""Resolves a fresh presigned URL (through the API gate) when the old one expired."""


class Progress(Protocol):
    """Called by an engine as bytes arrive; cheap, never blocks."""

    def __call__(self, done: int, total: int | None, note: str | None = None) -> None: ...


@dataclass(frozen=True, slots=True)
class DownloadRequest:
    """One file to fetch.

    The engine writes `{dest}.part` (or its own temp) and only an assembled, verified file ever
    gets the final name.
    """

    key: str
    """Item key (`file:123`, `image:456`), for events and logs."""
    url: str
    """The URL to fetch: a presigned CDN URL or an image URL. Never carries the API key."""
    dest: Path
    """Final path. With `pick_extension` the suffix is replaced from the Content-Type."""
    kind: Literal["file", "image"]
    expected_size: int | None = None
    """Bytes the API announced. `sizeKB*1024` is a float: within 1 KiB counts as equal
    when a SHA256 is known; the hash decides."""
    sha256: str | None = None
    """Hex digest from the API (any case); verified before the rename."""
    pick_extension: bool = False
    """Images: the real format comes from Content-Type (`image/png` -> `.png`)."""
    check_safetensors: bool = False
    """Reject bodies that are not a parseable safetensors file (HTML, JSON error pages)."""
    refresh_url: UrlRefresher | None = None
    """Re-resolves `url` when the CDN says it expired (403/400 mid-file)."""


@dataclass(frozen=True, slots=True)
class DownloadResult:
    """A verified file under its final name."""

    path: Path
    size: int
    sha256: str
    """Lowercase hex SHA256 of the bytes on disk."""


class Downloader(abc.ABC):
    """A download engine. Raise `DownloadError` (a recorded, retryable failure) on any failure."""

    name: str = "base"

    @abc.abstractmethod
    async def download(self, request: DownloadRequest, progress: Progress) -> DownloadResult:
        """Fetch `request.url` to `request.dest`, verified, atomically renamed.

        Raises:
            DownloadError: transfer failed, body was not what was expected, or hash mismatch.
        """

    async def aclose(self) -> None:  # noqa: B027 - optional hook, most engines need it
        """Release connections, processes and RPC sessions."""

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()
