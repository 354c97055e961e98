"""`evtsrc status`: where each handler is, how far behind, who runs it, what it parked.

One async function (`gather`) builds a `Status`; two renderers print it (a rich table,
a JSON document).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime

import attrs
import click

from .._group import HandlerGroup, bucket_bookmark
from .._handlers import EventHandler
from .._runner import HandlerRunner
from .._versions import LIVE_SUFFIX
from ..backends.base import (
    Backend,
    Bucket,
    ListableBookmarks,
    ParkedEvents,
)
from ..backends.urls import redacted
from ._output import NONE, duration, iso, print_json, print_table, row, table
from ._target import Bound, Failed, Opened, Target, run

PAGE = 1000
"""Events read per page while counting a lag."""

VERSION_NAME = re.compile(r"^(?P<handler>.*)@(?P<version>[0-9]+)$")
"""The bookmark name of a version of a handler's read model other than 1: `<handler>@<N>`."""

BUCKET_NAME = re.compile(r"^(?P<handler>.*)#(?P<index>\d+)/(?P<count>\d+)$")
"""A group bucket's bookmark name: `<handler>#<index>/<count>`."""


@attrs.frozen
class Lag:
    """How far a bookmark is behind: events after it (counted up to a cap), and since when."""

    events: int
    """The events after the bookmark, at most the cap."""
    capped: bool
    """Whether there are more than `events` (the count stopped at the cap)."""
    oldest: datetime | None
    """The timestamp of the oldest event not yet handled; None when caught up."""

    def seconds(self, now: datetime) -> float | None:
        """How long the oldest event not yet handled has waited; None when caught up."""
        return None if self.oldest is None else max((now - self.oldest).total_seconds(), 0.0)

    def text(self) -> str:
        """The lag in events as a table shows it: `>CAP` beyond the cap."""
        return f">{self.events}" if self.capped else str(self.events)


@attrs.frozen
class Lease:
    """Who holds a lease: `known` is False where the store cannot tell (not `LeaseHolders`)."""

    known: bool
    holder: str | None = None

    def text(self) -> str:
        """The holder as a table shows it: `unknown` where the store cannot tell."""
        return "unknown" if not self.known else self.holder or NONE


@attrs.frozen
class BucketStatus:
    """One bucket of a handler group: its bookmark, lag and lease."""

    index: int
    bookmark: str
    position: int
    lag: Lag
    lease: Lease


@attrs.frozen
class HandlerStatus:
    """One handler of the application, or one bookmark of the store (without `--app`)."""

    name: str
    kind: str
    """`runner`, `group`, `bookmark` (without --app), or `bucket` (a group's, without --app)."""
    streams: tuple[str, ...] | None
    """The streams it reads; None for every stream of the store (without --app)."""
    position: int
    """Its bookmark; a group's is its lowest bucket's."""
    head: int
    """The last position of its streams."""
    lag: Lag
    lease: Lease | None
    """Its lease; None for a group (each bucket has its own)."""
    parked: int | None
    """How many aggregates it parked; None if it does not park (or the store cannot tell)."""
    buckets: tuple[BucketStatus, ...] = ()
    members: tuple[str, ...] | None = None
    """A group's live members; None for a runner, or where the store cannot list them."""


@attrs.frozen
class Status:
    """The status of every handler (or bookmark) of a store, at `checked_at`."""

    store: str
    checked_at: datetime
    lag_cap: int
    handlers: tuple[HandlerStatus, ...]


async def lag_after(
    backend: Backend,
    streams: Sequence[str],
    position: int,
    cap: int,
    bucket: Bucket | None = None,
) -> Lag:
    """The lag of a bookmark at `position` over `streams` (of `bucket`), counted up to `cap`."""
    count = 0
    oldest: datetime | None = None
    while count <= cap and streams:
        wanted = min(PAGE, cap + 1 - count)
        page = await backend.read_streams(
            streams, after_position=position, limit=wanted, metadata=False, bucket=bucket
        )
        if not page:
            break
        if oldest is None:
            oldest = page[0].timestamp
        count += len(page)
        if len(page) < wanted:
            break
        position = page[-1].position
    return Lag(min(count, cap), count > cap, oldest)


