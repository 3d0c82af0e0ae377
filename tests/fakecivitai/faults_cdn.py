"""Fault switches of a fake CDN (all off by default)."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

_UNSET: Any = object()


@dataclass
class _Rule:
    key: str | None
    times: int | None  # None: until reset()
    value: Any = None

    def matches(self, key: str) -> bool:
        return self.key is None or self.key == key


class CdnFaults:
    """Switches that make a fake CDN misbehave; ``key`` is an object key or image uuid.

    ``key=None`` applies a switch to every object. One-shot switches (``times``) apply to the
    next matching requests, then clear. ``reset()`` with no argument clears everything.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._revoke_hook: Any = None
        self._revoke_all_hook: Any = None
        self._clear_revocations_hook: Any = None
        self._clear()

    def _clear(self) -> None:
        self.throttle_bps: float | None = None
        self.shared_bps: float | None = None
        self._shared_next = 0.0
        self._ignore_range: list[_Rule] = []
        self._wrong_range: list[_Rule] = []
        self._truncate: list[_Rule] = []
        self._reset: list[_Rule] = []
        self._slow: list[_Rule] = []
        self._expire: list[_Rule] = []
        self._status: list[_Rule] = []

    # -- switches -------------------------------------------------------------------------
    def reset(self, key: str | None = _UNSET, times: int = 1) -> None:
        """With no argument: clear every switch. With a key (or None): drop connections.

        ``reset(key, times)`` makes the next ``times`` requests for ``key`` end with a TCP RST
        before any response; ``reset()`` turns every fault off (also revoked signatures).
        """
        if key is _UNSET:
            with self._lock:
                self._clear()
            if self._clear_revocations_hook is not None:
                self._clear_revocations_hook()
            return
        self.reset_connection(key, times)

    def clear(self) -> None:
        """Turn every fault off (same as ``reset()`` without arguments)."""
        self.reset()

    def reset_connection(self, key: str | None, times: int = 1) -> None:
        """Drop the next ``times`` requests for ``key`` with a TCP RST before any response."""
        with self._lock:
            self._reset.append(_Rule(key, times))

    def throttle_per_connection(self, bytes_per_second: float | None) -> None:
        """Cap each TCP connection at ``bytes_per_second`` (None: no cap)."""
        self.throttle_bps = bytes_per_second

    def throttle_shared(self, bytes_per_second: float | None) -> None:
        """Cap all connections together at ``bytes_per_second`` (None: no cap): a line one
        stream already fills, where more connections only share the same bytes."""
        with self._lock:
            self.shared_bps = bytes_per_second
            self._shared_next = 0.0

    def shared_slot(self, count: int) -> float:
        """Reserve ``count`` bytes of the shared cap; the monotonic time they may be sent."""
        with self._lock:
            rate = self.shared_bps or 0.0
            now = time.monotonic()
            start = max(self._shared_next, now)
            self._shared_next = start + (count / rate if rate else 0.0)
            return start

    def ignore_range(self, key: str | None = None) -> None:
        """Answer ranged requests with 200 and the full body."""
        with self._lock:
            self._ignore_range.append(_Rule(key, None))

    def wrong_content_range(self, key: str | None = None) -> None:
        """Answer ranged requests with a 206 whose Content-Range starts elsewhere."""
        with self._lock:
            self._wrong_range.append(_Rule(key, None))

    def truncate(self, key: str | None, after_bytes: int, times: int = 1) -> None:
        """Send full headers, then close after ``after_bytes`` body bytes."""
        with self._lock:
            self._truncate.append(_Rule(key, times, after_bytes))

    def slow_body(self, key: str | None, delay_per_chunk: float) -> None:
        """Sleep ``delay_per_chunk`` seconds between 64 KiB body chunks."""
        with self._lock:
            self._slow.append(_Rule(key, None, delay_per_chunk))

    def expire_after(self, key: str | None, requests: int) -> None:
        """Presigned URLs for ``key`` stop working after ``requests`` more valid requests.

        A URL presigned after that moment works again.
        """
        if requests <= 0:
            if key is None:
                self.expire_all_signatures()
            elif self._revoke_hook is not None:
                self._revoke_hook(key)
            return
        with self._lock:
            self._expire.append(_Rule(key, requests))

    def expire_all_signatures(self) -> None:
        """Every URL presigned until now is expired; fresh ones work."""
        if self._revoke_all_hook is not None:
            self._revoke_all_hook()

    def status(self, key: str | None, code: int, times: int = 1) -> None:
        """Answer the next ``times`` requests for ``key`` with HTTP ``code``."""
        with self._lock:
            self._status.append(_Rule(key, times, code))

    # -- used by the server ---------------------------------------------------------------
    def _take(self, rules: list[_Rule], key: str) -> _Rule | None:
        with self._lock:
            for rule in rules:
                if rule.matches(key):
                    if rule.times is not None:
                        rule.times -= 1
                        if rule.times <= 0:
                            rules.remove(rule)
                    return rule
        return None

    def take_reset(self, key: str) -> bool:
        """True when this request must be dropped with a RST."""
        return self._take(self._reset, key) is not None

    def take_status(self, key: str) -> int | None:
        """The error status this request must get, if any."""
        rule = self._take(self._status, key)
        return None if rule is None else int(rule.value)

    def take_truncate(self, key: str) -> int | None:
        """How many body bytes to send before closing, if this request is truncated."""
        rule = self._take(self._truncate, key)
        return None if rule is None else int(rule.value)

    def ignores_range(self, key: str) -> bool:
        """True when Range must be ignored for ``key``."""
        return self._take(self._ignore_range, key) is not None

    def wrong_range(self, key: str) -> bool:
        """True when Content-Range must be wrong for ``key``."""
        return self._take(self._wrong_range, key) is not None

    def slow_delay(self, key: str) -> float:
        """Seconds to sleep between body chunks for ``key`` (0 when not slowed)."""
        rule = self._take(self._slow, key)
        return 0.0 if rule is None else float(rule.value)

    def count_signed_request(self, key: str) -> None:
        """Count one validly signed request; revoke the key's URLs when a rule runs out."""
        rule = self._take(self._expire, key)
        if rule is None or rule.times is None or rule.times > 0:
            return
        if rule.key is None:
            self.expire_all_signatures()
        elif self._revoke_hook is not None:
            self._revoke_hook(key)
