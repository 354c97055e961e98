"""`evtsrc parked`: list, retry and discard the aggregates handlers parked."""

from __future__ import annotations

import click

from .._errors import HandlerError
from ..backends.base import ParkedAggregate
from ._output import iso, print_json_lines, print_table, row, table, when
from ._target import Bound, Failed, Opened, Target, run


@click.group()
def parked() -> None:
    """Aggregates that handlers (park=True) set aside after an event failed. Needs --app."""


def parking(store: Opened, name: str) -> Bound:
    """The application's handler `name`; `Failed` if it does not park."""
    bound = store.handler(name)
    if not bound.parks:
        raise Failed(
            f"handler {name!r} does not park failed events (it is bound without park=True)"
        )
    return bound


async def find(store: Opened, name: str, stream: str, aggregate_id: str) -> ParkedAggregate:
    """What handler `name` parked of that aggregate; `Failed` if nothing."""
    for found in await parking(store, name).parked():
        if (found.stream, found.aggregate_id) == (stream, aggregate_id):
            return found
    raise Failed(f"handler {name!r} has nothing of {stream}/{aggregate_id} parked")


@parked.command("list")
@click.argument("handler", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print JSON Lines, one aggregate a line.")
@click.pass_obj
def list_(target: Target, handler: str | None, as_json: bool) -> None:
    """The parked aggregates of HANDLER, or of every handler that parks."""

    async def listed(store: Opened) -> list[tuple[str, ParkedAggregate]]:
        if handler is not None:
            handlers = [parking(store, handler)]
        else:
            domain = store.need_domain("parked list")
            handlers = [bound for bound in domain.handlers if bound.parks]
        return [(bound.name, found) for bound in handlers for found in await bound.parked()]

    found = run(target, listed)
    if as_json:
        print_json_lines(
            {
                "handler": name,
                "stream": p.stream,
                "aggregate_id": p.aggregate_id,
                "version": p.version,
                "position": p.position,
                "error": p.error,
                "parked_at": iso(p.parked_at),
            }
            for name, p in found
        )
        return
    shown = table("handler", "stream", "aggregate", "version", "position", "error", "parked at")
    for name, p in found:
        row(
            shown, name, p.stream, p.aggregate_id, p.version, p.position, p.error, when(p.parked_at)
        )
    print_table(shown)
    if not found:
        click.echo("nothing parked", err=True)


@parked.command()
@click.argument("handler")
@click.argument("stream")
@click.argument("aggregate_id")
@click.pass_obj
def retry(target: Target, handler: str, stream: str, aggregate_id: str) -> None:
    """Handle a parked aggregate's events again and let it through.

    If an event fails again, the aggregate stays parked with the new error (exit 1).
    """

    async def retried(store: Opened) -> int:
        await find(store, handler, stream, aggregate_id)
        try:
            return await parking(store, handler).retry_parked(stream, aggregate_id)
        except HandlerError as error:
            cause = error.__cause__ or error
            raise Failed(
                f"{stream}/{aggregate_id} failed again at position {error.position} "
                f"({error.type_name}) and stays parked: {type(cause).__name__}: {cause}"
            ) from error

    handled = run(target, retried)
    click.echo(f"handled {handled} event(s) of {stream}/{aggregate_id}; it is let through")


@parked.command()
@click.argument("handler")
@click.argument("stream")
@click.argument("aggregate_id")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@click.pass_obj
def discard(target: Target, handler: str, stream: str, aggregate_id: str, yes: bool) -> None:
    """Let a parked aggregate through without handling its parked events."""
    found = run(target, lambda store: find(store, handler, stream, aggregate_id))
    if not yes:
        click.confirm(
            f"Discard {handler}'s parked events of {stream}/{aggregate_id} from version "
            f"{found.version} on (failed: {found.error})?",
            abort=True,
        )

    async def discarded(store: Opened) -> None:
        await parking(store, handler).discard_parked(stream, aggregate_id)

    run(target, discarded)
    click.echo(f"discarded: {handler} lets {stream}/{aggregate_id} through")