async def lease_of(backend: Backend, name: str) -> Lease:
    """Who holds lease `name`, where the store can tell."""
    try:
        return Lease(known=True, holder=await backend.lease_holder(name))
    except NotImplementedError:  # a backend of another library, written before it
        return Lease(known=False)


async def members_of(backend: Backend, group: str) -> tuple[str, ...] | None:
    """The live members of `group`, where the store can list them."""
    try:
        return tuple(await backend.members(group))
    except NotImplementedError:
        return None


async def of_versions(
    runner: HandlerRunner[EventHandler], backend: Backend, cap: int
) -> list[HandlerStatus]:
    """A versioned runner's live version, then each other version built (bookmark past 0)."""
    live = await runner.live_version()
    rows = [await of_handler(runner.at_version(live), backend, cap, f"runner, v{live} live")]
    stored = await backend.bookmarks() if isinstance(backend, ListableBookmarks) else {}
    for name, position in stored.items():
        found = VERSION_NAME.match(name)
        version = 1 if name == runner.handler_name else None
        if found is not None and found["handler"] == runner.handler_name:
            version = int(found["version"])
        if version is not None and version != live and position > 0:
            other = runner.at_version(version)
            rows.append(await of_handler(other, backend, cap, f"version {version}"))
    return rows


async def of_handler(
    bound: Bound, backend: Backend, cap: int, kind: str = "runner"
) -> HandlerStatus:
    """The status of one of the application's runners (of `kind`) or groups."""
    streams = bound.streams
    head = await backend.last_position(streams)
    parked = len(await bound.parked()) if bound.parks else None
    if not isinstance(bound, HandlerGroup):
        position = await bound.position()
        lag = await lag_after(backend, streams, position, cap)
        lease = await lease_of(backend, bound.name)
        return HandlerStatus(bound.name, kind, streams, position, head, lag, lease, parked)
    buckets = tuple(
        [
            await of_bucket(backend, bound.name, index, bound.buckets, position, streams, cap)
            for index, position in (await bound.positions()).items()
        ]
    )
    total = sum(b.lag.events for b in buckets)
    oldest = [b.lag.oldest for b in buckets if b.lag.oldest is not None]
    lag = Lag(
        min(total, cap),
        total > cap or any(b.lag.capped for b in buckets),
        min(oldest, default=None),
    )
    return HandlerStatus(
        bound.name,
        "group",
        streams,
        min(b.position for b in buckets),
        head,
        lag,
        None,
        parked,
        buckets,
        await members_of(backend, bound.name),
    )


async def of_bucket(
    backend: Backend,
    handler: str,
    index: int,
    count: int,
    position: int,
    streams: Sequence[str],
    cap: int,
) -> BucketStatus:
    """The status of bucket `index` of `count` of group `handler`, at `position`."""
    name = bucket_bookmark(handler, index, count)
    lag = await lag_after(backend, streams, position, cap, Bucket(index, count))
    return BucketStatus(index, name, position, lag, await lease_of(backend, name))


async def of_bookmark(
    backend: Backend, name: str, position: int, streams: tuple[str, ...], head: int, cap: int
) -> HandlerStatus:
    """The status of a stored bookmark, against every stream (a bucket's against its own).

    A `<handler>@live` bookmark holds the number of a versioned handler's live version.
    """
    if name.endswith(LIVE_SUFFIX):
        lease = Lease(known=False)
        return HandlerStatus(
            name, "live version", None, position, head, Lag(0, False, None), lease, None
        )
    found = BUCKET_NAME.match(name)
    bucket = None
    if found is not None and 0 <= int(found["index"]) < int(found["count"]):
        bucket = Bucket(int(found["index"]), int(found["count"]))
    lag = await lag_after(backend, streams, position, cap, bucket)
    parked = None
    if bucket is None and isinstance(backend, ParkedEvents):
        parked = len(await backend.parked(name))
    kind = "bookmark" if bucket is None else "bucket"
    return HandlerStatus(
        name, kind, None, position, head, lag, await lease_of(backend, name), parked
    )


