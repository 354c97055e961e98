"""Run the benchmark: python -m bench.run [--quick] [--reps N] [--only S1,S2] [--targets ...].

Every (library, backend, scenario, repetition) runs in a fresh subprocess on a fresh
store; runs are interleaved across libraries. PostgreSQL and MariaDB are the servers
named on the command line (or in EVTSRC_BENCH_PG_DSN / EVTSRC_BENCH_MARIADB_URL), else
servers this harness starts at default durability. MongoDB and Neo4j come from
--mongo-uri / --neo4j-uri, EVTSRC_BENCH_*_URI or EVTSRC_TEST_*_URI. The peer evtstore
runs on Node (bench/evtstore, `npm ci` first when its node_modules is missing or stale).
The exit status is 1 when a run failed (a crash, a failed check) or, under CI=true, a
server or node/npm is missing; missed performance targets never fail the run.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from bench import evtstore_node
from bench.common import SCENARIOS, Sizes
from bench.plan import BACKENDS, LIBRARIES, SERVER_OF, Job, jobs
from bench.report import format_tables, summarise
from bench.servers import ENVIRONMENT, Servers, provide
from bench.settings import format_settings, machine, server_settings, software
from bench.stores import fresh_store

ROOT = Path(__file__).parent.parent
RESULTS = Path(__file__).parent / "results" / "latest.json"


def parse_args(argv: list[str]) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="tiny sizes, 1 repetition")
    parser.add_argument("--reps", type=int, help="repetitions (default 3, quick 1)")
    parser.add_argument("--only", default=",".join(SCENARIOS), help="e.g. S1,S3")
    parser.add_argument("--targets", default=",".join(BACKENDS), help="e.g. memory,sqlite")
    parser.add_argument("--libraries", default=",".join(LIBRARIES), help="e.g. evtsrc")
    parser.add_argument(
        "--size", action="append", default=[], metavar="NAME=VALUE", help="override a size"
    )
    parser.add_argument("--timeout", type=float, help="seconds per run (quick 600, else 7200)")
    parser.add_argument("--out", type=Path, default=RESULTS, help="the JSON results file")
    for server, flag in (
        ("postgres", "--pg-dsn"),
        ("mariadb", "--mariadb-url"),
        ("mongo", "--mongo-uri"),
        ("neo4j", "--neo4j-uri"),
    ):
        variables = " or ".join(ENVIRONMENT[server])
        parser.add_argument(flag, dest=server, help=f"the {server} server (else {variables})")
    args = parser.parse_args(argv)
    args.scenarios = _pick(args.only, SCENARIOS, "scenario")
    args.backends = _pick(args.targets, BACKENDS, "target")
    args.libraries = _pick(args.libraries, LIBRARIES, "library")
    return args


def _pick(text: str, known: tuple[str, ...], what: str) -> list[str]:
    chosen = [item.strip() for item in text.split(",") if item.strip()]
    unknown = [item for item in chosen if item not in known]
    if unknown:
        raise SystemExit(f"unknown {what}(s) {unknown}; known: {', '.join(known)}")
    return chosen


def run_child(job: Job, sizes: Sizes, servers: dict[str, str], timeout: float) -> Any:
    """One measured run in a fresh process on a fresh store; its JSON result."""
    with fresh_store(job.backend, servers) as target:
        if job.library == "evtstore":
            argv = evtstore_node.command(job.backend, job.scenario)
        else:
            argv = [sys.executable, "-m", "bench.child", job.library, job.backend, job.scenario]
        try:
            completed = subprocess.run(
                [*argv, target, json.dumps(sizes.as_dict())],
                capture_output=True,
                text=True,
                check=False,
                cwd=ROOT,
                timeout=timeout,
            )
        except subprocess.TimeoutExpired as expired:
            raise RuntimeError(f"timed out after {timeout:.0f} s") from expired
    if completed.returncode != 0:
        raise RuntimeError(completed.stderr.strip()[-4000:])
    return json.loads(completed.stdout.strip().splitlines()[-1])


def _progress(job: Job, result: dict[str, Any]) -> str:
    extra = result.get("extra", {})
    if job.scenario == "S5":
        figure = f"p50 {extra['p50_ms']:.2f} ms, p99 {extra['p99_ms']:.2f} ms"
    elif job.scenario == "S2snap":
        figure = "ms/load " + ", ".join(f"{k}: {v * 1000:.3g}" for k, v in extra["load_s"].items())
    elif "us_per_event" in extra:
        figure = "µs/event " + ", ".join(f"{k}: {v:.3g}" for k, v in extra["us_per_event"].items())
    else:
        figure = f"{result['rate']:.0f}/s"
    return f"{figure}  {result['rss_mb']:.1f} MB"


def run_all(
    planned: list[list[Job]], sizes: Sizes, servers: Servers, timeout: float
) -> tuple[list[dict[str, Any]], list[str]]:
    """Every planned run whose server is there: the results, and what failed."""
    runs: list[dict[str, Any]] = []
    failures: list[str] = []
    for rep, rep_jobs in enumerate(planned):
        for job in rep_jobs:
            if SERVER_OF.get(job.backend) in servers.missing:
                continue
            label = (
                f"rep {rep + 1}/{len(planned)} {job.scenario:6} {job.backend:19} {job.library:18}"
            )
            try:
                result = run_child(job, sizes, servers.address, timeout)
            except Exception as error:
                failures.append(f"{label}: {error}")
                print(f"{label} FAILED:\n{error}", flush=True)
                continue
            result.update(asdict(job), rep=rep)
            runs.append(result)
            print(f"{label} {_progress(job, result)}", flush=True)
    return runs, failures


def describe(argv: list[str], sizes: Sizes, reps: int, servers: Servers) -> dict[str, Any]:
    """The command, sizes, machine, software and server settings of this run."""
    return {
        "command": " ".join(["python -m bench.run", *argv]),
        "sizes": sizes.as_dict(),
        "reps": reps,
        "machine": machine(),
        "software": software(),
        "servers": {
            s: {"origin": servers.origin[s], **server_settings(s, a)}
            for s, a in servers.address.items()
        },
    }


def main(argv: list[str]) -> int:
    """Run, print the settings and tables, write the JSON results; 1 if anything failed."""
    args = parse_args(argv)
    sizes = (Sizes.quick() if args.quick else Sizes()).with_overrides(args.size)
    reps = args.reps or (1 if args.quick else 3)
    timeout = args.timeout or (600 if args.quick else 7200)
    ci = os.environ.get("CI", "").lower() in ("1", "true", "yes")
    planned = [jobs(args.libraries, args.backends, args.scenarios, rep) for rep in range(reps)]
    if any(j.library == "evtstore" for js in planned for j in js):
        problem = evtstore_node.prepare()
        if problem:
            print(f"evtstore: cannot run ({problem}); its runs are skipped", file=sys.stderr)
            if ci:
                print("CI=true: evtstore must run", file=sys.stderr)
                return 1
            planned = [[j for j in js if j.library != "evtstore"] for js in planned]
    needed = {SERVER_OF[j.backend] for js in planned for j in js if j.backend in SERVER_OF}
    flags = {server: getattr(args, server) for server in SERVER_OF.values()}
    started = time.time()
    with provide(needed, flags) as servers:
        for server, why in servers.missing.items():
            print(f"{server}: missing ({why}); its targets are skipped", file=sys.stderr)
        if servers.missing and ci:
            print("CI=true: every server must be there", file=sys.stderr)
            return 1
        settings = describe(argv, sizes, reps, servers)
        runs, failures = run_all(planned, sizes, servers, timeout)
    for run in runs:
        store = run.get("extra", {}).get("store")
        if store:
            settings.setdefault("sqlite", {})[f"{run['library']} {run['backend']}"] = store
    rows = summarise(runs)
    print()
    print(format_settings(settings))
    if args.quick:
        print("- quick sizes: the harness is exercised, the timings mean nothing")
    print()
    print(format_tables(rows))
    seconds = time.time() - started
    document = {"settings": settings, "seconds": seconds, "runs": runs, "summary": rows}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({**document, "failures": failures}, indent=2) + "\n")
    print(f"\nwritten to {args.out}; {len(runs)} runs in {seconds:.0f} s")
    if failures:
        print(f"\n{len(failures)} run(s) FAILED:", *failures, sep="\n", file=sys.stderr)
        return 1
    return 0


def _exit_on_sigterm(signum: int, frame: object) -> None:
    """A terminated run still stops the servers it started (the `with` blocks unwind)."""
    raise SystemExit(128 + signum)


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    sys.exit(main(sys.argv[1:]))
