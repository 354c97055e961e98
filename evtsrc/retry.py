"""Re-running a command that lost an optimistic-concurrency race."""

from __future__ import annotations

import random

import attrs


@attrs.frozen
class RetryPolicy:
    """Re-run a command up to `attempts` times in all when it raises VersionConflict.

    Between attempts it waits a random time up to `backoff` seconds, doubled
    after each conflict, so competing writers spread out.
    """

    attempts: int = attrs.field(default=3, validator=attrs.validators.ge(1))
    backoff: float = attrs.field(default=0.005, validator=attrs.validators.ge(0))

    def delay(self, attempt: int) -> float:
        """Seconds to wait after the `attempt`-th conflict (1-based)."""
        return random.uniform(0, self.backoff * (2 ** (attempt - 1)))


NO_RETRY = RetryPolicy(attempts=1)
"""Raise VersionConflict at once: the default."""
