"""Re-running a command that lost an optimistic-concurrency race."""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable

import attrs

MAX_FAILURE_BACKOFF = 30.0
"""The longest a started handler waits, in seconds, before it retries a failed run.

The wait starts at `poll_interval` and doubles with each failure in a row, up to this.
"""


def _seconds(
    *, zero: bool, optional: bool = False
) -> Callable[[object, attrs.Attribute[float], float | None], None]:
    """A validator for a finite number of seconds (>= 0 with `zero`, else > 0)."""
    wanted = f"a finite number of seconds {'>=' if zero else '>'} 0{' or None' if optional else ''}"

    def check(_: object, attribute: attrs.Attribute[float], value: float | None) -> None:
        if value is None and optional:
            return
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
            or value < 0
            or (value == 0 and not zero)
        ):
            raise ValueError(f"RetryPolicy: {attribute.name} is {wanted}, not {value!r}")

    return check


def _check_attempts(_: object, attribute: attrs.Attribute[int], value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"RetryPolicy: attempts is at least 1, not {value!r}")


@attrs.frozen
class RetryPolicy:
    """Re-run a command up to `attempts` times in all when it raises VersionConflict.

    Given to `Domain.handler(retry=...)`, it re-runs a handler's callback that raised,
    the same way, before its event counts as failed.

    After the n-th conflict it waits a random time up to
    `min(max_delay, backoff * 2 ** (n - 1))` seconds, so competing writers
    spread out. With a `budget`, no wait ends more than `budget` seconds after
    the first run started (as measured by `clock`): once it is spent, the last
    conflict is raised.
    """

    attempts: int = attrs.field(default=3, validator=_check_attempts)
    backoff: float = attrs.field(default=0.005, validator=_seconds(zero=True))
    max_delay: float = attrs.field(default=0.1, validator=_seconds(zero=True))
    budget: float | None = attrs.field(default=None, validator=_seconds(zero=False, optional=True))
    clock: Callable[[], float] = attrs.field(
        default=time.monotonic, kw_only=True, eq=False, repr=False
    )
    """Monotonic seconds the budget is measured with; tests may pass a fake clock."""

    def __attrs_post_init__(self) -> None:
        if self.backoff > self.max_delay:
            raise ValueError(
                f"RetryPolicy: backoff ({self.backoff}) exceeds max_delay ({self.max_delay}); "
                "raise max_delay as well"
            )

    def delay(self, attempt: int) -> float:
        """Seconds to wait after the `attempt`-th conflict (1-based), at most `max_delay`."""
        return random.uniform(0, self._ceiling(attempt))

    def next_delay(self, attempt: int, elapsed: float) -> float | None:
        """Seconds to wait after the `attempt`-th conflict, or None to give up.

        `elapsed` is the time since the first run started. None when every
        attempt was used or the budget is spent; otherwise the wait never ends
        past the budget.
        """
        if attempt >= self.attempts:
            return None
        if self.budget is None:
            return self.delay(attempt)
        left = self.budget - elapsed
        if left <= 0:
            return None
        return random.uniform(0, min(self._ceiling(attempt), left))

    def _ceiling(self, attempt: int) -> float:
        try:
            grown = math.ldexp(self.backoff, attempt - 1)  # exact, and no int-to-float overflow
        except OverflowError:
            grown = math.inf
        return min(self.max_delay, grown)


NO_RETRY = RetryPolicy(attempts=1)
"""Raise VersionConflict at once: the default."""
