"""Every generated event survives the domain's encoding, JSON text included, unchanged."""

from __future__ import annotations

import json

import hypothesis.strategies as st
from hypothesis import given, settings

from evtsrc import Domain, Event
from evtsrc.backends import InMemoryBackend
from evtsrc.testing.strategies import events, events_of
from examples.blog.domain import make_domain
from examples.blog.posts import Post
from examples.blog.users import User

from .model import Noted, Tally

BLOG = make_domain(InMemoryBackend())
TALLY = Domain(InMemoryBackend(), aggregates=[Tally])


def _round_trip(domain: Domain, event: Event) -> Event:
    type_name, data = domain.codec.encode(event)
    text = json.dumps(data, allow_nan=False)
    return domain.codec.decode(type_name, json.loads(text))


@settings(max_examples=100)
@given(event=st.one_of(events_of(User), events_of(Post)))
def test_blog_events_round_trip(event: Event) -> None:
    back = _round_trip(BLOG, event)
    assert back == event
    assert type(back) is type(event)


@settings(max_examples=200)
@given(event=events(Noted))
def test_every_supported_field_type_round_trips(event: Noted) -> None:
    back = _round_trip(TALLY, event)
    assert back == event
    assert type(back) is Noted
    assert event.positive >= 0  # generated values pass the field's validator


@settings(max_examples=100)
@given(event=events_of(Tally))
def test_tally_events_round_trip(event: Event) -> None:
    assert _round_trip(TALLY, event) == event
