"""The after-commit notifier: one call at a time, later streams batched, failures logged."""

from __future__ import annotations

import asyncio
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
