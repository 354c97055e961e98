"""The `evtsrc` group with every command registered on it."""

from __future__ import annotations

from ._events import history, tail
from ._listing import aggregates, streams
from ._parked import parked
from ._rebuild import drop, rebuild, swap
from ._root import evtsrc
from ._schema import schema
from ._status import status

for command in (status, streams, aggregates, history, tail, parked, rebuild, swap, drop, schema):
    evtsrc.add_command(command)

__all__ = ["evtsrc"]
