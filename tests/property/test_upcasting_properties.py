"""Upcasters take every payload their version could have stored."""

from __future__ import annotations

import attrs
import hypothesis.strategies as st
import pytest
from hypothesis import given, settings

from evtsrc import EventDecodeError, JSONObject
from evtsrc.testing.strategies import payloads
from evtsrc.testing.upcasting import upcast
from examples.blog.users import UserCreated

FAST = settings(max_examples=100, deadline=None)


@attrs.frozen
class UserCreatedV1:
    """`UserCreated` as version 1 stored it ("user.registered"), kept for these tests."""

    username: str


@FAST
@given(payloads(UserCreatedV1))
def test_every_version_1_user_reads_as_the_current_class(payload: JSONObject) -> None:
    event = upcast(UserCreated, payload, from_version=1)
    assert event == UserCreated(name=str(payload["username"]))


@FAST
@given(payloads(UserCreatedV1, username=st.sampled_from(["al", "Zoë"])))
def test_payloads_are_what_the_default_converter_stores(payload: JSONObject) -> None:
    assert payload in ({"username": "al"}, {"username": "Zoë"})


def test_the_current_version_is_decoded_as_it_is() -> None:
    assert upcast(UserCreated, {"name": "al"}, from_version=2) == UserCreated(name="al")


def test_an_upcaster_that_misses_its_input_is_named() -> None:
    expected = "_username_is_name of UserCreated from version 1 raised KeyError"
    with pytest.raises(EventDecodeError, match=expected):
        upcast(UserCreated, {"name": "al"}, from_version=1)


def test_payloads_take_attrs_classes_only() -> None:
    with pytest.raises(TypeError, match=r"payloads\(\) takes an attrs class"):
        payloads(dict)
