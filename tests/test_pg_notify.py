"""The after-commit notifier: one call at a time, later streams batched, failures logged."""

from __future__ import annotations

import asyncio
import itertools
import logging

import pytest

from evtsrc.backends.postgres._notify import AfterCommitNotifier


async def test_streams_announced_during_a_send_go_together_in_the_next() -> None:
    calls: list[list[str]] = []
    release = asyncio.Event()

    async def send(streams: list[str]) -> None:
        calls.append(streams)
        if len(calls) == 1:
            await release.wait()

    notifier = AfterCommitNotifier(send)
    notifier.announce("a")
    await asyncio.sleep(0)  # the first send is under way
    for stream in ("b", "c", "b"):
        notifier.announce(stream)
    release.set()
    await notifier.flush()
    assert calls == [["a"], ["b", "c"]]


async def test_a_failed_send_is_logged_and_later_ones_still_go(
    caplog: pytest.LogCaptureFixture,
) -> None:
    calls: list[list[str]] = []

    async def send(streams: list[str]) -> None:
        calls.append(streams)
        if streams == ["bad"]:
            raise ConnectionError("server gone")

    notifier = AfterCommitNotifier(send)
    with caplog.at_level(logging.WARNING, logger="evtsrc"):
        notifier.announce("bad")
        await notifier.flush()
        notifier.announce("good")
        await notifier.flush()
    assert calls == [["bad"], ["good"]]
    assert "could not notify listeners of appends to ['bad']" in caplog.text


async def test_the_first_announcement_after_a_quiet_spell_goes_at_once() -> None:
    loop = asyncio.get_running_loop()
    sent: list[float] = []

    async def send(streams: list[str]) -> None:
        sent.append(loop.time())

    notifier = AfterCommitNotifier(send, interval=0.05)
    announced = loop.time()
    notifier.announce("a")
    await notifier.flush()
    assert sent[0] - announced < 0.05


async def test_a_burst_goes_in_calls_at_least_the_interval_apart() -> None:
    loop = asyncio.get_running_loop()
    calls: list[tuple[float, list[str]]] = []

    async def send(streams: list[str]) -> None:
        calls.append((loop.time(), streams))

    notifier = AfterCommitNotifier(send, interval=0.05)
    started = loop.time()
    for i in range(30):  # one announcement every 5 ms, over 150 ms
        notifier.announce(f"s{i % 3}")
        await asyncio.sleep(0.005)
    await notifier.flush()
    elapsed = loop.time() - started
    times = [at for at, _ in calls]
    assert all(b - a >= 0.049 for a, b in itertools.pairwise(times)), times
    assert len(calls) <= 2 + elapsed / 0.05, calls  # not 30: the burst went together
    assert calls[0] == (pytest.approx(started, abs=0.02), ["s0"])
    assert {s for _, streams in calls for s in streams} == {"s0", "s1", "s2"}
    assert calls[-1][0] <= loop.time()  # flush waited for the last one
