"""The API gate: one object every worker passes before calling CivitAI.

It owns two rules and nothing else:
- request *starts* are at least `min_interval` apart across all workers (CivitAI rate-limits per
  IP/key; the seed's 1.5 s kept it quiet over days of crawling);
- after a 429 or 5xx the whole gate cools down (`Retry-After` when given, else 2^attempt s capped
  at `max_backoff`), because the limit is shared: one worker's 429 is everyone's.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

import anyio

from civittui.config import RateSettings
from civittui.events import GateChanged

__all__ = ["ApiGate", "MAX_RETRY_AFTER"]

MAX_RETRY_AFTER = 3600.0
"""A `Retry-After` beyond an hour is treated as an hour: the state keeps the cool-down anyway."""


class ApiGate:
    """Spacing and backoff for API requests, shared by every worker of a run.

    Args:
        rate: `[rate]` settings.
        cooldown_until: wall-clock epoch of a stored cool-down (from the state), honoured at start.
        on_cooldown: called with the epoch a new cool-down ends, so the store can keep it.
        clock: monotonic clock (tests may pass a fake).
        wall: wall clock matching `cooldown_until`.
        sleep: how to wait (a fake clock's test passes one that advances it).
    """

    def __init__(
        self,
        rate: RateSettings,
        *,
        cooldown_until: float | None = None,
        on_cooldown: Callable[[float], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
    ) -> None:
        self._rate = rate
        self._clock = clock
        self._wall = wall
        self._sleep = sleep
        self._on_cooldown = on_cooldown
        self._lock = anyio.Lock()
        self._next_start = 0.0
        self._cooldown_end = 0.0
        self._cooldown_reason: str | None = None
        self.calls = 0
        """API requests let through so far."""
        if cooldown_until is not None:
            remaining = cooldown_until - wall()
            if remaining > 0:
                self._cooldown_end = clock() + remaining
                self._cooldown_reason = "stored 429 cool-down"

    def set_rate(self, rate: RateSettings) -> None:
        """Use new `[rate]` settings from the next request on (Settings saved during a run)."""
        self._rate = rate

    async def acquire(self) -> None:
        """Wait for this caller's turn; returns just before the request may start."""
        async with self._lock:
            while True:
                now = self._clock()
                wait = max(self._next_start, self._cooldown_end) - now
                if wait <= 0:
                    break
                await self._sleep(wait)
            self._next_start = now + self._rate.min_interval
            self.calls += 1

    def sent(self) -> None:
        """The request's first bytes are on the wire now: space the next start from here.

        `acquire` returns before the connection is set up; a new TCP connection can delay the
        first request by a few ms, which would shrink the gap to the next (reused) one below
        `min_interval` as the server sees it.
        """
        self._next_start = max(self._next_start, self._clock() + self._rate.min_interval)

    def backoff_delay(self, attempt: int, retry_after: float | None) -> float:
        """Seconds to wait before retry number `attempt` (1-based).

        `Retry-After` is honoured as given (up to an hour): calling earlier only earns another 429.
        Without it: 2^attempt seconds, capped at `max_backoff`.
        """
        if retry_after is not None and retry_after >= 0:
            return min(retry_after, MAX_RETRY_AFTER)
        return float(min(2**attempt, self._rate.max_backoff))

    def cool_down(self, seconds: float, reason: str) -> None:
        """Hold every API request for `seconds` (extends, never shortens, a running cool-down)."""
        end = self._clock() + seconds
        if end > self._cooldown_end:
            self._cooldown_end = end
            self._cooldown_reason = reason
            if self._on_cooldown is not None:
                self._on_cooldown(self._wall() + seconds)

    def state(self) -> GateChanged:
        """The gate as a status line shows it."""
        now = self._clock()
        backoff = max(0.0, self._cooldown_end - now)
        return GateChanged(
            next_call_in=max(0.0, max(self._next_start, self._cooldown_end) - now),
            backoff_for=backoff,
            backoff_reason=self._cooldown_reason if backoff > 0 else None,
            api_calls=self.calls,
        )
