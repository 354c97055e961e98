"""A handler name no backend can store is refused when its class is defined."""

from __future__ import annotations

import pytest

from evtsrc import DefinitionError, Event, EventHandler, on_event


class Noted(Event, type_name="handler-names.noted"):
    text: str


def test_a_handler_name_no_backend_can_store_is_refused_at_definition() -> None:
    with pytest.raises(DefinitionError, match=r"Bad: its name .*NUL character"):

        class Bad(EventHandler, name="bad\x00name"):
            @on_event
            def noted(self, event: Noted) -> None:
                pass
