"""A handler's retry policy: a callback that raised is called again before its event fails."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from evtsrc import Domain, EventHandler, EventMeta, HandlerError, RetryPolicy, on_event
from evtsrc.backends import InMemoryBackend
from tests.conformance.model import Counter, Event, Ledger, One

AT_ONCE = RetryPolicy(attempts=3, backoff=0.0, max_delay=0.0)


class Flaky(EventHandler, name="flaky"):
    """Fails on an aggregate's events as many times as `failures` says, then handles them."""

    def __init__(self, failures: dict[str, int]) -> None:
        self.failures = failures
        self.calls: dict[str, int] = {}
        self.handled: list[str] = []
        self.errors: list[str] = []

    @on_event
    def one(self, event: One, meta: EventMeta) -> None:
        aggregate_id = meta.aggregate_id
        self.calls[aggregate_id] = self.calls.get(aggregate_id, 0) + 1
        if self.failures.get(aggregate_id, 0) > 0:
            self.failures[aggregate_id] -= 1
            raise RuntimeError(f"{aggregate_id} failed, call {self.calls[aggregate_id]}")
        self.handled.append(aggregate_id)

    async def on_error(self, error: Exception, event: Event | None, meta: EventMeta) -> None:
        self.errors.append(str(error))


class AsyncFlakyWithHooks(Flaky, name="flaky"):
    """The same callback, async, on a handler with batch hooks (another path of the runner)."""

    def __init__(self, failures: dict[str, int]) -> None:
        super().__init__(failures)
        self.flushed: list[int] = []

    @on_event
    async def one(self, event: One, meta: EventMeta) -> None:
        super().one(event, meta)

    async def after_batch(self, events: Any) -> None:
        self.flushed.append(len(events))


async def _domain(*ids: str) -> tuple[Domain, list[int]]:
    domain = Domain(InMemoryBackend(), aggregates=[Counter, Ledger])
    positions = []
    for aggregate_id in ids:
        counter = await domain.repository(Counter).execute(aggregate_id, Counter.do_one)
        positions.append(counter.last_position)
    return domain, positions


@pytest.mark.parametrize("kind", [Flaky, AsyncFlakyWithHooks])
async def test_a_callback_that_fails_less_often_than_the_attempts_is_handled(
    kind: type[Flaky],
) -> None:
    domain, positions = await _domain("a", "b", "c")
    handler = kind({"b": 2})
    runner = domain.handler(handler, retry=AT_ONCE)
    assert await runner.run_once() == 3
    assert handler.handled == ["a", "b", "c"]
    assert handler.calls == {"a": 1, "b": 3, "c": 1}
    assert await runner.position() == positions[-1]


@pytest.mark.parametrize("kind", [Flaky, AsyncFlakyWithHooks])
async def test_when_the_attempts_run_out_the_last_failure_stops_the_handler(
    kind: type[Flaky],
) -> None:
    domain, positions = await _domain("a", "b", "c")
    handler = kind({"b": 5})
    runner = domain.handler(handler, retry=AT_ONCE)
    with pytest.raises(HandlerError, match="b failed, call 3") as raised:
        await runner.run_once()
    assert isinstance(raised.value.__cause__, RuntimeError)
    assert str(raised.value.__cause__) == "b failed, call 3"
    assert handler.calls == {"a": 1, "b": 3}
    assert await runner.position() == positions[0]  # just before the failing event


@pytest.mark.parametrize("kind", [Flaky, AsyncFlakyWithHooks])
async def test_with_continue_on_error_the_last_failure_is_reported_once(
    kind: type[Flaky],
) -> None:
    domain, positions = await _domain("a", "b", "c")
    handler = kind({"b": 5})
    runner = domain.handler(handler, retry=AT_ONCE, continue_on_error=True)
    assert await runner.run_once() == 2
    assert handler.errors == ["b failed, call 3"]
    assert handler.calls == {"a": 1, "b": 3, "c": 1}
    assert await runner.position() == positions[-1]


async def test_without_a_policy_a_failure_is_not_retried() -> None:
    domain, _ = await _domain("a")
    handler = Flaky({"a": 1})
    with pytest.raises(HandlerError, match="a failed, call 1"):
        await domain.handler(handler).run_once()
    assert handler.calls == {"a": 1}


async def test_the_policy_waits_between_attempts() -> None:
    domain, _ = await _domain("a")
    handler = Flaky({"a": 2})
    waits: list[float] = []
    policy = RetryPolicy(attempts=3, backoff=0.01, max_delay=0.02)
    runner = domain.handler(handler, retry=policy)
    sleep = asyncio.sleep

    async def recorded(delay: float, *args: Any) -> Any:
        waits.append(delay)
        return await sleep(delay, *args)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("evtsrc._batches.asyncio.sleep", recorded)
        assert await runner.run_once() == 1
    assert len(waits) == 2
    assert 0 <= waits[0] <= 0.01 and 0 <= waits[1] <= 0.02


def test_retry_must_be_a_policy() -> None:
    domain = Domain(InMemoryBackend(), aggregates=[Counter, Ledger])
    with pytest.raises(TypeError, match="retry must be a RetryPolicy or None, not 3"):
        domain.handler(Flaky({}), retry=3)  # type: ignore[arg-type]
