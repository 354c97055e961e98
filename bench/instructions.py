"""Count a catch-up's instructions per event: python -m bench.instructions BEFORE AFTER [...].

Wall-clock ratios on a shared machine move by a fifth between runs; instruction counts
barely move. Each commit's `evtsrc` is exported as `bench.compare` does. For each store
and scenario (S3, S3meta), `bench.child` runs under valgrind's cachegrind at two store
sizes, each once with the catch-up and once without it, on a fresh store: the catch-up's
instructions per event are the difference of the two differences over the events added.
The garbage collector is off during the catch-up (a collection falling in it would move
a count by a third) and hashing is seeded. Needs `valgrind`.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import re
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from bench.common import COUNTING, Sizes
from bench.compare import export
from bench.plan import SERVER_OF
from bench.servers import provide
from bench.stores import fresh_store

_REFS = re.compile(r"I\s+refs:\s+([\d,]+)")
CATCH_UPS = ("S3", "S3meta")


def count(tree: Path, backend: str, scenario: str, accounts: int, mode: str, target: str) -> int:
    """Instructions of one `bench.child` run of `scenario` (`mode`: setup or catch-up)."""
    sizes = dataclasses.replace(Sizes(), s3_accounts=accounts)
    completed = subprocess.run(
        [
            "valgrind", "--tool=cachegrind", "--cache-sim=no", "--cachegrind-out-file=/dev/null",
            sys.executable, "-m", "bench.child", "evtsrc", backend, scenario, target,
            json.dumps(sizes.as_dict()),
        ],
        cwd=tree,
        env={**os.environ, "PYTHONPATH": str(tree), "PYTHONHASHSEED": "0", COUNTING: mode},
        capture_output=True,
        text=True,
        check=False,
    )  # fmt: skip
    found = _REFS.search(completed.stderr)
    if completed.returncode != 0 or found is None:
        raise RuntimeError(f"{tree.name} {backend} {scenario}: {completed.stderr[-2000:]}")
    return int(found.group(1).replace(",", ""))


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.instructions", description=__doc__)
    parser.add_argument("commits", nargs="+", help="one commit or more, e.g. afe64e4 HEAD")
    parser.add_argument("--only", default="S3,S3meta", help=f"of {', '.join(CATCH_UPS)}")
    parser.add_argument("--targets", default="memory,sqlite-stdlib,postgres")
    parser.add_argument("--accounts", default="500,1000", help="two store sizes, of 10 events")
    parser.add_argument("--jobs", type=int, default=2, help="valgrind runs at once")
    parser.add_argument("--pg-dsn", dest="postgres", help="the PostgreSQL server to use")
    args = parser.parse_args(argv)
    scenarios, backends = args.only.split(","), args.targets.split(",")
    small, large = (int(n) for n in args.accounts.split(","))
    if not set(scenarios) <= set(CATCH_UPS) or large <= small:
        parser.error(f"--only takes {', '.join(CATCH_UPS)}; --accounts two growing sizes")
    needed = {SERVER_OF[b] for b in backends if b in SERVER_OF}
    with tempfile.TemporaryDirectory() as folder, provide(needed, vars(args)) as servers:
        if servers.missing:
            print(f"missing servers: {servers.missing}", file=sys.stderr)
            return 1
        trees = [
            export(c, Path(folder) / f"{i}-{c.replace('/', '_')}")
            for i, c in enumerate(args.commits)
        ]
        runs = [
            (tree, backend, scenario, accounts, mode)
            for tree in trees
            for backend in backends
            for scenario in scenarios
            for accounts in (small, large)
            for mode in ("setup", "catch-up")
        ]

        def one(run: tuple[Path, str, str, int, str]) -> int:
            with fresh_store(run[1], servers.address) as target:
                return count(*run, target)

        with ThreadPoolExecutor(args.jobs) as pool:
            counted = dict(zip(runs, pool.map(one, runs), strict=True))
    print(f"| scenario | backend | {' | '.join(args.commits)} |")
    print(f"| --- | --- |{' ---: |' * len(trees)}")
    for backend in backends:
        for scenario in scenarios:
            cells = []
            for tree in trees:
                each = {
                    n: counted[tree, backend, scenario, n, "catch-up"]
                    - counted[tree, backend, scenario, n, "setup"]
                    for n in (small, large)
                }
                cells.append(f"{(each[large] - each[small]) / ((large - small) * 10):,.0f}")
            print(f"| {scenario} | {backend} | {' | '.join(cells)} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
