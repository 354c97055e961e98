"""Mistakes in reading what a store holds that the checkers must reject."""

from __future__ import annotations

from evtsrc.backends import Backend, Bucket


async def listing(backend: Backend) -> None:
    await backend.aggregate_ids(["posts"])  # expect-error: arg-type ArgumentType
    await backend.count_events(["posts"], 3)  # expect-error: call-arg CallIssue
    await backend.count_events(["posts"], up_to="9")  # expect-error: arg-type ArgumentType
    await backend.count_events(["posts"], bucket=2)  # expect-error: arg-type ArgumentType
    await backend.count_events([Bucket(0, 2)])  # expect-error: list-item ArgumentType


async def counted_as_text(backend: Backend) -> str:
    return await backend.count_events(["posts"])  # expect-error: return-value ReturnType
