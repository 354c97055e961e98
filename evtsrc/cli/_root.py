"""The `evtsrc` command group and the options every command shares."""

from __future__ import annotations

import click

from .._version import installed_version
from ._target import Target


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option(
    "--url",
    "-u",
    envvar="EVTSRC_URL",
    metavar="URL",
    help="The store, such as sqlite:///events.db or postgresql://user@host/db (env EVTSRC_URL).",
)
@click.option(
    "--app",
    "-a",
    envvar="EVTSRC_APP",
    metavar="MODULE:FACTORY",
    help="The application: a function taking the Backend, returning its Domain with the "
    "handlers bound (env EVTSRC_APP). Needed to decode events and to find handlers.",
)
@click.option(
    "--prefix",
    envvar="EVTSRC_PREFIX",
    metavar="PREFIX",
    help="The store's table (collection, label) prefix, where it is not the default.",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=0, min_open=True),
    default=30.0,
    show_default=True,
    help="Seconds a command may wait for the store.",
)
@click.version_option(version=installed_version(), prog_name="evtsrc")
@click.pass_context
def evtsrc(
    context: click.Context, url: str | None, app: str | None, prefix: str | None, timeout: float
) -> None:
    """See and steer an evtsrc event store and its handlers."""
    context.obj = Target(url=url, app=app, prefix=prefix, timeout=timeout)
