"""The measurements behind evtsrc's JSON layer: the standard library, orjson and msgspec.

    pip install orjson  # msgspec is a dependency of evtsrc
    python scripts/json_libraries.py [--rounds 15]

Everything runs in this one process, the cases interleaved round by round, and the
medians are printed: parsing the bench's 10,000 small payloads one at a time and as
one joined array, writing them, and turning parsed payloads into events (evtsrc's
generated functions for plain classes, the default converter's hooks, msgspec's
`convert`, and msgspec decoding the text straight into the classes).
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from collections.abc import Callable

import msgspec
import orjson

from bench.evtsrc_model import Deposited
from evtsrc._converter import default_converter
from evtsrc._plain import plain_decoder

EVENTS = 10_000


def cases() -> dict[str, Callable[[], object]]:
    """What to time, by name: each handles `EVENTS` payloads."""
    texts = [f'{{"amount":{i}}}' for i in range(EVENTS)]
    joined = "[" + ",".join(texts) + "]"
    data: list[dict[str, object]] = json.loads(joined)
    scanner = vars(json.JSONDecoder())["scan_once"]  # what evtsrc called before msgspec
    decode = msgspec.json.Decoder().decode
    encode = msgspec.json.Encoder().encode
    typed = msgspec.json.Decoder(list[Deposited]).decode
    plain = plain_decoder(Deposited)
    assert plain is not None
    hook = default_converter().get_structure_hook(Deposited)
    return {
        "parse one by one: json's scanner": lambda: [scanner(t, 0) for t in texts],
        "parse one by one: orjson": lambda: [orjson.loads(t) for t in texts],
        "parse one by one: msgspec": lambda: [decode(t) for t in texts],
        "parse joined: json.loads": lambda: json.loads(joined),
        "parse joined: orjson": lambda: orjson.loads(joined),
        "parse joined: msgspec": lambda: decode(joined),
        "write: json.dumps": lambda: [
            json.dumps(d, ensure_ascii=False, separators=(",", ":")) for d in data
        ],
        "write: orjson": lambda: [orjson.dumps(d).decode() for d in data],
        "write: msgspec": lambda: [encode(d).decode() for d in data],
        "dict to event: evtsrc plain": lambda: [plain(d) for d in data],
        "dict to event: converter hook": lambda: [hook(d, Deposited) for d in data],
        "dict to event: msgspec.convert": lambda: [msgspec.convert(d, Deposited) for d in data],
        "text to events: msgspec typed": lambda: typed(joined),
    }


def main() -> None:
    rounds = int(sys.argv[sys.argv.index("--rounds") + 1]) if "--rounds" in sys.argv else 15
    timed = cases()
    found: dict[str, list[float]] = {name: [] for name in timed}
    for _ in range(rounds):
        for name, function in timed.items():
            start = time.perf_counter()
            function()
            found[name].append(time.perf_counter() - start)
    print(f"{EVENTS} payloads, medians of {rounds} interleaved rounds")
    for name, seconds in found.items():
        print(f"{name:36s} {EVENTS / statistics.median(seconds) / 1e6:6.2f}M/s")


if __name__ == "__main__":
    main()
