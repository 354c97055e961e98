"""Everything wrong with an aggregate, event or handler definition is reported at start-up."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from evtsrc import (
    Aggregate,
    DefinitionError,
    Domain,
    Event,
    EventHandler,
    EventMeta,
    command,
    folds,
    on_event,
)
from evtsrc.backends import InMemoryBackend


class Opened(Event):
    owner: str


class Closed(Event):
    pass


class Orphan(Event):
    pass


class Account(Aggregate, stream="accounts"):
    owner: str = ""
    open: bool = False

    @folds
    def _opened(self, event: Opened) -> None:
        self.owner = event.owner
        self.open = True

    @folds
    def _closed(self, event: Closed, meta: EventMeta) -> None:
        self.open = False

    @command
    def open_(self, owner: str) -> Opened:
        return Opened(owner=owner)


def build(*aggregates: type[Aggregate]) -> Domain:
    return Domain(InMemoryBackend(), aggregates=aggregates)


def test_a_valid_domain_builds() -> None:
    domain = build(Account)
    assert domain.aggregates == (Account,)
    assert domain.streams_of(Opened) == {"accounts"}
    assert set(domain.codec.classes) == {"Opened", "Closed", "Reopened"}


def test_an_aggregate_needs_a_stream() -> None:
    with pytest.raises(
        DefinitionError, match=r"needs a stream: class NoStream\(Aggregate, stream="
    ):

        class NoStream(Aggregate):
            pass


@pytest.mark.parametrize("stream", ["", "9lives", "has space", "x" * 201])
def test_a_stream_name_is_checked(stream: str) -> None:
    with pytest.raises(DefinitionError, match="stream"):

        class Bad(Aggregate, stream=stream):
            pass


@pytest.mark.parametrize("name", ["id", "version", "last_position", "load"])
def test_reserved_names_are_refused(name: str) -> None:
    with pytest.raises(DefinitionError, match=f"'{name}' is reserved"):
        type("Clash", (Aggregate,), {"__annotations__": {name: "int"}, name: 0}, stream="clash")


def test_a_state_field_or_method_named_last_position_is_refused_saying_why() -> None:
    with pytest.raises(DefinitionError, match="the position of its latest event"):

        class Field(Aggregate, stream="field"):
            last_position: int = 0

    with pytest.raises(DefinitionError, match="'last_position' is reserved .* another name"):

        class Method(Aggregate, stream="method"):
            def last_position(self) -> int:
                return 1


def test_an_event_type_name_is_checked() -> None:
    with pytest.raises(DefinitionError, match="type name 'no spaces please'"):

        class Bad(Event, type_name="no spaces please"):
            pass


def test_two_folds_for_one_event_are_refused() -> None:
    class Twice(Aggregate, stream="twice"):
        @folds
        def _a(self, event: Opened) -> None:
            pass

        @folds
        def _b(self, event: Opened | Closed) -> None:
            pass

    with pytest.raises(DefinitionError, match="Twice has two folds for Opened: _a and _b"):
        build(Twice)


def test_a_command_returning_an_event_without_fold_is_refused() -> None:
    class Leaky(Aggregate, stream="leaky"):
        @folds
        def _opened(self, event: Opened) -> None:
            pass

        @command
        def go(self) -> Sequence[Opened | Orphan] | None:
            return None

    with pytest.raises(DefinitionError, match="Leaky.go can return Orphan, which no fold"):
        build(Leaky)


def test_a_command_needs_a_return_annotation() -> None:
    class Vague(Aggregate, stream="vague"):
        @command
        def go(self):  # type: ignore[no-untyped-def]
            return None

    with pytest.raises(DefinitionError, match="Vague.go has no return annotation"):
        build(Vague)


def test_a_command_must_return_events() -> None:
    class Wrong(Aggregate, stream="wrong"):
        @command
        def go(self) -> str:  # type: ignore[type-var]
            return "x"

    with pytest.raises(DefinitionError, match="annotated to return str"):
        build(Wrong)


def test_a_fold_must_name_its_event_class() -> None:
    class Untyped(Aggregate, stream="untyped"):
        @folds
        def _any(self, event):  # type: ignore[no-untyped-def]
            pass

    with pytest.raises(DefinitionError, match="annotate its event parameter"):
        build(Untyped)

    class NotAnEvent(Aggregate, stream="not-event"):
        @folds
        def _int(self, event: int) -> None:
            pass

    with pytest.raises(DefinitionError, match="must be annotated with Event subclasses, not int"):
        build(NotAnEvent)


def test_a_fold_takes_event_and_optional_meta_only() -> None:
    class TooMany(Aggregate, stream="too-many"):
        @folds
        def _x(self, event: Opened, meta: EventMeta, extra: int) -> None:
            pass

    with pytest.raises(
        DefinitionError, match=r"must take \(self, event\) or \(self, event, meta\)"
    ):
        build(TooMany)

    class WrongMeta(Aggregate, stream="wrong-meta"):
        @folds
        def _x(self, event: Opened, meta: int) -> None:
            pass

    with pytest.raises(DefinitionError, match="second parameter receives EventMeta"):
        build(WrongMeta)


def test_a_method_cannot_be_fold_and_command() -> None:
    class Both(Aggregate, stream="both"):
        @folds
        @command
        def _x(self, event: Opened) -> None:
            pass

    with pytest.raises(DefinitionError, match="both @folds and @command"):
        build(Both)


def test_unresolvable_annotations_are_reported() -> None:
    class Forward(Aggregate, stream="forward"):
        @folds
        def _x(self, event: DoesNotExist) -> None:  # type: ignore[name-defined]  # noqa: F821
            pass

    with pytest.raises(DefinitionError, match="Forward._x: cannot resolve its annotations"):
        build(Forward)


def test_two_aggregates_on_one_stream_are_refused() -> None:
    class Copy(Aggregate, stream="accounts"):
        pass

    with pytest.raises(DefinitionError, match="both use stream 'accounts'"):
        build(Account, Copy)


def test_an_aggregate_registered_twice_is_refused() -> None:
    with pytest.raises(DefinitionError, match="registered twice"):
        build(Account, Account)


class Impostor(Event, type_name="Closed"):
    pass


class Opaque:
    """Not something cattrs can store."""


class Unstorable(Event):
    payload: Opaque


def test_two_event_classes_with_one_type_name_are_refused() -> None:
    class Other(Aggregate, stream="other"):
        @folds
        def _x(self, event: Impostor) -> None:
            pass

    with pytest.raises(DefinitionError, match="type name 'Closed' is used by both"):
        build(Account, Other)


def test_an_event_that_cannot_be_json_is_refused() -> None:
    class Holder(Aggregate, stream="holder"):
        @folds
        def _x(self, event: Unstorable) -> None:
            pass

    with pytest.raises(DefinitionError, match="Unstorable cannot be stored as JSON.*Opaque"):
        build(Holder)


def test_a_domain_needs_aggregates_and_a_backend() -> None:
    with pytest.raises(DefinitionError, match="at least one aggregate"):
        build()
    with pytest.raises(TypeError, match="must be an evtsrc Backend"):
        Domain(object(), aggregates=[Account])  # type: ignore[arg-type]
    with pytest.raises(DefinitionError, match="not a subclass of Aggregate"):
        Domain(InMemoryBackend(), aggregates=[Opened])  # type: ignore[list-item]


def test_an_unknown_repository_is_a_clear_key_error() -> None:
    class Elsewhere(Aggregate, stream="elsewhere"):
        pass

    with pytest.raises(KeyError, match="Elsewhere"):
        build(Account).repository(Elsewhere)


def test_a_handler_must_take_events_of_the_domain() -> None:
    class Lost(EventHandler):
        @on_event
        def orphan(self, event: Orphan) -> None:
            pass

    with pytest.raises(DefinitionError, match="takes Orphan, which no aggregate"):
        build(Account).handler(Lost())


def test_a_handler_needs_callbacks_and_known_streams() -> None:
    class Empty(EventHandler):
        pass

    with pytest.raises(DefinitionError, match="no @on_event methods"):
        build(Account).handler(Empty())

    class Typo(EventHandler, streams=["acounts"]):
        @on_event
        def opened(self, event: Opened) -> None:
            pass

    with pytest.raises(DefinitionError, match=r"reads streams \['acounts'\]"):
        build(Account).handler(Typo())


def test_a_handler_cannot_take_one_event_twice() -> None:
    class Double(EventHandler):
        @on_event
        def a(self, event: Opened) -> None:
            pass

        @on_event
        def b(self, event: Opened, meta: EventMeta) -> None:
            pass

    with pytest.raises(DefinitionError, match=r"two handlers for (Re)?[oO]pened: a and b"):
        build(Account).handler(Double())


def test_handler_options_are_checked() -> None:
    class Fine(EventHandler):
        @on_event
        def opened(self, event: Opened) -> None:
            pass

    domain = build(Account)
    with pytest.raises(ValueError, match="batch_size"):
        domain.handler(Fine(), batch_size=0)
    with pytest.raises(ValueError, match="poll_interval"):
        domain.handler(Fine(), poll_interval=0)
    assert domain.handler(Fine()).name == "Fine"


def test_reads_metadata_is_a_bool_and_inherited() -> None:
    with pytest.raises(DefinitionError, match=r"Vague: reads_metadata is True or False, not 0"):

        class Vague(EventHandler, reads_metadata=0):  # type: ignore[arg-type]
            pass

    class Lean(EventHandler, reads_metadata=False):
        pass

    class Leaner(Lean):
        pass

    class Whole(Lean, reads_metadata=True):
        pass

    assert (EventHandler.__handler_reads_metadata__, Leaner.__handler_reads_metadata__) == (
        True,
        False,
    )
    assert Whole.__handler_reads_metadata__


class Tally(Event):
    by_round: dict[int, str]


class Nested(Event):
    inner: tuple[Tally, ...]


def test_mappings_keyed_by_anything_but_str_are_refused() -> None:
    class Keyed(Aggregate, stream="keyed"):
        @folds
        def _x(self, event: Nested) -> None:
            pass

    with pytest.raises(DefinitionError, match=r"Tally.by_round: JSON object keys are strings"):
        build(Keyed)


def test_async_folds_are_refused() -> None:
    class Awaiting(Aggregate, stream="awaiting"):
        @folds
        async def _x(self, event: Opened) -> None:
            pass

    with pytest.raises(DefinitionError, match=r"fold .*Awaiting\._x is async"):
        build(Awaiting)


def test_state_fields_need_defaults() -> None:
    class Bare(Aggregate, stream="bare"):
        owner: str

    with pytest.raises(DefinitionError, match=r"state field .*Bare\.owner needs a default"):
        build(Bare)


class Reopened(Opened):
    pass


def test_subclasses_of_folded_events_are_registered() -> None:
    domain = build(Account)
    assert "Reopened" in domain.codec.classes
    assert domain.streams_of(Opened) == {"accounts"}
