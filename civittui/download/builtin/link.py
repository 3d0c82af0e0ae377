"""The URL of one download: requests with retries, and a fresh presigned URL when it expires."""

from __future__ import annotations

import contextlib
import math
import re
from collections.abc import Callable

import anyio
import httpx

from civittui.download.base import DownloadRequest
from civittui.download.builtin import policy
from civittui.download.builtin.connections import Connections, Stream
from civittui.download.builtin.failures import Unsatisfiable, describe
from civittui.errors import DownloadError, ItemError

__all__ = ["Link"]

_RETRY_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})
_EXPIRED_STATUSES = frozenset({400, 401, 403})
_GONE_STATUSES = frozenset({404, 410})
_UNSATISFIED_RANGE = re.compile(r"^\s*bytes\s+\*/(\d+)\s*$", re.IGNORECASE)


class Link:
    """Opens ranges of one download's URL, counting its failures across every connection."""

    def __init__(self, connections: Connections, request: DownloadRequest) -> None:
        self._connections = connections
        self._request = request
        self.url = request.url
        self.generation = 0
        self.refreshes = 0
        self.failures = 0
        self._refresh_lock = anyio.Lock()

    async def open(
        self,
        start: int,
        end: int | None,
        *,
        ranged: bool,
        prepare: Callable[[], None] | None = None,
    ) -> Stream:
        """Open a GET for bytes `[start, end)` (end None: to the end), retrying what helps.

        Args:
            start: first byte wanted.
            end: end of the range (exclusive), or None for "to the end of the file".
            ranged: send a Range header.
            prepare: run once, in the thread that sends the first request, before it.

        Raises:
            Unsatisfiable: 416.
            DownloadError: a refusal retrying cannot fix, or too many failures.
        """
        attempts = 0
        while True:
            headers: dict[str, str] = {}
            if ranged:
                headers["Range"] = f"bytes={start}-{'' if end is None else end - 1}"
            generation = self.generation
            try:
                stream = await self._connections.open(
                    self.url, headers, (start, end) if ranged else None, prepare
                )
                prepare = None
            except (httpx.TransportError, TimeoutError) as exc:
                prepare = None
                attempts += 1
                await self.count_failure(attempts, describe(exc))
                continue
            status = stream.response.status_code
            if status in (200, 206):
                return stream
            await stream.aclose()
            attempts = await self._answer_refusal(stream.response, generation, attempts)

    async def _answer_refusal(
        self, response: httpx.Response, generation: int, attempts: int
    ) -> int:
        """Handle a status other than 200/206: raise, or wait and return the attempt count."""
        status = response.status_code
        if status == 416:
            match = _UNSATISFIED_RANGE.match(response.headers.get("content-range") or "")
            raise Unsatisfiable(int(match.group(1)) if match else None)
        if status in _EXPIRED_STATUSES:
            await self._refresh(generation, status)
            return attempts
        if status in _GONE_STATUSES:
            raise DownloadError(
                f"the file is gone from the download server (HTTP {status})",
                http_status=status,
                permanent=True,
            )
        if status in _RETRY_STATUSES:
            await self.count_failure(
                attempts + 1,
                f"the download server is busy (HTTP {status})",
                status,
                response.headers.get("retry-after"),
            )
            return attempts + 1
        raise DownloadError(
            f"the download server refused the request (HTTP {status})", http_status=status
        )

    async def count_failure(
        self,
        attempts: int,
        reason: str,
        status: int | None = None,
        retry_after: str | None = None,
    ) -> None:
        """Count a transient failure; wait a little, or give up with the reason."""
        self.failures += 1
        if attempts > policy.MAX_ATTEMPTS or self.failures > policy.MAX_FAILURES:
            raise DownloadError(
                f"{reason} (gave up after {self.failures} tries)", http_status=status
            )
        delay = min(0.25 * 2 ** max(attempts - 1, 0), 8.0)
        with contextlib.suppress(TypeError, ValueError):
            asked = float(retry_after or "")
            if math.isfinite(asked):  # `Retry-After: nan` once crashed the run
                delay = min(max(asked, delay), 60.0)
        await anyio.sleep(delay)

    async def _refresh(self, generation: int, status: int) -> None:
        """Ask for a fresh presigned URL once per expiry, whichever range noticed it first."""
        async with self._refresh_lock:
            if self.generation != generation:
                return  # another range already got a fresh URL
            if self._request.refresh_url is None:
                raise DownloadError(
                    f"the download link expired or was refused (HTTP {status})",
                    http_status=status,
                )
            if self.refreshes >= policy.MAX_REFRESHES:
                raise DownloadError(
                    f"the download link kept being refused (HTTP {status}) "
                    f"after {self.refreshes} fresh links",
                    http_status=status,
                )
            self.refreshes += 1
            try:
                self.url = await self._request.refresh_url()
            except ItemError as exc:
                raise DownloadError(
                    f"could not get a fresh download link: {exc.reason}",
                    http_status=exc.http_status,
                    permanent=exc.permanent,
                    retry_at=exc.retry_at,
                ) from exc
            self.generation += 1
