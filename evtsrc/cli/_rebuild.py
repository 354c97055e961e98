"""`evtsrc rebuild`, `swap` and `drop`: replay a handler's read model, blue/green or in place."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import attrs
import click
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from .._errors import HandlerBusy
from .._group import HandlerGroup
from .._handlers import EventHandler
from .._runner import HandlerRunner
from ..backends.base import Backend, Bucket
from ._target import Bound, Failed, Opened, Target, run

REDRAW_EVERY = 0.25
"""Seconds between reads of the bookmark while a rebuild runs (a group's: each bucket's)."""

HEAD_EVERY = 2.0
"""Seconds between reads of the streams' head while a rebuild runs (events keep coming)."""


class _Rate(ProgressColumn):
    """Events passed per second, as rich measures the task's speed."""

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text("" if speed is None else f"{speed:,.0f}/s", style="progress.data.speed")


Part = Bucket | None
"""What has a bookmark of its own in a rebuild: a group's bucket; a runner's whole (None)."""


@attrs.frozen
class Rebuilt:
    """What a rebuild replays: its bookmark's name, its streams, and where it is now."""

    name: str
    streams: tuple[str, ...]
    positions: Callable[[], Awaitable[dict[Part, int]]]
    """Where it is: a runner's bookmark; a group's, each bucket's."""
    blue_green: bool = False
    """Whether a blue/green rebuild could go on while it is busy (a versioned runner)."""

    @classmethod
    def of(cls, bound: Bound, *, blue_green: bool = False) -> Rebuilt:
        """What rebuilding `bound`, a runner or a group, replays."""
        if isinstance(bound, HandlerGroup):
            group = bound

            async def buckets() -> dict[Part, int]:
                found = await group.positions()
                return {Bucket(index, group.buckets): at for index, at in found.items()}

            return cls(group.name, group.streams, buckets)
        runner = bound

        async def bookmark() -> dict[Part, int]:
            return {None: await runner.position()}

        return cls(runner.name, runner.streams, bookmark, blue_green)


@attrs.define
class Passed:
    """The events a rebuild has passed, counted range by range as its bookmarks move."""

    rebuilt: Rebuilt
    backend: Backend
    reached: dict[Part, int] = attrs.field(factory=dict[Part, int])
    """Each part's bookmark at the last count."""
    counted: dict[Part, int] = attrs.field(factory=dict[Part, int])
    """Each part's events up to it."""

    async def events(self) -> int:
        """How many events lie at or before the rebuild's bookmarks now."""
        for part, position in (await self.rebuilt.positions()).items():
            start = self.reached.get(part, 0)
            if position < start:  # read before the rebuild reset it: count from the start
                start, self.counted[part] = 0, 0
            if position > start:
                self.counted[part] = self.counted.get(part, 0) + await self.backend.count_events(
                    self.rebuilt.streams, after_position=start, up_to=position, bucket=part
                )
            self.reached[part] = position
        return sum(self.counted.values())


def _versioned(store: Opened, name: str) -> HandlerRunner[EventHandler]:
    bound = store.handler(name)
    if not isinstance(bound, HandlerRunner) or not bound.versioned:
        how = "domain.handler(..., versioned=True)"
        if isinstance(bound, HandlerGroup):
            how = "a runner (groups cannot be versioned yet)"
        raise Failed(
            f"handler {name!r} is not versioned: bind it with {how} for blue/green "
            "rebuilds, or rebuild it in place"
        )
    return bound


async def _with_progress(work: Awaitable[int], rebuilt: Rebuilt, backend: Backend) -> int:
    """Await `work`, a rebuild, drawing the events it passed of those in its streams.

    `Failed` naming the lease's holder if another runner holds it.
    """
    try:
        return await _drawn(work, rebuilt, backend)
    except HandlerBusy as error:
        holder = await backend.lease_holder(error.handler)
        raise Failed(
            f"handler {rebuilt.name!r} is running elsewhere (the lease of {error.handler!r} "
            f"is held by {holder or 'another runner'}): stop it first"
            + (", or rebuild it --blue-green" if rebuilt.blue_green else "")
        ) from error


async def _drawn(work: Awaitable[int], rebuilt: Rebuilt, backend: Backend) -> int:
    console = Console(stderr=True)
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("events"),
        _Rate(),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
    )
    task = asyncio.ensure_future(work)
    try:
        # Drawn on a terminal only: a log gets the summary line instead.
        with Progress(*columns, console=console, disable=not console.is_terminal) as progress:
            if progress.disable:
                return await task
            bar = progress.add_task(rebuilt.name, total=None)
            passed = Passed(rebuilt, backend)
            head = await backend.last_position(rebuilt.streams)
            total = await backend.count_events(rebuilt.streams, up_to=head)
            read_head_at = time.monotonic() + HEAD_EVERY
            while not (task.done() and (task.cancelled() or task.exception() is not None)):
                finished = task.done()  # then this count is its last
                done = await passed.events()
                progress.update(bar, completed=done, total=max(total, done))
                if finished:
                    return task.result()
                await asyncio.wait([task], timeout=REDRAW_EVERY)
                if time.monotonic() >= read_head_at:
                    newest = await backend.last_position(rebuilt.streams)
                    if newest > head:
                        total += await backend.count_events(
                            rebuilt.streams, after_position=head, up_to=newest
                        )
                        head = newest
                    read_head_at = time.monotonic() + HEAD_EVERY
            progress.update(bar, visible=False)  # the error says it all
        return await task
    finally:
        if not task.done():
            task.cancel()
            await asyncio.wait([task])


