"""Decode-and-fold throughput of the bench's account model, old tree against new, interleaved.

    python scripts/decode_fold.py OLD_TREE NEW_TREE [--reps 7] [--events 10000]

Each repetition runs one fresh process per tree, alternating, with PYTHONPATH set to
that tree, and prints the medians. A process times, on one 10,000-event account:

- load: what a load from SQLite pays per event once the rows are fetched: the payload
  texts parsed (`jsontext.loads_documents`), a record built, the event decoded and
  folded (`Repository._fold_records`);
- parse: the payload texts parsed alone;
- encode: what a command pays per event it returns: `Codec.encode_decided` and
  `jsontext.dumps` of the payload;
- rich: one event with every kind of field encoded, written, read and decoded again.

Only figures from one run, side by side, are comparable (the machine is shared).
"""

# No `from __future__ import annotations`: the model below is local to `child`, and its
# annotations must be evaluated where its names are in scope.

import json
import os
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime

KINDS = ("load", "parse", "encode", "rich")


def child(events: int) -> None:
    """Print events per second for each of `KINDS`, best of a few rounds, as JSON."""
    import asyncio
    from decimal import Decimal
    from enum import Enum
    from uuid import UUID

    from bench.evtsrc_model import Account, Deposited, Opened
    from evtsrc import Aggregate, Domain, Event, command, folds
    from evtsrc.backends import EventRecord, InMemoryBackend
    from evtsrc.backends._support import jsontext

    class Colour(Enum):
        RED = "red"

    class Rich(Event, type_name="rich"):
        text: str
        number: int
        ratio: float
        amount: Decimal
        at: datetime
        key: UUID
        colour: Colour
        tags: tuple[str, ...]
        scores: list[int]
        note: str | None

    class Holder(Aggregate, stream="holders"):
        @folds
        def _rich(self, event: Rich) -> None:
            pass

        @command
        def keep(self) -> Rich:
            raise NotImplementedError

    domain = Domain(InMemoryBackend(), aggregates=[Account, Holder])
    repository = domain.repository(Account)
    codec = domain.codec
    now = datetime.now(UTC)
    texts = [jsontext.dumps({"owner": "alice"})]
    texts += [jsontext.dumps({"amount": 1}) for _ in range(events - 1)]
    types = ["account.opened"] + ["account.deposited"] * (events - 1)
    new_events = [Opened(owner="alice")] + [Deposited(amount=i) for i in range(1, events)]
    rich = Rich(
        text="Ōsaka", number=2**40, ratio=0.5, amount=Decimal("1.25"), at=now,
        key=UUID(int=7), colour=Colour.RED, tags=("a", "b"), scores=[1, 2], note=None,
    )  # fmt: skip

    def load() -> None:
        payloads = jsontext.loads_documents(texts)
        records = [
            EventRecord("accounts", "a", i + 1, i + 1, now, types[i], payloads[i])
            for i in range(events)
        ]
        account = Account()
        repository._fold_records(account, records)
        assert account.balance == events - 1

    def parse() -> None:
        jsontext.loads_documents(texts)

    def encode() -> None:
        for event in new_events:
            _, data, _ = codec.encode_decided(event, Account, "deposit")
            jsontext.dumps(data)

    def rich_round_trip() -> None:
        for _ in range(events // 10):
            type_name, data = codec.encode(rich)
            codec.decode(type_name, jsontext.loads(jsontext.dumps(data)))

    work = {"load": (load, events), "parse": (parse, events), "encode": (encode, events)}
    work["rich"] = (rich_round_trip, events // 10)
    asyncio.run(asyncio.sleep(0))
    best = {kind: 0.0 for kind in KINDS}
    for _ in range(5):
        for kind in KINDS:
            function, count = work[kind]
            start = time.perf_counter()
            function()
            best[kind] = max(best[kind], count / (time.perf_counter() - start))
    print(json.dumps(best))


def main() -> None:
    args = sys.argv[1:]
    if args and args[0] == "--child":
        child(int(args[1]))
        return
    reps = int(args[args.index("--reps") + 1]) if "--reps" in args else 7
    events = int(args[args.index("--events") + 1]) if "--events" in args else 10_000
    trees = [a for i, a in enumerate(args) if not a.startswith("--") and args[i - 1][:2] != "--"]
    found: dict[str, dict[str, list[float]]] = {t: {k: [] for k in KINDS} for t in trees}
    for rep in range(reps):
        for tree in trees if rep % 2 == 0 else trees[::-1]:
            env = {**os.environ, "PYTHONPATH": tree}
            out = subprocess.run(
                [sys.executable, __file__, "--child", str(events)],
                env=env, cwd=tree, check=True, capture_output=True, text=True,
            ).stdout  # fmt: skip
            for kind, rate in json.loads(out).items():
                found[tree][kind].append(rate)
    print(f"{reps} repetitions, {events} events, medians of each process's best of 5 (events/s)")
    print(f"{'tree':40s}" + "".join(f"{k:>12s}" for k in KINDS))
    for tree in trees:
        rates = "".join(f"{statistics.median(found[tree][k]) / 1e3:11.0f}k" for k in KINDS)
        print(f"{tree:40s}{rates}")
    if len(trees) == 2:
        old, new = trees
        ratios = "".join(
            f"{statistics.median(found[new][k]) / statistics.median(found[old][k]):11.2f}x"
            for k in KINDS
        )
        print(f"{'new / old':40s}{ratios}")


if __name__ == "__main__":
    main()
