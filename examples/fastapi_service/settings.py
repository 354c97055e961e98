"""The service's settings, read from environment variables once, at start-up.

| Variable | Default | |
| --- | --- | --- |
| `LIBRARY_DATABASE_URL` | `sqlite:///library.sqlite` | the store: any URL `evtsrc.connect` takes |
| `LIBRARY_TABLE_PREFIX` | `evtsrc_` | names its tables (collections, labels) |
| `LIBRARY_READ_TIMEOUT` | `2` | seconds a GET waits for the read model to catch up |
| `LIBRARY_RETRY_ATTEMPTS` | `3` | runs of a command that meets a version conflict |
| `LIBRARY_CACHE_SIZE` | `1000` | books kept in memory per process (0: none) |
| `LIBRARY_NOTICES_IN_WEB` | `1` | `0` when a worker process runs the notices |
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import attrs

from evtsrc import DEFAULT_CACHE_SIZE, RetryPolicy

DEFAULT_URL = "sqlite:///library.sqlite"


@attrs.frozen
class Settings:
    database_url: str = DEFAULT_URL
    table_prefix: str = "evtsrc_"
    read_timeout: float = 2.0
    """The longest a GET with `?after=` waits for the read model (then: 503)."""
    retry: RetryPolicy = attrs.Factory(lambda: RetryPolicy(attempts=3))
    cache_size: int = DEFAULT_CACHE_SIZE
    notices_in_web: bool = True

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] = os.environ) -> Settings:
        """The settings the `LIBRARY_*` variables give; the defaults for those unset."""
        default = cls()
        attempts = int(environ.get("LIBRARY_RETRY_ATTEMPTS", default.retry.attempts))
        settings = cls(
            database_url=environ.get("LIBRARY_DATABASE_URL", default.database_url),
            table_prefix=environ.get("LIBRARY_TABLE_PREFIX", default.table_prefix),
            read_timeout=float(environ.get("LIBRARY_READ_TIMEOUT", default.read_timeout)),
            retry=RetryPolicy(attempts=attempts),
            cache_size=int(environ.get("LIBRARY_CACHE_SIZE", default.cache_size)),
            notices_in_web=environ.get("LIBRARY_NOTICES_IN_WEB", "1") != "0",
        )
        if not 0 < settings.read_timeout < 60:
            timeout = settings.read_timeout
            raise ValueError(f"LIBRARY_READ_TIMEOUT is 0 to 60 seconds, not {timeout}")
        return settings
