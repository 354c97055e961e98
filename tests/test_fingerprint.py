"""The snapshot key changes with the fold code, and only with it."""

from __future__ import annotations

import textwrap
import types

import pytest

from evtsrc import Aggregate, Domain, Event, Snapshots
from evtsrc._definition import AggregateSpec
from evtsrc.backends import InMemoryBackend

HEADER = """
from __future__ import annotations
from evtsrc import Aggregate, Event, command, folds

class Added(Event):
    amount: int

def double(value: int) -> int:
    return value * 2
"""

BASE = """
class Total(Aggregate, stream="totals", snapshots=True):
    total: int = 0

    @folds
    def _added(self, event: Added) -> None:
        self.total = self.total + self.scale(event.amount)

    def scale(self, amount: int) -> int:
        return double(amount)

    @command
    def add(self, amount: int) -> Added:
        return Added(amount=amount)
"""


def key_of(source: str, header: str = HEADER) -> str:
    module = types.ModuleType("fingerprinted")
    exec(compile(textwrap.dedent(header + source), "fingerprinted.py", "exec"), module.__dict__)
    return AggregateSpec(module.Total).snapshot_key


def test_the_same_code_gives_the_same_key() -> None:
    assert key_of(BASE) == key_of(BASE)


def test_moving_code_or_changing_a_command_keeps_the_key() -> None:
    moved = "\n\n\n# a comment\n" + BASE.replace(
        "return Added(amount=amount)", "return Added(amount)"
    )
    assert key_of(moved) == key_of(BASE)


def test_changing_a_fold_changes_the_key() -> None:
    assert key_of(BASE.replace("self.total +", "self.total -")) != key_of(BASE)


def test_changing_a_helper_method_changes_the_key() -> None:
    assert key_of(BASE.replace("return double(amount)", "return amount")) != key_of(BASE)


def test_changing_a_module_function_the_fold_uses_changes_the_key() -> None:
    assert key_of(BASE, HEADER.replace("value * 2", "value * 3")) != key_of(BASE)


def test_changing_the_state_fields_changes_the_key() -> None:
    assert key_of(BASE.replace("total: int = 0", "total: int = 1")) != key_of(BASE)
    added = BASE.replace("total: int = 0", "total: int = 0\n    count: int = 0")
    assert key_of(added) != key_of(BASE)


def test_changing_an_event_changes_the_key() -> None:
    assert key_of(BASE, HEADER.replace("amount: int", "amount: float")) != key_of(BASE)


def test_evtsrcs_own_aggregate_methods_are_not_part_of_the_key(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    uses_load = BASE.replace(
        "self.scale(event.amount)", "self.scale(event.amount) + 0 * id(self.load)"
    )
    before = key_of(uses_load)

    async def other_load(self: Aggregate, cls: type[Aggregate], aggregate_id: str) -> Aggregate:
        raise NotImplementedError

    monkeypatch.setattr(Aggregate, "load", other_load)
    assert key_of(uses_load) == before


class Pinned(Event):
    pass


class PinnedTotal(Aggregate, stream="pinned", snapshots=Snapshots(key="v1")):
    pass


def test_a_pinned_key_is_used_as_given() -> None:
    domain = Domain(InMemoryBackend(), aggregates=[PinnedTotal])
    assert AggregateSpec(PinnedTotal).snapshot_key == "v1"
    assert domain.repository(PinnedTotal).stream == "pinned"
