"""RetryPolicy: capped, overflow-free backoff and a total time budget, also through execute."""

from __future__ import annotations

import math
import time
from collections.abc import Sequence

import pytest

from evtsrc import Domain, RetryPolicy, VersionConflict
from evtsrc.backends import EventRecord, InMemoryBackend, NewEvent

from .conformance.model import Counter


class FakeClock:
    """A monotonic clock that only moves when told to."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class AlwaysLosing(InMemoryBackend):
    """Every append loses the race; each one takes `seconds` on `clock`."""

    def __init__(self, clock: FakeClock | None = None, seconds: float = 0.0) -> None:
        super().__init__()
        self.clock, self.seconds, self.appends = clock, seconds, 0

    async def append(
        self, stream: str, aggregate_id: str, expected_version: int, events: Sequence[NewEvent]
    ) -> Sequence[EventRecord]:
        self.appends += 1
        if self.clock is not None:
            self.clock.now += self.seconds
        raise VersionConflict(stream, aggregate_id, expected_version)


def test_delays_never_exceed_max_delay_even_for_huge_attempts() -> None:
    default = RetryPolicy()
    assert 0 < default.max_delay < 1
    capped = RetryPolicy(backoff=0.01, max_delay=0.05)
    for attempt in (*range(1, 40), 1000, 1100, 10**6, 10**30):
        for policy in (default, capped):
            assert 0 <= policy.delay(attempt) <= policy.max_delay, (policy, attempt)
    # The cap is reached, not undercut: the later delays spread over the whole range.
    assert max(capped.delay(20) for _ in range(500)) > 0.04


def test_delays_still_double_from_backoff_below_the_cap() -> None:
    policy = RetryPolicy(backoff=0.001, max_delay=1.0)
    for attempt in range(1, 12):
        bound = min(1.0, 0.001 * 2 ** (attempt - 1))
        assert all(0 <= policy.delay(attempt) <= bound for _ in range(50)), attempt
    assert RetryPolicy(backoff=0, max_delay=0).delay(10**6) == 0


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"attempts": 0}, "attempts is at least 1, not 0"),
        ({"backoff": -0.1}, "backoff is a finite number of seconds >= 0, not -0.1"),
        ({"backoff": math.nan}, "backoff is a finite number of seconds >= 0, not nan"),
        ({"max_delay": -1}, "max_delay is a finite number of seconds >= 0, not -1"),
        ({"max_delay": math.inf}, "max_delay is a finite number of seconds >= 0, not inf"),
        ({"budget": 0}, "budget is a finite number of seconds > 0 or None, not 0"),
        ({"budget": -5.0}, "budget is a finite number of seconds > 0 or None, not -5.0"),
        ({"budget": math.inf}, "budget is a finite number of seconds > 0 or None, not inf"),
        ({"backoff": 1.0}, r"backoff \(1.0\) exceeds max_delay \(0.1\)"),
        ({"backoff": 0.5, "max_delay": 0.2}, r"backoff \(0.5\) exceeds max_delay \(0.2\)"),
    ],
)
def test_inconsistent_policies_are_refused(options: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        RetryPolicy(**options)  # type: ignore[arg-type]


def test_next_delay_never_sleeps_past_the_budget() -> None:
    policy = RetryPolicy(attempts=1000, backoff=0.01, max_delay=0.5, budget=1.0)
    for attempt in (1, 5, 10, 999):
        for elapsed in (0.0, 0.3, 0.6, 0.9, 0.99, 0.999999):
            for _ in range(50):
                wait = policy.next_delay(attempt, elapsed)
                assert wait is not None, (attempt, elapsed)
                assert 0 <= wait <= policy.max_delay
                assert elapsed + wait <= 1.0 + 1e-9
        for elapsed in (1.0, 1.5, 1e9):
            assert policy.next_delay(attempt, elapsed) is None, (attempt, elapsed)
    assert policy.next_delay(1000, 0.0) is None  # every attempt used
    assert RetryPolicy(attempts=3).next_delay(2, 1e9) is not None  # no budget: no limit


async def test_execute_stops_retrying_once_the_budget_is_spent() -> None:
    clock = FakeClock()
    backend = AlwaysLosing(clock, seconds=1.0)  # each run takes one second
    policy = RetryPolicy(attempts=100, backoff=0, max_delay=0, budget=3.5, clock=clock)
    counters = (
        Domain(backend, aggregates=[Counter], cache_size=0).repository(Counter).with_retry(policy)
    )
    with pytest.raises(VersionConflict):
        await counters.execute("c", Counter.do_one)
    assert backend.appends == 4  # runs started at 0, 1, 2 and 3 s; at 4 s the budget is spent

    backend.appends = 0
    roomy = RetryPolicy(attempts=6, backoff=0, max_delay=0, budget=1e6, clock=clock)
    with pytest.raises(VersionConflict):
        await counters.with_retry(roomy).execute("c", Counter.do_one)
    assert backend.appends == 6  # the attempts run out first


async def test_execute_honours_a_small_real_budget() -> None:
    backend = AlwaysLosing()
    policy = RetryPolicy(attempts=10**9, backoff=0.001, max_delay=0.005, budget=0.05)
    counters = (
        Domain(backend, aggregates=[Counter], cache_size=0).repository(Counter).with_retry(policy)
    )
    started = time.monotonic()
    with pytest.raises(VersionConflict):
        await counters.execute("c", Counter.do_one)
    assert time.monotonic() - started < 2.0  # 0.05 s of budget, with room for a slow machine
    assert backend.appends > 1
