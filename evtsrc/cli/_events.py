"""`evtsrc history` and `evtsrc tail`: an aggregate's events, and new events as they come."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Awaitable, Sequence

import click

from .._codec import Codec
from ..backends.base import AppendListener, EventRecord, PollingListener
from ._output import NONE, print_json, print_json_lines, print_table, row, table, when
from ._records import Shown, compact, metadata, shown
from ._target import Opened, Target, run, within

PAGE = 1000
"""Events read per page."""


def codec_of(store: Opened, raw: bool, what: str) -> Codec | None:
    """The codec events are decoded with: None with `raw`; the domain's (needs `--app`)."""
    return None if raw else store.need_domain(f"{what} (without --raw)").codec


@click.command()
@click.argument("stream")
@click.argument("aggregate_id")
@click.option("--raw", is_flag=True, help="Show the stored JSON; no --app needed.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON Lines, one event a line.")
@click.option("--after-version", type=click.IntRange(min=0), default=0, help="Skip up to here.")
@click.option("--limit", type=click.IntRange(min=1), default=None, help="Show at most N events.")
@click.pass_obj
def history(
    target: Target,
    stream: str,
    aggregate_id: str,
    raw: bool,
    as_json: bool,
    after_version: int,
    limit: int | None,
) -> None:
    """An aggregate's events in order, with their meta.

    Decoded through the application's events (--app); an event it cannot decode is
    shown as stored, with the error.
    """

    async def read(store: Opened) -> list[Shown]:
        codec = codec_of(store, raw, "history")
        found: list[Shown] = []
        after = after_version
        while limit is None or len(found) < limit:
            wanted = PAGE if limit is None else min(PAGE, limit - len(found))
            page = await store.backend.read_aggregate(
                stream, aggregate_id, after_version=after, limit=wanted
            )
            found += [shown(record, codec) for record in page]
            if len(page) < wanted:
                break
            after = page[-1].version
        return found

    events = run(target, read)
    if as_json:
        print_json_lines(event.as_json() for event in events)
        return
    shown_events = table("version", "position", "timestamp", "type", "event", "ev")
    for event in events:
        r = event.record
        cells = (r.version, r.position, when(r.timestamp), r.type, event.payload())
        row(shown_events, *cells, r.event_version)
        stored = metadata(r)
        about = f"id {r.event_id or NONE}" + (f" metadata {compact(stored)}" if stored else "")
        row(shown_events, "", "", "", "", about, "", style="dim")
    print_table(shown_events)
    if not events:
        click.echo(f"no events of {stream}/{aggregate_id}", err=True)


def line(event: Shown) -> str:
    """One event as `tail` prints it: position, stream/id, version, type and payload."""
    r = event.record
    return f"{r.position} {r.stream}/{r.aggregate_id} v{r.version} {r.type} {event.payload()}"


@click.command()
@click.argument("streams", nargs=-1)
@click.option("--after", type=click.IntRange(min=0), default=None, help="Start after POSITION.")
@click.option("--from-start", is_flag=True, help="Start at the first event.")
@click.option("--raw", is_flag=True, help="Show the stored JSON, even with --app.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON Lines, one event a line.")
@click.option("--count", type=click.IntRange(min=1), default=None, help="Exit after N events.")
@click.option(
    "--poll",
    type=click.FloatRange(min=0.01),
    default=1.0,
    show_default=True,
    help="Seconds between reads where the store cannot push appends.",
)
@click.pass_obj
def tail(
    target: Target,
    streams: tuple[str, ...],
    after: int | None,
    from_start: bool,
    raw: bool,
    as_json: bool,
    count: int | None,
    poll: float,
) -> None:
    """Follow new events of STREAMS (every stream if none), from the end unless told.

    Decoded through --app where given. Ends after --count events, or on Ctrl-C or
    SIGTERM (exit status 0).
    """
    if after is not None and from_start:
        raise click.UsageError("--after and --from-start exclude each other")

    async def follow(store: Opened) -> None:
        codec = None if raw or store.domain is None else store.domain.codec
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        try:
            await Follower(target, store, streams, codec, as_json, count).run(
                after, from_start, poll, stop
            )
        finally:
            for signum in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(signum)

    run(target, follow, bounded=False)


class Follower:
    """Prints the events of some streams (or all) as they are appended."""

    def __init__(
        self,
        target: Target,
        store: Opened,
        streams: Sequence[str],
        codec: Codec | None,
        as_json: bool,
        count: int | None,
    ) -> None:
        self.target = target
        self.backend = store.backend
        self.fixed = tuple(streams)
        self.codec = codec
        self.as_json = as_json
        self.left = count

    async def streams(self) -> tuple[str, ...]:
        """The streams followed: those named, else every stream holding events now."""
        if self.fixed:
            return self.fixed
        return tuple(await within(self.target, self.backend.streams()))

    async def run(
        self, after: int | None, from_start: bool, poll: float, stop: asyncio.Event
    ) -> None:
        """Print events until `stop` is set or `count` were printed."""
        streams = await self.streams()
        if after is not None:
            position = after
        elif from_start or not streams:
            position = 0
        else:
            position = await within(self.target, self.backend.last_position(streams))
        which = " ".join(self.fixed) or "every stream"
        click.echo(f"following {which} after position {position}", err=True)
        listener: AppendListener = PollingListener()
        if streams:  # woken by the store where it can push; the streams known now
            listener = await within(self.target, self.backend.listen(streams))
        try:
            while not stop.is_set():
                page: Sequence[EventRecord] = []
                if streams:
                    page = await within(
                        self.target,
                        self.backend.read_streams(streams, after_position=position, limit=PAGE),
                    )
                for record in page:
                    self.print(shown(record, self.codec))
                    position = record.position
                    if self.left is not None:
                        self.left -= 1
                        if self.left == 0:
                            return
                if len(page) == PAGE:
                    continue
                await wait_either(listener.wait(poll), stop)
                if not self.fixed and not stop.is_set():
                    streams = await self.streams()
        finally:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(listener.close(), self.target.timeout)

    def print(self, event: Shown) -> None:
        """Print one event: a line of text, or of JSON."""
        if self.as_json:
            print_json(event.as_json())
        else:
            click.echo(line(event))


async def wait_either(waiting: Awaitable[None], stop: asyncio.Event) -> None:
    """Wait for `waiting` or for `stop`, whichever comes first; `waiting`'s error is raised."""
    heard = asyncio.ensure_future(waiting)
    stopped = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait((heard, stopped), return_when=asyncio.FIRST_COMPLETED)
    finally:
        heard.cancel()
        stopped.cancel()
        await asyncio.wait((heard, stopped))
    if not heard.cancelled():
        heard.result()
