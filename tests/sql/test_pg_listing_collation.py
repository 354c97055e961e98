"""On PostgreSQL, whose collation may sort by a language's rules, ids come by code point.

The backends read the collation of the events table's `aggregate_id` once: where it is
not a code point order, they order by `COLLATE "C"` instead of the version index's
order, so that paging goes as on every other backend.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from evtsrc.backends import Backend, NewEvent
from evtsrc.backends.sql._listing import orders_by_code_point
from evtsrc.testing.backend_contract._listing import ODD_IDS
from tests.backends import BackendTarget

from .conftest import SQL_TARGETS
from .test_listing import _dialect, _events, _execute


@pytest.fixture(
    params=[t for t in SQL_TARGETS if t.name in ("asyncpg", "sqlalchemy-postgres")],
    ids=lambda t: t.name,
)
def target(request: pytest.FixtureRequest) -> BackendTarget:
    chosen: BackendTarget = request.param
    return chosen


async def test_postgresql_lists_by_code_point_on_a_language_collation(
    sql_backend: Backend,
) -> None:
    assert _dialect(sql_backend) == "postgresql"
    table = _events(sql_backend)
    found = await _execute(
        sql_backend,
        "SELECT collname FROM pg_collation WHERE collname IN ('en-x-icu', 'en_US.utf8')",
    )
    if not found:
        pytest.skip("the server has neither ICU's nor glibc's English collation")
    collation = sorted(row[0] for row in found)[0]
    await _execute(
        sql_backend,
        f'ALTER TABLE "{table}" ALTER COLUMN aggregate_id TYPE VARCHAR(200) COLLATE "{collation}"',
    )
    now = datetime.now(UTC)
    for aggregate_id in ODD_IDS:
        await sql_backend.append("odd", aggregate_id, 0, [NewEvent("x", {}, now)] * 2)
    in_collation = [
        row[0]
        for row in await _execute(
            sql_backend, f'SELECT DISTINCT aggregate_id FROM "{table}" ORDER BY aggregate_id'
        )
    ]
    assert in_collation != sorted(ODD_IDS)  # the collation orders otherwise
    assert await sql_backend.aggregate_ids("odd", limit=1000) == sorted(ODD_IDS)
    paged: list[str] = []
    while page := await sql_backend.aggregate_ids("odd", after=paged[-1] if paged else "", limit=4):
        paged += page
    assert paged == sorted(ODD_IDS)


def _probe(collation: dict[str, object], database: dict[str, object]) -> bool:
    return orders_by_code_point(json.dumps(collation), json.dumps(database))


DEFAULT = {"collname": "default", "collprovider": "d", "collcollate": None}


@pytest.mark.parametrize(
    ("collation", "database", "by_code_point"),
    [
        (DEFAULT, {"datcollate": "C"}, True),  # PostgreSQL 13 and 14: libc
        (DEFAULT, {"datcollate": "C.UTF-8"}, True),
        (DEFAULT, {"datcollate": "POSIX"}, True),
        (DEFAULT, {"datcollate": "en_US.UTF-8"}, False),
        (DEFAULT, {"datcollate": "C.UTF-8", "datlocprovider": "c"}, True),  # 15 and later
        (DEFAULT, {"datcollate": "C", "datlocprovider": "i", "daticulocale": "en"}, False),
        (DEFAULT, {"datcollate": "C", "datlocprovider": "b", "datlocale": "C.UTF-8"}, True),
        ({"collname": "C", "collprovider": "c", "collcollate": "C"}, {"datcollate": "en_US"}, True),
        (
            {"collname": "en-x-icu", "collprovider": "i", "collcollate": None},
            {"datcollate": "C"},
            False,
        ),
        (
            {"collname": "de_DE", "collprovider": "c", "collcollate": "de_DE"},
            {"datcollate": "C"},
            False,
        ),
    ],
)
def test_the_collations_that_sort_by_code_point_are_known(
    collation: dict[str, object], database: dict[str, object], by_code_point: bool
) -> None:
    assert _probe(collation, database) is by_code_point
