"""The fast functions for plain events and states give exactly what cattrs gives."""

from __future__ import annotations

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from evtsrc import Aggregate, Event, EventDecodeError, EventEncodeError
from evtsrc._codec import Codec, StateCodec
from evtsrc._converter import default_converter
from evtsrc._plain import plain_decoder, plain_encoder


class Reading(Event, type_name="plain.reading"):
    sensor: str
    count: int
    value: float
    ok: bool
    note: str = "none"


class Ping(Event, type_name="plain.ping"):
    pass


class Checked(Event, type_name="plain.checked"):
    count: int = attrs.field(validator=attrs.validators.ge(0))


class Listed(Event, type_name="plain.listed"):
    items: list[int]


class Hooked(Event, type_name="plain.hooked"):
    count: int

    def __attrs_post_init__(self) -> None:
        object.__setattr__(self, "doubled", self.count * 2)


class PreHooked(Event, type_name="plain.prehooked"):
    count: int

    def __attrs_pre_init__(self) -> None:
        pass


class HandBuilt(Event, type_name="plain.handbuilt"):
    count: int

    def __init__(self, count: int) -> None:
        object.__setattr__(self, "count", count + 1)


def test_only_plain_classes_get_fast_functions() -> None:
    for cls in (Reading, Ping, Hooked):
        assert plain_decoder(cls) is not None and plain_encoder(cls) is not None, cls
    for cls in (Checked, Listed):
        assert plain_decoder(cls) is None and plain_encoder(cls) is None, cls
    for cls in (PreHooked, HandBuilt):  # their init code must run: decoding takes cattrs
        assert plain_decoder(cls) is None and plain_encoder(cls) is not None, cls


def test_the_fast_decoder_runs_the_post_init_hook_as_init_does() -> None:
    decode = plain_decoder(Hooked)
    assert decode is not None
    decoded = decode({"count": 4})
    assert decoded == Hooked(count=4) and decoded.doubled == 8


def codecs() -> tuple[Codec, Codec]:
    return (
        Codec(default_converter(), [Reading, Ping], plain=True),
        Codec(default_converter(), [Reading, Ping], plain=False),
    )


JSON_SCALARS = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text()
PAYLOADS = st.dictionaries(
    st.sampled_from(["sensor", "count", "value", "ok", "note", "extra"]), JSON_SCALARS
)


@given(payload=PAYLOADS)
def test_fast_and_general_decoders_agree(payload: dict[str, object]) -> None:
    fast, general = codecs()
    outcomes = []
    for codec in (fast, general):
        try:
            outcomes.append(("event", codec.decode("plain.reading", payload)))
        except EventDecodeError as error:
            outcomes.append(("error", str(error)))
    assert outcomes[0] == outcomes[1]
    if outcomes[0][0] == "event":
        event = outcomes[0][1]
        assert isinstance(event, Reading) and type(event.value) is float


def test_a_valid_payload_takes_the_fast_path_and_equals_the_constructed_event() -> None:
    fast, _ = codecs()
    payload = {"sensor": "s1", "count": 3, "value": 2, "ok": True}
    decoded = fast.decode("plain.reading", payload)
    assert decoded == Reading(sensor="s1", count=3, value=2.0, ok=True)
    assert type(decoded.value) is float  # type: ignore[attr-defined]
    assert fast.decode("plain.ping", {}) == Ping()
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        decoded.count = 4  # type: ignore[attr-defined,misc]


def test_wrong_types_are_refused_as_before() -> None:
    fast, _ = codecs()
    for payload in (
        {"sensor": "s", "count": True, "value": 1.0, "ok": True},  # a bool is not an int
        {"sensor": "s", "count": 1, "value": "1.0", "ok": True},
        {"sensor": 5, "count": 1, "value": 1.0, "ok": True},
        {"sensor": "s", "count": 1, "value": 1.0, "ok": 1},
        {"count": 1, "value": 1.0, "ok": True},
    ):
        with pytest.raises(EventDecodeError, match="plain.reading"):
            fast.decode("plain.reading", payload)


class Label(str):
    """A str subclass: JSON stores it as a plain string."""


@given(
    sensor=st.text(),
    count=st.integers(),
    value=st.floats(allow_nan=True, allow_infinity=True),
    ok=st.booleans(),
    note=st.text() | st.builds(Label, st.text()),
)
def test_fast_and_general_encoders_agree(
    sensor: str, count: int, value: float, ok: bool, note: str
) -> None:
    fast, general = codecs()
    event = Reading(sensor=sensor, count=count, value=value, ok=ok, note=note)
    outcomes = []
    for codec in (fast, general):
        try:
            type_name, data = codec.encode(event)
            outcomes.append(("data", type_name, data, [type(v) for v in data.values()]))
        except EventEncodeError as error:
            outcomes.append(("error", str(error)))
    assert outcomes[0] == outcomes[1]


def test_encoded_payloads_share_their_keys() -> None:
    fast, general = codecs()
    first = fast.encode(Reading(sensor="a", count=1, value=1.0, ok=True))[1]
    second = fast.encode(Reading(sensor="b", count=2, value=2.0, ok=False))[1]
    assert all(a is b for a, b in zip(first, second, strict=True))
    assert general.encode(Reading(sensor="a", count=1, value=1.0, ok=True))[1] == first


class Thermostat(Aggregate, stream="plain.thermostats"):
    room: str = "hall"
    target: float = 20.0
    on: bool = False
    changes: int = 0


def state_codecs() -> tuple[StateCodec, StateCodec]:
    assert plain_decoder(Thermostat) is not None and plain_encoder(Thermostat) is not None
    return (
        StateCodec(default_converter(), Thermostat, plain=True),
        StateCodec(default_converter(), Thermostat, plain=False),
    )


STATE_PAYLOADS = st.dictionaries(
    st.sampled_from(["room", "target", "on", "changes", "extra"]), JSON_SCALARS
)


@given(payload=STATE_PAYLOADS)
def test_fast_and_general_state_decoders_agree(payload: dict[str, object]) -> None:
    outcomes = []
    for codec in state_codecs():
        try:
            state = codec.decode(payload)
            outcomes.append(("state", attrs.asdict(state), state.id, state.version))
        except Exception as error:
            outcomes.append(("error", type(error).__name__))
    assert outcomes[0] == outcomes[1]


@given(
    room=st.text() | st.builds(Label, st.text()),
    target=st.floats(allow_nan=True, allow_infinity=True),
    on=st.booleans(),
    changes=st.integers(),
)
def test_fast_and_general_state_encoders_agree(
    room: str, target: float, on: bool, changes: int
) -> None:
    state = Thermostat(room=room, target=target, on=on, changes=changes)
    outcomes = []
    for codec in state_codecs():
        try:
            data = codec.encode(state)
            outcomes.append(("data", data, [type(v) for v in data.values()]))
        except EventEncodeError as error:
            outcomes.append(("error", str(error)))
    assert outcomes[0] == outcomes[1]
