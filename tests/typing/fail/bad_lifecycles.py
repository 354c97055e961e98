"""connect() takes a URL string and TableNames; what it returns is a Backend, not a subclass."""

from __future__ import annotations

from pathlib import Path

from evtsrc.backends import SqliteBackend, TableNames, connect


async def wrong() -> SqliteBackend:
    await connect(Path("events.db"))  # expect-error: arg-type ArgumentType
    await connect("memory://", tables="app_")  # expect-error: arg-type ArgumentType
    await connect("memory://", TableNames())  # expect-error: call-arg CallIssue
    return await connect("sqlite:///events.db")  # expect-error: return-value ReturnType
