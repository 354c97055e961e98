"""The commands whose work differs by store, on each kind of store (subprocesses)."""

from __future__ import annotations

import asyncio
import json
import os
import socket
from typing import Any

from evtsrc import HandlerGroup
from evtsrc.backends import TableNames, connect
from evtsrc.backends.base import bucket_key
from evtsrc.backends.urls import redacted
from tests.cli import app
from tests.cli.app import PARCELS
from tests.cli.command import evtsrc, one_line_error
from tests.cli.conftest import Seeded

HANDLER_KEYS = [
    "name", "kind", "streams", "position", "head", "lag_events", "lag_capped", "lag_seconds",
    "oldest_unhandled_at", "lease_known", "lease_holder", "parked", "buckets", "members",
]  # fmt: skip
BUCKET_KEYS = [
    "index", "bookmark", "position", "lag_events", "lag_capped", "lag_seconds",
    "oldest_unhandled_at", "lease_known", "lease_holder",
]  # fmt: skip


def bucket_lags() -> list[int]:
    """The events of each of shipping's 3 buckets: p1 to p5, and p9's bad one."""
    lags = [0, 0, 0]
    for parcel in (*PARCELS, "p9"):
        lags[bucket_key(parcel) % 3] += 1
    return lags


def test_status_json(seeded: Seeded) -> None:
    result = evtsrc(*seeded.args("status", "--json"))
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert list(document) == ["store", "checked_at", "lag_cap", "handlers"]
    assert document["lag_cap"] == 100_000
    ledger, audit, shipping = document["handlers"]
    for handler in (ledger, audit, shipping):
        assert list(handler) == HANDLER_KEYS
        assert handler["lease_holder"] is None  # no runner holds one
    facts = seeded.facts
    assert ledger["name"] == "ledger" and ledger["kind"] == "runner"
    assert ledger["streams"] == ["accounts"]
    assert (ledger["position"], ledger["head"]) == (facts["ledger"], facts["accounts"])
    assert (ledger["lag_events"], ledger["lag_capped"], ledger["parked"]) == (1, False, 2)
    assert ledger["lag_seconds"] >= 0 and ledger["oldest_unhandled_at"].endswith("Z")
    assert (audit["position"], audit["head"], audit["lag_events"]) == (
        facts["audit"],
        facts["all"],
        3,
    )
    assert audit["parked"] is None and audit["buckets"] == [] and audit["members"] is None
    assert shipping["kind"] == "group" and shipping["position"] == 0
    assert [b["lag_events"] for b in shipping["buckets"]] == bucket_lags()
    assert shipping["lag_events"] == 6
    assert [b["bookmark"] for b in shipping["buckets"]] == [f"shipping#{i}/3" for i in range(3)]
    assert all(list(b) == BUCKET_KEYS for b in shipping["buckets"])


def test_status_table_and_bookmarks(seeded: Seeded) -> None:
    result = evtsrc(*seeded.args("status", "--lag-cap", "2"))
    assert result.returncode == 0, result.stderr
    rows = [line.split() for line in result.stdout.splitlines()]
    assert rows[0] == ["handler", "kind", "position", "head", "lag", "behind", "lease", "parked"]
    facts = seeded.facts
    assert rows[1][:5] == ["ledger", "runner", str(facts["ledger"]), str(facts["accounts"]), "1"]
    assert rows[1][-1] == "2"
    assert rows[2][:5] == ["audit", "runner", str(facts["audit"]), str(facts["all"]), ">2"]
    assert rows[3][:4] == ["shipping", "group", "of", "3"]
    assert [r[:2] for r in rows[4:7]] == [["#0", "bucket"], ["#1", "bucket"], ["#2", "bucket"]]
    assert rows[7][:3] == ["members", "of", "shipping:"]
    # Without --app: every bookmark of the store, against every stream.
    bare = evtsrc(*seeded.args("status", "--json", app_=False))
    assert bare.returncode == 0, bare.stderr
    found = {h["name"]: h for h in json.loads(bare.stdout)["handlers"]}
    assert sorted(found) == ["audit", "ledger"]
    assert found["ledger"]["kind"] == "bookmark" and found["ledger"]["streams"] is None
    assert found["ledger"]["head"] == facts["all"]
    assert found["ledger"]["lag_events"] == 7  # every event after its bookmark, of any stream
    assert found["ledger"]["parked"] == 2


