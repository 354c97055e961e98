"""`evtsrc streams` and `evtsrc aggregates`: what the store holds."""

from __future__ import annotations

import shlex

import click

from ..backends.base import Backend
from ._target import Opened, Target, run


@click.command()
@click.pass_obj
def streams(target: Target) -> None:
    """List the streams that hold events, one a line."""

    async def listed(store: Opened) -> list[str]:
        return await store.backend.streams()

    for name in run(target, listed):
        click.echo(name)


@click.command()
@click.argument("stream")
@click.option("--after", metavar="ID", default="", help="List the ids after this one.")
@click.option(
    "--limit", type=click.IntRange(min=1), default=100, show_default=True, help="Ids a page."
)
@click.pass_obj
def aggregates(target: Target, stream: str, after: str, limit: int) -> None:
    """List the aggregate ids of STREAM, a page at a time, in code point order.

    Where there are more, the command for the next page follows on stderr.
    """

    async def page(store: Opened) -> list[str]:
        return await ids_after(store.backend, stream, after, limit + 1)

    found = run(target, page)
    for aggregate_id in found[:limit]:
        click.echo(aggregate_id)
    if len(found) > limit:
        last = shlex.quote(found[limit - 1])
        click.echo(f"next page: --after {last}", err=True)


async def ids_after(backend: Backend, stream: str, after: str, limit: int) -> list[str]:
    """At most `limit` ids of `stream` after `after`; `ValueError` for a bad name is `Failed`."""
    try:
        return await backend.aggregate_ids(stream, after=after, limit=limit)
    except (ValueError, TypeError) as error:
        raise click.BadParameter(str(error)) from error
