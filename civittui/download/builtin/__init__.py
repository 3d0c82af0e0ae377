"""The builtin downloader: httpx streaming into a `.part`, segmented, resumable, verified.

Small files (and images) come over one stream. Files of at least `segment_min` bytes start on
one connection too; more connections (up to `segments`) join only while each one raises the
throughput, each taking half of the largest remaining range, written at its offset into one
preallocated `.part`, with finished ranges recorded beside it (`.part.ranges`) so a later run
fetches only what is missing. The SHA256 is computed as bytes are written wherever they extend
the contiguous front of the file, and only a verified file gets its final name.

Modules: `policy` (tunables, `Mode`), `connections` (client, per-host cap), `link` (requests,
retries, fresh URLs), `job` (resume state, first response), `transfer` (connections, ranges),
`pump` (one body into the part, written and hashed, in a worker thread), `finish`
(verification and rename), `failures` (why an attempt stopped).
"""

from __future__ import annotations

import httpx

from civittui import USER_AGENT
from civittui.config import DownloadSettings
from civittui.download.base import Downloader, DownloadRequest, DownloadResult, Progress
from civittui.download.builtin import policy
from civittui.download.builtin.connections import Connections
from civittui.download.builtin.job import Job

__all__ = ["BuiltinDownloader"]


class BuiltinDownloader(Downloader):
    """httpx-based engine: resumable, segmented, verified downloads from presigned URLs/CDNs.

    Args:
        settings: `[download]` settings (segments, segment_min, connections_per_host).
        user_agent: User-Agent sent to the download hosts.
        timeout: httpx timeouts (default: connect 20 s, read 60 s).
        chunk_size: bytes gathered from a connection before one write (and hash) in a thread.
    """

    name = "builtin"

    def __init__(
        self,
        settings: DownloadSettings,
        *,
        user_agent: str = USER_AGENT,
        timeout: httpx.Timeout | None = None,
        chunk_size: int = 1 << 20,
    ) -> None:
        self.settings = settings
        self.chunk_size = max(chunk_size, 64 * 1024)
        self._connections = Connections(
            per_host=settings.connections_per_host,
            user_agent=user_agent,
            timeout=timeout or policy.DEFAULT_TIMEOUT,
        )

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._connections.aclose()

    async def download(self, request: DownloadRequest, progress: Progress) -> DownloadResult:
        """Fetch `request.url` to `request.dest`, verified, atomically renamed.

        Args:
            request: what to fetch and how to check it.
            progress: called with (bytes on disk, total or None) as bytes arrive.

        Returns:
            The verified file under its final name.

        Raises:
            DownloadError: transfer failed, body was not the file, or verification failed.
        """
        job = Job(self._connections, self.settings, request, progress, chunk_size=self.chunk_size)
        return await job.run()
