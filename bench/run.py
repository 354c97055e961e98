"""Run the benchmark: python -m bench.run [--quick] [--reps N] [--only S1,S2] [--targets ...].

Every (library, backend, scenario, repetition) runs in a fresh subprocess on a fresh
database; runs are interleaved across libraries. PostgreSQL is the server of `--pg-dsn`
(or EVTSRC_BENCH_PG_DSN) or else one this harness starts at default durability.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench.common import SCENARIOS, Sizes
from bench.pgserver import DurablePostgres
from bench.report import format_tables, ratios, summarise
from bench.stores import fresh_store, postgres_settings

LIBRARIES = ("evtsrc", "eventsourcing")
BACKENDS = ("memory", "sqlite", "postgres")
RESULTS = Path(__file__).parent / "results" / "latest.json"


def parse_args(argv: list[str]) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="tiny sizes, 1 repetition")
    parser.add_argument("--reps", type=int, help="repetitions (default 3, quick 1)")
    parser.add_argument("--only", default=",".join(SCENARIOS), help="e.g. S1,S3")
    parser.add_argument("--targets", default=",".join(BACKENDS), help="e.g. memory,sqlite")
    parser.add_argument(
        "--pg-dsn",
        default=os.environ.get("EVTSRC_BENCH_PG_DSN"),
        help="an existing server (its settings are reported as they are)",
    )
    args = parser.parse_args(argv)
    args.scenarios = _pick(args.only, SCENARIOS, "scenario")
    args.backends = _pick(args.targets, BACKENDS, "target")
    return args


def _pick(text: str, known: tuple[str, ...], what: str) -> list[str]:
    chosen = [item.strip() for item in text.split(",") if item.strip()]
    unknown = [item for item in chosen if item not in known]
    if unknown:
        raise SystemExit(f"unknown {what}(s) {unknown}; known: {', '.join(known)}")
    return chosen


def run_child(library: str, backend: str, scenario: str, sizes: Sizes, pg: str | None) -> Any:
    """One measured run in a fresh process on a fresh store; its JSON result."""
    with fresh_store(backend, pg) as target:
        argv = [sys.executable, "-m", "bench.child", library, backend, scenario, target]
        completed = subprocess.run(
            [*argv, json.dumps(sizes.as_dict())],
            capture_output=True,
            text=True,
            check=False,
            cwd=Path(__file__).parent.parent,
        )
    if completed.returncode != 0:
        raise RuntimeError(f"{library} {backend} {scenario} failed:\n{completed.stderr}")
    return json.loads(completed.stdout.strip().splitlines()[-1])


def run_all(args: argparse.Namespace, sizes: Sizes, reps: int, pg: str | None) -> list[Any]:
    """Every run, interleaved; each repetition alternates which library goes first."""
    runs = []
    for rep in range(reps):
        libraries = LIBRARIES if rep % 2 == 0 else LIBRARIES[::-1]
        for scenario in args.scenarios:
            for backend in args.backends:
                for library in libraries:
                    result = run_child(library, backend, scenario, sizes, pg)
                    result.update(library=library, backend=backend, scenario=scenario, rep=rep)
                    print(
                        f"rep {rep + 1}/{reps} {scenario} {backend:8} {library:13} "
                        f"{result['rate']:12.0f}/s  {result['rss_mb']:6.1f} MB",
                        flush=True,
                    )
                    runs.append(result)
    return runs


def main(argv: list[str]) -> None:
    """Run, print the tables, write bench/results/latest.json."""
    args = parse_args(argv)
    sizes = Sizes.quick() if args.quick else Sizes()
    reps = args.reps or (1 if args.quick else 3)
    server: DurablePostgres | None = None
    pg: str | None = args.pg_dsn
    if "postgres" in args.backends and pg is None:
        server = DurablePostgres()
        pg = server.start()
    try:
        settings: dict[str, Any] = {
            "sizes": sizes.as_dict(),
            "reps": reps,
            "python": platform.python_version(),
            "machine": f"{platform.machine()} {platform.processor()} {os.cpu_count()} CPUs",
        }
        if pg is not None:
            settings["postgres"] = postgres_settings(pg)
            settings["postgres_server"] = "started by bench (defaults)" if server else pg
        started = time.time()
        runs = run_all(args, sizes, reps, pg)
    finally:
        if server is not None:
            server.stop()
    rows = summarise(runs)
    ratio_rows = ratios(rows)
    print()
    print("settings:", json.dumps(settings))
    print(format_tables(rows, ratio_rows))
    RESULTS.parent.mkdir(exist_ok=True)
    document = {
        "settings": settings,
        "seconds": time.time() - started,
        "runs": runs,
        "summary": rows,
        "ratios": ratio_rows,
    }
    RESULTS.write_text(json.dumps(document, indent=2) + "\n")
    print(f"\nwritten to {RESULTS}")


if __name__ == "__main__":
    main(sys.argv[1:])
