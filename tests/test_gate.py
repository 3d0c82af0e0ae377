"""The API gate on a fake clock: spacing, `sent`, cool-downs, stored cool-downs, backoff."""

from __future__ import annotations

import pytest

from civittui.civitai.gate import MAX_RETRY_AFTER, ApiGate
from civittui.config import RateSettings


class FakeClock:
    """Monotonic and wall time that move only when the gate sleeps (or a test says so)."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.wall = 1_700_000_000.0
        self.slept: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def time(self) -> float:
        return self.wall

    def advance(self, seconds: float) -> None:
        self.now += seconds
        self.wall += seconds

    async def sleep(self, seconds: float) -> None:
        self.slept.append(round(seconds, 6))
        self.advance(seconds)


def gate(clock: FakeClock, rate: RateSettings | None = None, **kwargs: object) -> ApiGate:
    return ApiGate(
        rate or RateSettings(min_interval=1.5, max_backoff=60.0),
        clock=clock.monotonic,
        wall=clock.time,
        sleep=clock.sleep,
        **kwargs,  # type: ignore[arg-type]
    )


async def test_request_starts_are_min_interval_apart() -> None:
    clock = FakeClock()
    g = gate(clock)
    await g.acquire()
    await g.acquire()
    clock.advance(0.5)
    await g.acquire()
    assert clock.slept == [1.5, 1.0]
    assert g.calls == 3 and g.state().api_calls == 3


async def test_sent_spaces_the_next_start_from_the_wire() -> None:
    clock = FakeClock()
    g = gate(clock)
    await g.acquire()
    clock.advance(0.4)  # the connection took 0.4 s to set up
    g.sent()
    assert g.state().next_call_in == pytest.approx(1.5)
    await g.acquire()
    assert clock.slept == [pytest.approx(1.5)]


async def test_a_cool_down_holds_everyone_and_is_told_to_the_store() -> None:
    clock = FakeClock()
    told: list[float] = []
    g = gate(clock, on_cooldown=told.append)
    g.cool_down(30, "429 Too Many Requests")
    g.cool_down(10, "shorter")  # never shortens a running one
    state = g.state()
    assert (state.backoff_for, state.backoff_reason) == (30, "429 Too Many Requests")
    assert told == [clock.wall + 30]
    await g.acquire()
    assert clock.slept == [30]
    assert g.state().backoff_reason is None


async def test_a_stored_cool_down_is_honoured_at_start() -> None:
    clock = FakeClock()
    g = gate(clock, cooldown_until=clock.wall + 12)
    assert g.state().backoff_for == pytest.approx(12)
    assert g.state().backoff_reason == "stored 429 cool-down"
    await g.acquire()
    assert clock.slept == [pytest.approx(12)]
    fresh = FakeClock()
    past = gate(fresh, cooldown_until=fresh.wall - 5)  # ended while civittui was not running
    assert past.state().backoff_for == 0


def test_backoff_doubles_up_to_the_cap_and_honours_retry_after() -> None:
    g = gate(FakeClock(), RateSettings(min_interval=0, max_backoff=20))
    assert [g.backoff_delay(n, None) for n in (1, 2, 3, 4, 5)] == [2, 4, 8, 16, 20]
    assert g.backoff_delay(1, 90) == 90  # as given, even above max_backoff
    assert g.backoff_delay(1, 10 * MAX_RETRY_AFTER) == MAX_RETRY_AFTER
    assert g.backoff_delay(3, -1) == 8