async def gather(store: Opened, cap: int, url: str) -> Status:
    """The status of the application's handlers, or without one of every stored bookmark."""
    backend = store.backend
    handlers: list[HandlerStatus] = []
    if store.domain is not None:
        for bound in store.domain.handlers:
            if isinstance(bound, HandlerRunner) and bound.versioned:
                handlers.extend(await of_versions(bound, backend, cap))
            else:
                handlers.append(await of_handler(bound, backend, cap))
    else:
        if not isinstance(backend, ListableBookmarks):
            raise Failed(f"{type(backend).__name__} cannot list its bookmarks: pass --app")
        streams = tuple(await backend.streams())
        head = await backend.last_position(streams) if streams else 0
        for name, position in (await backend.bookmarks()).items():
            handlers.append(await of_bookmark(backend, name, position, streams, head, cap))
    return Status(redacted(url), datetime.now(UTC), cap, tuple(handlers))


def lag_json(lag: Lag, now: datetime) -> dict[str, object]:
    """The lag keys of a handler's or a bucket's JSON object."""
    return {
        "lag_events": lag.events,
        "lag_capped": lag.capped,
        "lag_seconds": lag.seconds(now),
        "oldest_unhandled_at": None if lag.oldest is None else iso(lag.oldest),
    }


def lease_json(lease: Lease | None) -> dict[str, object]:
    """The lease keys of a handler's or a bucket's JSON object."""
    return {
        "lease_known": lease is not None and lease.known,
        "lease_holder": None if lease is None else lease.holder,
    }


def as_json(status: Status) -> dict[str, object]:
    """The document `status --json` prints (its keys are documented in docs/operations.md)."""
    now = status.checked_at
    return {
        "store": status.store,
        "checked_at": iso(now),
        "lag_cap": status.lag_cap,
        "handlers": [
            {
                "name": h.name,
                "kind": h.kind,
                "streams": None if h.streams is None else list(h.streams),
                "position": h.position,
                "head": h.head,
                **lag_json(h.lag, now),
                **lease_json(h.lease),
                "parked": h.parked,
                "buckets": [
                    {
                        "index": b.index,
                        "bookmark": b.bookmark,
                        "position": b.position,
                        **lag_json(b.lag, now),
                        **lease_json(b.lease),
                    }
                    for b in h.buckets
                ],
                "members": None if h.members is None else list(h.members),
            }
            for h in status.handlers
        ],
    }


def print_status(status: Status) -> None:
    """Print `status` as a table: a row per handler, indented rows for a group's buckets."""
    now = status.checked_at
    shown = table("handler", "kind", "position", "head", "lag", "behind", "lease", "parked")
    for h in status.handlers:
        kind = f"group of {len(h.buckets)}" if h.kind == "group" else h.kind
        lease = NONE if h.lease is None else h.lease.text()
        behind = duration(h.lag.seconds(now))
        row(shown, h.name, kind, h.position, h.head, h.lag.text(), behind, lease, h.parked)
        for b in h.buckets:
            behind = duration(b.lag.seconds(now))
            cells = (
                f"  #{b.index}",
                "bucket",
                b.position,
                "",
                b.lag.text(),
                behind,
                b.lease.text(),
            )
            row(shown, *cells, "", style="dim")
    if not status.handlers:
        row(shown, "(no handlers)", "", "", "", "", "", "", "")
    print_table(shown)
    for h in status.handlers:
        if h.kind == "group":
            members = "unknown" if h.members is None else ", ".join(h.members) or "none"
            click.echo(f"members of {h.name}: {members}")


@click.command()
@click.option("--json", "as_json_", is_flag=True, help="Print one JSON document, for scripts.")
@click.option(
    "--lag-cap",
    type=click.IntRange(min=1),
    default=100_000,
    show_default=True,
    help="Count at most this many events behind a bookmark (more shows as >CAP).",
)
@click.pass_obj
def status(target: Target, as_json_: bool, lag_cap: int) -> None:
    """Each handler's position, lag, lease holder and parked aggregates.

    With --app, the application's handlers; without, every bookmark of the store.
    """
    url = target.store_url()
    found = run(target, lambda store: gather(store, lag_cap, url))
    if as_json_:
        print_json(as_json(found))
    else:
        print_status(found)
