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
from ..backends.base import Backend
from ._target import Bound, Failed, Opened, Target, run

REDRAW_EVERY = 0.25
"""Seconds between reads of the position while a rebuild runs (a group's: each bucket's)."""

HEAD_EVERY = 2.0
"""Seconds between reads of the streams' head while a rebuild runs (events keep coming)."""


class _Rate(ProgressColumn):
    """Positions passed per second, as rich measures the task's speed."""

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text("" if speed is None else f"{speed:,.0f}/s", style="progress.data.speed")


@attrs.frozen
class Rebuilt:
    """What a rebuild replays: its bookmark's name, its streams, and where it is now."""

    name: str
    streams: tuple[str, ...]
    position: Callable[[], Awaitable[int]]
    """Its position: a runner's bookmark; a group's buckets' mean."""
    blue_green: bool = False
    """Whether a blue/green rebuild could go on while it is busy (a versioned runner)."""

    @classmethod
    def of(cls, bound: Bound, *, blue_green: bool = False) -> Rebuilt:
        """What rebuilding `bound`, a runner or a group, replays."""
        if isinstance(bound, HandlerGroup):
            group = bound

            async def mean() -> int:
                positions = await group.positions()
                return sum(positions.values()) // len(positions)

            return cls(group.name, group.streams, mean)
        return cls(bound.name, bound.streams, bound.position, blue_green)


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
    """Await `work`, a rebuild, drawing its bookmark's way to the streams' head.

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
        TextColumn("positions"),
        _Rate(),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
    )
    task = asyncio.ensure_future(work)
    try:
        # Drawn on a terminal only: a log gets the summary line instead.
        with Progress(*columns, console=console, disable=not console.is_terminal) as progress:
            head = await backend.last_position(rebuilt.streams)
            bar = progress.add_task(rebuilt.name, total=max(head, 1))
            read_head_at = time.monotonic() + HEAD_EVERY
            while not task.done():
                await asyncio.wait([task], timeout=REDRAW_EVERY)
                if time.monotonic() >= read_head_at:
                    head = max(head, await backend.last_position(rebuilt.streams))
                    read_head_at = time.monotonic() + HEAD_EVERY
                position = await rebuilt.position()
                progress.update(bar, completed=position, total=max(head, position, 1))
            if task.cancelled() or task.exception() is not None:
                progress.update(bar, visible=False)  # the error says it all
            else:
                position = await rebuilt.position()
                progress.update(bar, completed=position, total=max(head, position, 1))
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
