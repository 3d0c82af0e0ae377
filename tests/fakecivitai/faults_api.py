"""Fault switches of the fake API; each applies to the next matching requests, then clears."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any


@dataclass
class ApiFault:
    """One armed fault: ``kind`` is status, reset, truncate, html or slow."""

    prefix: str
    kind: str
    times: int
    status: int = 0
    retry_after: str | None = None
    body: Any = None
    seconds: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)


class ApiFaults:
    """Switches on ``fake.api_faults``; ``path_prefix`` matches the request target's start.

    The prefix is compared with the path and with path+query (``"/api/v1/images?postId=4"``).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[ApiFault] = []
        self.posts_endpoint = False

    def inject(
        self,
        path_prefix: str,
        *,
        status: int,
        retry_after: float | str | None = None,
        times: int = 1,
        body: Any = None,
    ) -> None:
        """Answer with ``status`` (JSON ``body``; a CivitAI-like one by default)."""
        retry = None if retry_after is None else str(retry_after)
        self._add(ApiFault(path_prefix, "status", times, status, retry, body))

    def reset(self, path_prefix: str | None = None, times: int = 1) -> None:
        """Drop the next matching connections with a TCP RST; no argument: clear all faults."""
        if path_prefix is None:
            with self._lock:
                self._faults.clear()
                self.posts_endpoint = False
            return
        self._add(ApiFault(path_prefix, "reset", times))

    def clear(self) -> None:
        """Turn every fault off (and the posts endpoint)."""
        self.reset()

    def truncate(self, path_prefix: str, times: int = 1) -> None:
        """Send the real response with a Content-Length larger than the bytes sent."""
        self._add(ApiFault(path_prefix, "truncate", times))

    def html(self, path_prefix: str, times: int = 1, status: int = 403) -> None:
        """Answer with a Cloudflare-style ``text/html`` page (403 challenge or 503)."""
        self._add(ApiFault(path_prefix, "html", times, status))

    def slow(self, path_prefix: str, seconds: float, times: int = 1) -> None:
        """Wait ``seconds`` before answering."""
        self._add(ApiFault(path_prefix, "slow", times, seconds=seconds))

    def enable_posts_endpoint(self, enabled: bool = True) -> None:
        """Serve ``GET /api/v1/posts/{id}`` (absent by default, like the live site's code)."""
        self.posts_endpoint = enabled

    def _add(self, fault: ApiFault) -> None:
        with self._lock:
            self._faults.append(fault)

    def take(self, target: str, path: str, kinds: tuple[str, ...]) -> ApiFault | None:
        """Consume one use of the first armed fault of ``kinds`` matching the request."""
        with self._lock:
            for fault in self._faults:
                if fault.kind in kinds and (
                    path.startswith(fault.prefix) or target.startswith(fault.prefix)
                ):
                    fault.times -= 1
                    if fault.times <= 0:
                        self._faults.remove(fault)
                    return fault
        return None

    @property
    def armed(self) -> list[ApiFault]:
        """Faults not used up yet (a copy)."""
        with self._lock:
            return list(self._faults)
