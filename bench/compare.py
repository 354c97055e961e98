"""Compare evtsrc at two commits: python -m bench.compare BEFORE AFTER [--only S2,S3] [...].

Each commit's `evtsrc` is exported with `git archive`; the harness is this checkout's
`bench`, the same for both. For every repetition, backend and scenario, each commit
runs `bench.child` in a fresh process on a fresh store, the commits taking turns at
going first, against the same servers (started at default durability unless named, as
`bench.run` does). The table gives medians with their range and the ratio AFTER /
BEFORE: what a change costs, measured side by side on a shared machine rather than
against figures from another hour.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
from io import BytesIO
from pathlib import Path

from bench.common import Sizes
from bench.plan import SERVER_OF
from bench.servers import provide
from bench.stores import fresh_store

ROOT = Path(__file__).parent.parent
CHILD = (sys.executable, "-m", "bench.child", "evtsrc")


def export(commit: str, tree: Path) -> Path:
    """`tree`: `evtsrc` as it is at `commit`, beside a copy of this checkout's `bench`."""
    archive = subprocess.run(
        ["git", "archive", commit, "evtsrc"], cwd=ROOT, capture_output=True, check=True
    ).stdout
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(tree, filter="data")
    shutil.copytree(
        ROOT / "bench", tree / "bench", ignore=shutil.ignore_patterns("results", "node_modules")
    )
    return tree


def run(tree: Path, backend: str, scenario: str, target: str, sizes: Sizes) -> float:
    """Events (or commands) per second of one run of the code in `tree`."""
    completed = subprocess.run(
        [*CHILD, backend, scenario, target, json.dumps(sizes.as_dict())],
        cwd=tree,
        env={**os.environ, "PYTHONPATH": str(tree)},
        capture_output=True,
        text=True,
        check=False,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"{tree.name} {backend} {scenario}: {completed.stderr[-2000:]}")
    rate: float = json.loads(completed.stdout.strip().splitlines()[-1])["rate"]
    return rate


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.compare", description=__doc__)
    parser.add_argument("before")
    parser.add_argument("after")
    parser.add_argument("--only", default="S2,S3", help="scenarios, e.g. S2,S3")
    parser.add_argument("--targets", default="memory,sqlite-stdlib,postgres")
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="tiny sizes (to try it out)")
    parser.add_argument("--pg-dsn", dest="postgres", help="the PostgreSQL server to use")
    args = parser.parse_args(argv)
    scenarios, backends = args.only.split(","), args.targets.split(",")
    sizes = Sizes.quick() if args.quick else Sizes()
    rates: dict[tuple[str, str, int], list[float]] = {}
    needed = {SERVER_OF[b] for b in backends if b in SERVER_OF}
    with tempfile.TemporaryDirectory() as folder, provide(needed, vars(args)) as servers:
        if servers.missing:
            print(f"missing servers: {servers.missing}", file=sys.stderr)
            return 1
        commits = (args.before, args.after)
        trees = [
            export(c, Path(folder) / f"{i}-{c.replace('/', '_')}") for i, c in enumerate(commits)
        ]
        for rep in range(args.reps):
            for backend in backends:
                for scenario in scenarios:
                    for which in (0, 1) if rep % 2 == 0 else (1, 0):
                        with fresh_store(backend, servers.address) as target:
                            rate = run(trees[which], backend, scenario, target, sizes)
                        rates.setdefault((backend, scenario, which), []).append(rate)
                        print(
                            f"rep {rep + 1} {scenario} {backend} {trees[which].name}: "
                            f"{rate:,.0f}/s",
                            file=sys.stderr,
                            flush=True,
                        )
    print(f"| scenario | backend | {args.before} | {args.after} | after / before |")
    print("| --- | --- | ---: | ---: | ---: |")
    for backend in backends:
        for scenario in scenarios:
            before, after = rates[(backend, scenario, 0)], rates[(backend, scenario, 1)]
            print(
                f"| {scenario} | {backend} | {_cell(before)} | {_cell(after)} | "
                f"{statistics.median(after) / statistics.median(before):.2f}x |"
            )
    return 0


def _cell(rates: list[float]) -> str:
    """Median (min-max): in thousands from 100,000 a second, else whole (commands)."""
    scale, unit = (1000, "k") if min(rates) >= 100_000 else (1, "")
    return (
        f"{statistics.median(rates) / scale:,.0f}{unit} "
        f"({min(rates) / scale:,.0f}-{max(rates) / scale:,.0f}{unit})"
    )


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
