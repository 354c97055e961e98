"""JSON text as the SQL and graph backends store and read it."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from evtsrc.backends import UndecodablePayload
from evtsrc.backends._support.jsontext import dumps, load_payload, loads, loads_documents

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


@given(value=st.dictionaries(st.text(), JSON, max_size=5))
def test_loads_reads_what_dumps_wrote_and_agrees_with_json(value: dict[str, object]) -> None:
    text = dumps(value)
    assert loads(text) == json.loads(text) == value
    assert loads(json.dumps(value, indent=2)) == value  # other layouts go through json.loads


def test_dumps_is_compact_and_keeps_non_ascii() -> None:
    assert dumps({"name": "Zoë", "n": [1, 2]}) == '{"name":"Zoë","n":[1,2]}'


@pytest.mark.parametrize("text", ['{"a": 1} trailing', '{"a": 1', "", "  "])
def test_loads_refuses_anything_but_one_document(text: str) -> None:
    with pytest.raises(ValueError, match="Expecting|Extra data"):
        loads(text)


def test_loads_accepts_surrounding_whitespace() -> None:
    assert loads(' {"a": 1}\n') == {"a": 1}


@given(values=st.lists(st.dictionaries(st.text(), JSON, max_size=3), max_size=6))
def test_loads_documents_reads_each_document(values: list[dict[str, object]]) -> None:
    assert loads_documents([dumps(v) for v in values]) == values


def test_loads_documents_shares_keys_between_documents() -> None:
    first, second = loads_documents(['{"amount":1}', '{"amount":2}'])
    assert next(iter(first)) is next(iter(second))


@pytest.mark.parametrize("text", ['{"a": 1', '{"a": "\\x41"}', "[" * 5000 + "]" * 5000])
def test_load_payload_keeps_what_does_not_parse_with_its_error(text: str) -> None:
    found = load_payload(text)
    assert isinstance(found, UndecodablePayload) and found.stored == text
    assert isinstance(found.error, (json.JSONDecodeError, RecursionError))
    assert load_payload('{"a": 1}') == {"a": 1}


def test_loads_documents_parses_each_alone_when_one_fails() -> None:
    deep = "[" * 5000 + "]" * 5000  # valid JSON (PostgreSQL and SQLite accept it); too deep here
    first, bad, last = loads_documents(['{"n":1}', deep, '{"n":2}'])
    assert (first, last) == ({"n": 1}, {"n": 2})
    assert isinstance(bad, UndecodablePayload) and isinstance(bad.error, RecursionError)