def test_history(seeded: Seeded) -> None:
    table = evtsrc(*seeded.args("history", "accounts", "a1"))
    assert table.returncode == 0, table.stderr
    lines = table.stdout.splitlines()
    assert lines[0].split() == ["version", "position", "timestamp", "type", "event", "ev"]
    events = [line.split()[5] for line in lines[1::2]]  # the timestamp is two words
    assert events == [
        "Opened(owner='ann')",
        "Deposited(amount=5)",
        "Deposited(amount=13)",
        "Deposited(amount=7)",
    ]
    assert all(line.split()[0] == "id" for line in lines[2::2])
    raw = evtsrc(
        *seeded.args(
            "history",
            "accounts",
            "a1",
            "--raw",
            "--json",
            "--after-version",
            "1",
            "--limit",
            "2",
            app_=False,
        )
    )
    assert raw.returncode == 0, raw.stderr
    records = [json.loads(line) for line in raw.stdout.splitlines()]
    assert [(r["version"], r["type"], r["data"]) for r in records] == [
        (2, "account.deposited", {"amount": 5}),
        (3, "account.deposited", {"amount": 13}),
    ]
    assert all(r["decoded"] is None and r["decode_error"] is None for r in records)
    assert records[0]["metadata"]["correlation_id"] == records[0]["event_id"]
    bad = evtsrc(*seeded.args("history", "parcels", "p9", "--json"))
    assert bad.returncode == 0, bad.stderr
    (record,) = [json.loads(line) for line in bad.stdout.splitlines()]
    assert record["data"] == {"to": 5} and record["decoded"] is None
    assert "expected a string" in record["decode_error"]
    assert record["metadata"] == {"note": "bad"}


def test_schema_create_and_print(seeded: Seeded) -> None:
    created = evtsrc(*seeded.args("schema", "upgrade", app_=False))
    assert created.returncode == 0, created.stderr
    assert created.stdout.startswith(redacted(seeded.url))  # no password shown
    assert "created the" in created.stdout and f"prefix {seeded.prefix}" in created.stdout
    printed = evtsrc("--url", seeded.url, "--prefix", seeded.prefix, "schema", "print")
    assert printed.returncode == 0, printed.stderr
    assert f"{seeded.prefix}events" in printed.stdout
    assert f"{seeded.prefix}bookmarks" in printed.stdout


def test_parked_list_retry_discard(fresh: Seeded) -> None:
    listed = evtsrc(*fresh.args("parked", "list", "--json"))
    assert listed.returncode == 0, listed.stderr
    rows = [json.loads(line) for line in listed.stdout.splitlines()]
    assert [(r["handler"], r["stream"], r["aggregate_id"], r["version"]) for r in rows] == [
        ("ledger", "accounts", "a1", 3),
        ("ledger", "accounts", "a3", 2),
    ]
    assert rows[0]["error"] == "ValueError: unlucky amount 13"
    again = one_line_error(evtsrc(*fresh.args("parked", "retry", "ledger", "accounts", "a1")))
    assert "failed again" in again and "unlucky amount 13" in again
    retried = evtsrc(
        *fresh.args("parked", "retry", "ledger", "accounts", "a1"), LEDGER_TAKES_13="1"
    )
    assert retried.returncode == 0, retried.stderr
    assert retried.stdout == "handled 2 event(s) of accounts/a1; it is let through\n"
    refused = evtsrc(*fresh.args("parked", "discard", "ledger", "accounts", "a3"), input="n\n")
    assert refused.returncode == 1 and "Aborted" in refused.stderr
    discarded = evtsrc(*fresh.args("parked", "discard", "ledger", "accounts", "a3", "--yes"))
    assert discarded.returncode == 0, discarded.stderr
    left = evtsrc(*fresh.args("parked", "list"))
    assert left.returncode == 0 and left.stderr == "nothing parked\n"


def test_status_names_who_holds_each_lease_and_the_groups_members(fresh: Seeded) -> None:
    """Runners started in this process: status, run elsewhere, names this process."""

    async def scenario() -> dict[str, Any]:
        async with await connect(fresh.url, tables=TableNames(fresh.prefix)) as backend:
            domain = app.make_domain(backend)
            _, audit, shipping = domain.handlers
            assert isinstance(shipping, HandlerGroup)
            async with audit, shipping:
                for _ in range(300):  # a member takes buckets from its second beat
                    if len(shipping.held) == 3:
                        break
                    await asyncio.sleep(0.05)
                assert len(shipping.held) == 3
                result = await asyncio.to_thread(evtsrc, *fresh.args("status", "--json"))
        assert result.returncode == 0, result.stderr
        return {h["name"]: h for h in json.loads(result.stdout)["handlers"]}

    found = asyncio.run(scenario())
    me = f"{socket.gethostname()} pid {os.getpid()}"
    holders = [found["audit"]["lease_holder"]]
    holders += [b["lease_holder"] for b in found["shipping"]["buckets"]]
    assert found["ledger"]["lease_holder"] is None  # not started
    for holder in holders:
        if fresh.store.name == "mariadb":  # it knows the connection, not the process
            assert holder.startswith("MariaDB/MySQL connection "), holder
        else:
            assert me in holder, holder
    members = found["shipping"]["members"]
    assert len(members) == 1 and me in members[0], members
