"""Metadata context, typed metadata, event versions and upcasters, as users write them."""

from __future__ import annotations

from typing import assert_type

import attrs

import evtsrc
from evtsrc import Event, EventMeta, Upcaster, metadata_as, upcaster
from evtsrc._jsontypes import JSONObject
from evtsrc.backends import InMemoryBackend
from tests.typing.model import User, make_domain


@attrs.frozen
class Request:
    user: str
    ip: str | None = None


class Moved(Event, type_name="typing.moved", version=2, aliases=("typing.relocated",)):
    street: str
    city: str


@upcaster(Moved, from_version=1)
def _add_city(data: JSONObject) -> JSONObject:
    return {**data, "city": "unknown"}


def steps() -> Upcaster:
    return _add_city  # a decorated upcaster is still the plain function it was


def read(meta: EventMeta) -> Request:
    assert_type(meta.event_id, str)
    assert_type(meta.event_version, int)
    assert_type(meta.correlation_id, str)
    assert_type(meta.causation_id, str | None)
    assert_type(meta.metadata, JSONObject)
    request = metadata_as(meta, Request)
    assert_type(request, Request)
    return request


async def main() -> None:
    domain = make_domain(InMemoryBackend())
    users = domain.repository(User)
    async with evtsrc.context(Request(user="al"), correlation_id="req-1", tenant="t1"):
        await users.execute("alice", User.create, name="Alice")
    with evtsrc.context(reason="import"):
        await users.execute("alice", User.rename, name="Alicia")
    created, renamed = [stored.meta for stored in await users.history("alice")]
    assert read(created) == Request(user="al")
    assert created.correlation_id == "req-1"
    assert renamed.metadata == {"reason": "import"}
    with evtsrc.context(caused_by=renamed):  # as a plain handler callback passes it on
        await users.execute("alice", User.rename, name="Al")
    caused = (await users.history("alice"))[-1].meta
    assert caused.causation_id == renamed.event_id
    assert caused.correlation_id == renamed.correlation_id
    assert steps() is _add_city
