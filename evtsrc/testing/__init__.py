"""Helpers for testing evtsrc domains.

`given()` runs given/when/then scenarios of aggregates through a real
domain; `append_events()` stores events for a test's setup. Hypothesis
strategies that generate events are in `evtsrc.testing.strategies`
(install `evtsrc[testing]`).
"""

from .scenario import DEFAULT_ID, DomainFactory, Outcome, Scenario, append_events, given

__all__ = ["DEFAULT_ID", "DomainFactory", "Outcome", "Scenario", "append_events", "given"]
