"""Listing what a store holds: its bookmarks, its streams and each stream's aggregates.

What an operator's tools read: every list is sorted by code point (Python's order of
`str`) on every backend, whatever the database's own collation, and a stream's
aggregates come page by page, each page after the last id of the one before.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from evtsrc import Domain
from evtsrc.backends import (
    Backend,
    Bucket,
    FencedBookmarks,
    ListableBookmarks,
    NewEvent,
    SnapshotRecord,
    bucket_key,
)
from evtsrc.backends.base import COUNT_PAGE

from ._base import ContractBase
from ._model import Counter, Seen

ODD_IDS = (
    "a",
    "B",
    "b",
    "a b",
    "a  b",
    "ab",
    "a ",
    " a",
    "a%",
    "%",
    "100%",
    "a_b",
    "a'b",
    "'",
    'a"b',
    "a\\b",
    "a`b",
    "a\tb",
    "a\nb",
    "a\x01",
    "Zoë",
    "zoe",
    "e\u0301",
    "é",
    "東京",
    "\uff21",  # a fullwidth A: above every UTF-16 surrogate, below every astral character
    "\U0001f600",  # an emoji: two UTF-16 units, which sort below U+FF21 in UTF-16 order
    "\U0010ffff",
    "\ufffd",
    "[x]",
    "a*",
    "?",
    "$1",
    ":x",
    "{}",
    "x" * 200,
    "x" * 199 + "\U0001f600",
)
"""Aggregate ids that sort differently by code point, by UTF-16 unit, by a language's rules,
with padding, or ignoring case; and what SQL drivers, LIKE and quoting treat specially."""


def _event(n: int = 0) -> NewEvent:
    return NewEvent("x", {"n": n}, datetime.now(UTC))


async def _fill(backend: Backend, stream: str, ids: tuple[str, ...], events: int = 1) -> None:
    for aggregate_id in ids:
        await backend.append(stream, aggregate_id, 0, [_event(n) for n in range(events)])


async def _every_page(backend: Backend, stream: str, limit: int) -> list[list[str]]:
    pages: list[list[str]] = []
    after = ""
    while True:
        page = await backend.aggregate_ids(stream, after=after, limit=limit)
        assert len(page) <= limit
        assert all(aggregate_id > after for aggregate_id in page), (after, page)  # or no end
        pages.append(page)
        if len(page) < limit:
            return pages
        after = page[-1]


def _listable(store: object) -> ListableBookmarks:
    assert isinstance(store, ListableBookmarks)
    return store


class ListingContract(ContractBase):
    """`bookmarks()`, `streams()`, `aggregate_ids()` and `count_events()`: what a store holds."""

    async def test_an_empty_store_lists_nothing(self, backend: Backend) -> None:
        assert await backend.bookmarks() == {}
        assert await backend.streams() == []
        assert await backend.aggregate_ids("counters") == []
        assert await backend.aggregate_ids("counters", after="a", limit=1) == []

    async def test_streams_are_those_holding_an_event_sorted(self, backend: Backend) -> None:
        streams = ["orders", "Zeta", "b-1", "b.1", "b_1", "a:b", "orders.v2", "B", "é", "zeta"]
        for n, stream in enumerate(streams):
            await backend.append(stream, f"id{n % 3}", 0, [_event(n)])
        await backend.append("orders", "more", 0, [_event(), _event()])
        # Neither a snapshot, a bookmark nor a read makes a stream.
        await backend.put_snapshot(SnapshotRecord("snapshots-only", "s", 1, "k", {}))
        await backend.set_bookmark("bookmark-only", 1)
        assert await backend.read_streams(["read-only"]) == []
        assert await backend.streams() == sorted(streams)
        assert await backend.streams() == [
            "B",
            "Zeta",
            "a:b",
            "b-1",
            "b.1",
            "b_1",
            "orders",
            "orders.v2",
            "zeta",
            "é",
        ]

    async def test_a_streams_aggregates_are_listed_once_each_sorted_by_code_point(
        self, backend: Backend
    ) -> None:
        await _fill(backend, "odd", ODD_IDS, events=2)
        await _fill(backend, "other", ("a", "0", "zz", "東京"))
        await backend.append("odd", "a", 2, [_event(), _event(), _event()])
        found = await backend.aggregate_ids("odd", limit=1000)
        assert found == sorted(ODD_IDS)
        assert found.index("\U0001f600") > found.index("\uff21")  # code points, not UTF-16
        assert found.index("B") < found.index("a")  # case counts, upper first
        assert found.index("a") < found.index("a ") < found.index("a b")  # no padding
        assert await backend.aggregate_ids("other") == ["0", "a", "zz", "東京"]
        assert await backend.aggregate_ids("nothing-here") == []
        assert await backend.aggregate_ids("od") == []  # streams match whole
        assert await backend.aggregate_ids("odd", limit=1) == [min(ODD_IDS)]

    async def test_aggregates_come_page_by_page_after_the_given_id(self, backend: Backend) -> None:
        await _fill(backend, "odd", ODD_IDS)
        ordered = sorted(ODD_IDS)
        for limit in (1, 2, 3, 7, len(ODD_IDS) - 1, len(ODD_IDS), len(ODD_IDS) + 1):
            pages = await _every_page(backend, "odd", limit)
            assert [i for page in pages for i in page] == ordered, limit
            assert all(len(page) == limit for page in pages[:-1]), limit
        for n, aggregate_id in enumerate(ordered):
            page = await backend.aggregate_ids("odd", after=aggregate_id, limit=3)
            assert page == ordered[n + 1 : n + 4], aggregate_id
        # `after` need not be an id: the ids after it.
        for after in ("a!", "a c", "Z", "\U0001f5ff", "a" * 201, "\U0010ffff"):
            expected = [i for i in ordered if i > after][:5]
            assert await backend.aggregate_ids("odd", after=after, limit=5) == expected, after
        assert await backend.aggregate_ids("odd", after=ordered[-1]) == []

    async def test_a_long_page_of_many_aggregates_is_whole(self, backend: Backend) -> None:
        # More than one statement lists at once on some backends (1000 rounds on MariaDB).
        ids = tuple(f"agg-{n:04d}" for n in range(1100))
        await _fill(backend, "many", ids)
        assert await backend.aggregate_ids("many", limit=2000) == list(ids)
        assert await backend.aggregate_ids("many", after="agg-0049", limit=1030) == list(
            ids[50:1080]
        )
        assert await backend.aggregate_ids("many", after="agg-1098", limit=1030) == ["agg-1099"]

    async def test_bookmarks_are_listed_by_name(self, backend: Backend) -> None:
        names = {"b": 5, "a": 3, "Zoë": 2**62 + 1, "z": 0, "東京#0/4": 9, "a b": 1, "B": 4}
        for name, position in names.items():
            await backend.set_bookmark(name, position)
        await backend.set_bookmark("b", 6)
        if isinstance(backend, FencedBookmarks):
            await backend.move_bookmark("fenced", 0, 8)
            names["fenced"] = 8
        names["b"] = 6
        listed = await _listable(backend).bookmarks()
        assert listed == names
        assert list(listed) == sorted(names)
        assert all(type(position) is int for position in listed.values())
        assert await backend.streams() == []  # bookmarks are no streams

    async def test_the_bookmarks_of_a_groups_buckets_are_listed(self, domain: Domain) -> None:
        ids = [f"c{n}" for n in range(12)]
        assert {bucket_key(i) % 3 for i in ids} == {0, 1, 2}  # every bucket has events
        counters = domain.repository(Counter)
        last = 0
        for aggregate_id in ids:
            last = (await counters.execute(aggregate_id, Counter.do_one)).last_position
        async with domain.handler_group(
            Seen(), buckets=3, member_ttl=0.3, poll_interval=0.05
        ) as group:
            await group.wait_for(last, timeout=20)
        listed = await domain.backend.bookmarks()
        assert list(listed) == ["seen#0/3", "seen#1/3", "seen#2/3"]
        for index in range(3):
            events = await domain.backend.read_streams(
                ["counters", "ledgers"], bucket=Bucket(index, 3)
            )
            assert listed[f"seen#{index}/3"] == events[-1].position

    @pytest.mark.parametrize(
        ("arguments", "error", "message"),
        [
            ({"limit": 0}, ValueError, "limit is 1 or more, not 0"),
            ({"limit": -1}, ValueError, "limit is 1 or more, not -1"),
            ({"limit": True}, TypeError, "limit is an int, not True"),
            ({"limit": "5"}, TypeError, "limit is an int, not '5'"),
            ({"limit": 1.0}, TypeError, "limit is an int, not 1.0"),
            ({"stream": 7}, TypeError, "stream is a str, not 7"),
            ({"stream": None}, TypeError, "stream is a str, not None"),
            ({"stream": b"odd"}, TypeError, "stream is a str, not b'odd'"),
            ({"stream": ["odd"]}, TypeError, r"stream is a str, not \['odd'\]"),
            ({"after": None}, TypeError, "after is a str, not None"),
            ({"after": 3}, TypeError, "after is a str, not 3"),
            ({"stream": "o\x00dd"}, ValueError, "stream 'o\\\\x00dd' contains the NUL"),
            ({"after": "\ud800"}, ValueError, "after '\\\\ud800' contains the lone surrogate"),
        ],
        ids=[
            "limit-0",
            "limit-negative",
            "limit-bool",
            "limit-str",
            "limit-float",
            "stream-int",
            "stream-none",
            "stream-bytes",
            "stream-list",
            "after-none",
            "after-int",
            "stream-nul",
            "after-surrogate",
        ],
    )
    async def test_bad_listing_arguments_get_the_same_clear_error(
        self, backend: Backend, arguments: dict[str, Any], error: type[Exception], message: str
    ) -> None:
        await _fill(backend, "odd", ("a", "b"))
        call: dict[str, Any] = {"stream": "odd", "after": "", "limit": 10, **arguments}
        stream = call.pop("stream")
        with pytest.raises(error, match=f"^aggregate_ids\\(\\): {message}"):
            await backend.aggregate_ids(stream, **call)
        assert await backend.aggregate_ids("odd") == ["a", "b"]

    async def test_events_are_counted_as_a_reader_of_the_streams_finds_them(
        self, backend: Backend
    ) -> None:
        await backend.append("a", "x", 0, [_event(n) for n in range(3)])
        await backend.append("b", "x", 0, [_event()])
        await backend.append("a", "y", 0, [_event(), _event()])
        await backend.append("c", "z", 0, [_event()])
        # Positions grow, but need not be 1, 2, 3... (PostgresBackend's leap ahead).
        a = [r.position for r in await backend.read_streams(["a"])]
        b = [r.position for r in await backend.read_streams(["b"])]
        assert await backend.count_events(["a"]) == 5
        assert await backend.count_events(["a", "b"]) == 6
        assert await backend.count_events(["a", "b", "a"]) == 6  # each stream once
        assert await backend.count_events(["a"], after_position=a[2]) == 2
        assert await backend.count_events(["a", "b"], after_position=a[0], up_to=a[3]) == 4
        assert await backend.count_events(["a"], up_to=b[0]) == 3
        assert await backend.count_events(["a"], after_position=a[4]) == 0
        assert await backend.count_events(["a"], after_position=a[3], up_to=a[1]) == 0
        assert await backend.count_events(["c"], up_to=2**62) == 1  # past the last
        assert await backend.count_events(["none-yet"]) == 0
        assert await backend.count_events([]) == 0

    async def test_counting_goes_on_past_a_page_and_stops_at_up_to(self, backend: Backend) -> None:
        many = COUNT_PAGE * 2 + 7
        await backend.append("c", "other", 0, [_event()])
        await backend.append("a", "x", 0, [_event(n) for n in range(many)])
        await backend.append("c", "other", 1, [_event()])
        await backend.append("a", "y", 0, [_event()])
        a = [r.position for r in await backend.read_streams(["a"], limit=many + 1)]
        first_c = (await backend.read_streams(["c"]))[0].position
        assert await backend.count_events(["a"]) == many + 1
        assert await backend.count_events(["a"], up_to=a[-1] - 1) == many
        assert await backend.count_events(["a", "c"], after_position=first_c) == many + 2
        assert await backend.count_events(["a"], up_to=a[COUNT_PAGE - 1]) == COUNT_PAGE
        assert await backend.count_events(["a"], after_position=a[5], up_to=a[-2]) == many - 6

    async def test_a_buckets_events_are_counted_apart(self, backend: Backend) -> None:
        ids = [f"agg-{n}" for n in range(12)]
        for n, aggregate_id in enumerate(ids):
            await backend.append("s", aggregate_id, 0, [_event() for _ in range(n % 3 + 1)])
        await backend.append("t", "agg-0", 0, [_event()])
        counts = [await backend.count_events(["s"], bucket=Bucket(i, 3)) for i in range(3)]
        assert counts == [
            sum(n % 3 + 1 for n, a in enumerate(ids) if bucket_key(a) % 3 == i) for i in range(3)
        ]
        assert sum(counts) == await backend.count_events(["s"]) == 24
        halfway = (await backend.last_position(["s"])) // 2
        read = await backend.read_streams(["s"], after_position=halfway, bucket=Bucket(1, 3))
        assert await backend.count_events(["s"], after_position=halfway, bucket=Bucket(1, 3)) == (
            len(read)
        )

    @pytest.mark.parametrize(
        ("arguments", "error", "message"),
        [
            ({"after_position": -1}, ValueError, "after_position is 0 or more, not -1"),
            ({"after_position": None}, TypeError, "after_position is an int, not None"),
            ({"after_position": True}, TypeError, "after_position is an int, not True"),
            ({"up_to": -2}, ValueError, "up_to is 0 or more, not -2"),
            ({"up_to": 1.5}, TypeError, "up_to is an int, not 1.5"),
            ({"up_to": "9"}, TypeError, "up_to is an int, not '9'"),
            ({"streams": "odd"}, TypeError, "streams is a list of names, not the str 'odd'"),
        ],
        ids=["after-negative", "after-none", "after-bool", "up-to-negative", "up-to-float",
             "up-to-str", "streams-str"],
    )  # fmt: skip
    async def test_bad_counting_arguments_get_the_same_clear_error(
        self, backend: Backend, arguments: dict[str, Any], error: type[Exception], message: str
    ) -> None:
        await _fill(backend, "odd", ("a", "b"))
        call: dict[str, Any] = {"streams": ["odd"], **arguments}
        streams = call.pop("streams")
        with pytest.raises(error, match=f"^count_events\\(\\): {message}"):
            await backend.count_events(streams, **call)
        assert await backend.count_events(["odd"]) == 2
