"""One measured run in its own process: prints one JSON line with the result.

python -m bench.child LIBRARY BACKEND SCENARIO TARGET SIZES_JSON
"""

from __future__ import annotations

import asyncio
import json
import sys

from bench.common import Measured, Sizes, peak_rss_mb


def measure(library: str, backend: str, scenario: str, target: str, sizes: Sizes) -> Measured:
    """Run the scenario with the library's module, imported only here."""
    if library in ("evtsrc", "evtsrc-nocache"):
        from bench import evtsrc_scenarios

        cache = library == "evtsrc"
        return asyncio.run(evtsrc_scenarios.run(backend, target, scenario, sizes, cache=cache))
    if library in ("eventsourcing", "eventsourcing-dbfn", "eventsourcing-cache"):
        from bench import es_scenarios

        return es_scenarios.run(
            backend,
            target,
            scenario,
            sizes,
            db_functions=library == "eventsourcing-dbfn",
            cache=library == "eventsourcing-cache",
        )
    if library in ("raw-asyncpg", "raw-asyncpg-read"):
        from bench import raw_asyncpg

        read = library == "raw-asyncpg-read"
        return asyncio.run(
            raw_asyncpg.run(backend, target, scenario, sizes, read_every_command=read)
        )
    raise ValueError(f"unknown library {library!r}")


def main(argv: list[str]) -> None:
    """Parse the arguments, run, print the result as JSON."""
    library, backend, scenario, target, sizes_json = argv
    result = measure(library, backend, scenario, target, Sizes.from_dict(json.loads(sizes_json)))
    line = {
        "count": result.count,
        "seconds": result.seconds,
        "rate": result.rate,
        "rss_mb": peak_rss_mb(),
        "extra": result.extra,
    }
    print(json.dumps(line))


if __name__ == "__main__":
    main(sys.argv[1:])
