"""Two real processes run one handler name: one works, one stands by, and a kill hands over."""

from __future__ import annotations

import re
from pathlib import Path

from evtsrc.backends import Backend
from tests.backends import BackendTarget, sqlalchemy_url
from tests.lease_processes import check_names_worker, hand_over, report_holder


def backend_location(sql_backend: Backend, target: BackendTarget) -> str:
    """Where a worker process opens the store `sql_backend` uses."""
    if target.name == "sqlite":
        return str(sql_backend.engine.url)  # type: ignore[attr-defined]
    if target.name == "sqlite3":
        return str(sql_backend.path)  # type: ignore[attr-defined]
    if target.name == "asyncpg":
        return str(sql_backend._dsn)  # type: ignore[attr-defined]
    return sqlalchemy_url(sql_backend.engine.url.render_as_string(hide_password=False))  # type: ignore[attr-defined]


async def test_killing_the_active_process_hands_the_handler_over(
    sql_backend: Backend, target: BackendTarget, tmp_path: Path
) -> None:
    names = sql_backend.names  # type: ignore[attr-defined]
    location = backend_location(sql_backend, target)
    took_over = await hand_over(sql_backend, target.name, location, names.prefix, tmp_path)
    # The server frees a dead session's lock at once: what is left is the standby's wait.
    assert took_over < 10, f"the standby took {took_over:.1f} s to take over"


async def test_the_lease_of_another_process_is_reported_with_its_holder(
    sql_backend: Backend, target: BackendTarget, tmp_path: Path
) -> None:
    names = sql_backend.names  # type: ignore[attr-defined]
    location = backend_location(sql_backend, target)
    holder, pid = await report_holder(sql_backend, target.name, location, names.prefix, tmp_path)
    if target.name == "sqlalchemy-mariadb":  # the server knows the connection, not the process
        assert re.fullmatch(r"MariaDB/MySQL connection \d+ \(\S+@\S+\)", holder), holder
    else:
        check_names_worker(holder, pid)