def _summary(name: str, handled: int, started: float) -> str:
    seconds = time.monotonic() - started
    rate = handled / seconds if seconds > 0 else 0.0
    return f"rebuilt {name}: {handled:,} events in {seconds:.1f} s ({rate:,.0f} events/s)"


@click.command()
@click.argument("handler")
@click.option(
    "--blue-green",
    is_flag=True,
    help="Build a new version beside the live one, which keeps serving meanwhile.",
)
@click.option(
    "--version",
    "version",
    type=click.IntRange(min=1),
    help="The version to build (with --blue-green); the live one plus one by default.",
)
@click.option(
    "--swap", is_flag=True, help="With --blue-green: make the new version live once built."
)
@click.option("--yes", "-y", is_flag=True, help="Rebuild in place without asking.")
@click.pass_obj
def rebuild(
    target: Target, handler: str, blue_green: bool, version: int | None, swap: bool, yes: bool
) -> None:
    """Replay HANDLER's read model from the first event, with a progress bar.

    In place (the default) it clears the read model first (the handler's on_reset) and
    holds the handler's lease (a group's: every bucket's) throughout, so the handler
    must be stopped elsewhere.
    With --blue-green it builds the next version beside the live one; --swap then makes
    it live, or `evtsrc swap` does later, and `evtsrc drop` removes the old one.
    """
    if (version is not None or swap) and not blue_green:
        raise click.UsageError("--version and --swap go with --blue-green")

    async def in_place(store: Opened) -> str:
        bound = store.handler(handler)
        if not yes and not click.confirm(
            f"Clear {handler!r}'s read model and replay every event?", err=True
        ):
            raise click.Abort()
        started = time.monotonic()
        versioned = isinstance(bound, HandlerRunner) and bound.versioned
        if isinstance(bound, HandlerRunner) and bound.versioned:  # the live version, in place
            bound = bound.at_version(await bound.live_version())
        rebuilt = Rebuilt.of(bound, blue_green=versioned)
        handled = await _with_progress(bound.rebuild(), rebuilt, store.backend)
        return _summary(rebuilt.name, handled, started)

    async def blue_green_build(store: Opened) -> str:
        runner = _versioned(store, handler)
        live = await runner.live_version()
        building = live + 1 if version is None else version
        if building == live:
            raise Failed(
                f"version {live} of {handler!r} is live: choose another --version, or "
                "rebuild it in place without --blue-green"
            )
        green = runner.at_version(building)
        click.echo(f"building {handler!r} version {building} beside live version {live}")
        started = time.monotonic()
        handled = await _with_progress(green.rebuild(), Rebuilt.of(green), store.backend)
        lines = [_summary(green.name, handled, started)]
        if swap:
            await green.make_live()
            lines.append(_went_live(handler, building, live))
        else:
            lines.append(f"make it live with: evtsrc swap {handler} {building}")
        return "\n".join(lines)

    click.echo(run(target, blue_green_build if blue_green else in_place, bounded=False))


def _went_live(handler: str, version: int, previous: int) -> str:
    return (
        f"version {version} of {handler!r} is live (it was {previous}); runners that follow "
        f"it switch as their next run begins. Drop the old one with: evtsrc drop {handler} "
        f"{previous}"
    )


@click.command()
@click.argument("handler")
@click.argument("version", type=click.IntRange(min=1))
@click.option("--force", is_flag=True, help="Make it live even if it was never built.")
@click.pass_obj
def swap(target: Target, handler: str, version: int, force: bool) -> None:
    """Make VERSION of HANDLER's read model the live one."""

    async def work(store: Opened) -> str:
        runner = _versioned(store, handler)
        live = await runner.live_version()
        if version == live:
            raise Failed(f"version {version} of {handler!r} is live already")
        chosen = runner.at_version(version)
        if not force and await chosen.position() == 0:
            raise Failed(
                f"version {version} of {handler!r} was never built (its bookmark is at 0): "
                f"build it with `evtsrc rebuild {handler} --blue-green --version {version}`, "
                "or pass --force"
            )
        previous = await chosen.make_live()
        return _went_live(handler, version, previous)

    click.echo(run(target, work))


@click.command()
@click.argument("handler")
@click.argument("version", type=click.IntRange(min=1))
@click.option("--yes", "-y", is_flag=True, help="Drop without asking.")
@click.pass_obj
def drop(target: Target, handler: str, version: int, yes: bool) -> None:
    """Remove VERSION of HANDLER's read model (its on_drop), one that is not live."""

    async def work(store: Opened) -> str:
        runner = _versioned(store, handler)
        old = runner.at_version(version)
        if not yes and not click.confirm(
            f"Drop version {version} of {handler!r}'s read model?", err=True
        ):
            raise click.Abort()
        try:
            await old.drop()
        except ValueError as error:
            raise Failed(str(error)) from error
        return f"dropped version {version} of {handler!r}"

    click.echo(run(target, work))
