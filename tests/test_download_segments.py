"""Range planning for segmented downloads: splits for added connections, resume bookkeeping."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from civittui.download.segments import RangePlan, merge_intervals, missing_intervals

MiB = 1 << 20


def test_merge_and_missing_intervals() -> None:
    assert merge_intervals([(5, 9), (0, 3), (3, 4), (8, 12), (20, 20)]) == [(0, 4), (5, 12)]
    assert missing_intervals([(0, 4), (5, 12)], 15) == [(4, 5), (12, 15)]
    assert missing_intervals([], 10) == [(0, 10)]
    assert missing_intervals([(0, 10)], 10) == []


def test_a_resumed_plan_fetches_only_the_holes() -> None:
    plan = RangePlan(100 * MiB, [(0, 10 * MiB), (50 * MiB, 60 * MiB)], min_split=MiB)
    assert plan.done_bytes() == 20 * MiB
    assert [(s.start, s.end) for s in plan.segments] == [
        (10 * MiB, 50 * MiB),
        (60 * MiB, 100 * MiB),
    ]
    assert plan.planned_end(10 * MiB) == 50 * MiB
    assert plan.take() is plan.segments[0]  # holes are taken before anything is split


def test_idle_connection_takes_half_of_the_largest_remaining_range() -> None:
    plan = RangePlan(8 * MiB, min_split=MiB)
    first, second = plan.take(), plan.take()
    assert first is not None and second is not None
    first.pos = first.end  # the first connection finished early
    second.pos = second.start + MiB  # the second one is slow
    stolen = plan.take()
    assert stolen is not None
    assert second.end == stolen.start
    assert stolen.end == 8 * MiB
    assert stolen.start - second.pos >= MiB and stolen.end - stolen.start >= MiB


def test_nothing_is_split_below_the_minimum() -> None:
    plan = RangePlan(3 * MiB, min_split=MiB)
    assert plan.take() is not None and plan.take() is not None
    assert len(plan.segments) == 2 and plan.take() is None  # 1.5 MiB halves stay whole
    only = RangePlan(MiB, min_split=MiB)
    seg = only.take()
    assert seg is not None and only.take() is None


def test_split_respects_bytes_already_received() -> None:
    plan = RangePlan(16 * MiB, min_split=MiB)
    seg = plan.take()
    assert seg is not None
    seg.fetched = 12 * MiB  # received, still on its way to the disk
    stolen = plan.take()
    assert stolen is not None and stolen.start >= 12 * MiB + MiB


@settings(max_examples=60, deadline=None)
@given(
    total=st.integers(min_value=1, max_value=40 * MiB),
    count=st.integers(min_value=1, max_value=8),
    steps=st.lists(st.tuples(st.integers(0, 7), st.integers(1, 3 * MiB)), max_size=200),
)
def test_any_interleaving_covers_every_byte_exactly_once(
    total: int, count: int, steps: list[tuple[int, int]]
) -> None:
    plan = RangePlan(total, min_split=MiB)
    live = [s for s in (plan.take() for _ in range(count)) if s is not None]
    written: list[tuple[int, int]] = []

    def advance(who: int, amount: int) -> None:
        seg = live[who % len(live)]
        end = min(seg.pos + amount, seg.end)
        written.append((seg.pos, end))
        seg.pos = end
        if seg.finished:
            live.remove(seg)
            nxt = plan.take()
            if nxt is not None:
                live.append(nxt)

    for who, amount in steps:
        if live:
            advance(who, amount)
    while live:  # then let every connection run to the end
        advance(0, total)
    assert plan.complete
    assert sum(b - a for a, b in written) == total  # no byte fetched twice
    assert merge_intervals(written) == [(0, total)]


def test_a_split_given_back_rejoins_the_range_still_streaming_towards_it() -> None:
    plan = RangePlan(8 * MiB, min_split=MiB)
    first = plan.take()
    assert first is not None
    first.fetched = first.pos = MiB
    trial = plan.take()
    assert trial is not None and trial.start == first.end
    trial.pos = trial.fetched = trial.start + 64 * 1024
    plan.give_back(trial)
    assert [(s.start, s.end) for s in plan.segments] == [(0, 8 * MiB)]
    assert plan.done_intervals() == [(0, MiB)]  # what the trial wrote is fetched again


def test_a_split_given_back_after_its_neighbour_hung_up_waits_for_a_connection() -> None:
    plan = RangePlan(8 * MiB, min_split=MiB)
    first = plan.take()
    assert first is not None
    trial = plan.take()
    assert trial is not None
    first.fetched = first.end  # the first connection already stopped at the split
    plan.give_back(trial)
    assert len(plan.segments) == 2 and not trial.active
    assert plan.take() is trial


def test_a_finished_split_given_back_stays_done() -> None:
    plan = RangePlan(8 * MiB, min_split=MiB)
    first = plan.take()
    trial = plan.take()
    assert first is not None and trial is not None
    trial.pos = trial.fetched = trial.end
    plan.give_back(trial)
    assert trial in plan.segments and plan.done_bytes() == trial.end - trial.start
