"""Summaries of the measured runs: medians with min-max, peak RSS, ratios against targets."""

from __future__ import annotations

import statistics
from typing import Any

from bench import targets
from bench.common import UNITS
from bench.plan import EVTSRC, GROWTH, PEERS
from bench.targets import compared, mark, peer_backend, ratio_minimum

Run = dict[str, Any]  # one child's result plus library, backend, scenario, rep
Row = dict[str, Any]
RATE_SCENARIOS = ("S1", "S2", "S3", "S4")
RAW = ("raw-asyncpg", "raw-asyncpg-read")


def summarise(runs: list[Run]) -> list[Row]:
    """One row per (scenario, backend, library): medians over repetitions, peak RSS."""
    groups: dict[tuple[str, str, str], list[Run]] = {}
    for run in runs:
        groups.setdefault((run["scenario"], run["backend"], run["library"]), []).append(run)
    rows: list[Row] = []
    for (scenario, backend, library), group in sorted(groups.items()):
        rates = [r["rate"] for r in group]
        row: Row = {
            "scenario": scenario,
            "backend": backend,
            "library": library,
            "unit": UNITS[scenario],
            "median": statistics.median(rates),
            "min": min(rates),
            "max": max(rates),
            "rss_mb": max(r["rss_mb"] for r in group),
            "reps": len(group),
        }
        extras = [r.get("extra", {}) for r in group]
        if scenario == "S5":
            for key in ("p50_ms", "p99_ms"):
                row[key] = statistics.median(e[key] for e in extras)
            row["max_ms"] = max(e["max_ms"] for e in extras)
            row["early"] = sum(e["before_execute_returned"] for e in extras)
        if scenario == "S6":
            for key in extras[0]["rates"]:
                row[f"rate_{key}"] = statistics.median(e["rates"][key] for e in extras)
        if scenario == "S2snap":
            row["load_s"] = _median_by_size(extras, "load_s")
            row["seed_s"] = _median_by_size(extras, "seed_s")
        if scenario in GROWTH:
            row["us_per_event"] = _median_by_size(extras, "us_per_event")
            row["seed_s"] = _median_by_size(extras, "seed_s")
        rows.append(row)
    return rows


def _median_by_size(extras: list[dict[str, Any]], key: str) -> dict[str, float]:
    """The median over repetitions of a figure given per size."""
    return {size: statistics.median(e[key][size] for e in extras) for size in extras[0][key]}


def _index(rows: list[Row]) -> dict[tuple[str, str, str], Row]:
    return {(r["scenario"], r["backend"], r["library"]): r for r in rows}


def _rss(ours: Row, by_key: dict[tuple[str, str, str], Row]) -> tuple[float | None, bool | None]:
    """Our peak RSS minus the lower of the peers' (RSS_PEERS) in the same scenario.

    And whether that is within the allowance, judged on the same database only.
    """
    other = peer_backend(ours["backend"])
    theirs = [
        by_key[key]["rss_mb"]
        for library in targets.RSS_PEERS
        if (key := (ours["scenario"], other, library)) in by_key
    ]
    if not theirs:
        return None, None
    delta = ours["rss_mb"] - min(theirs)
    same_database = ours["backend"] in targets.SAME_DATABASE
    return delta, (delta <= targets.RSS_ALLOWANCE_MB) if same_database else None


def ratios(rows: list[Row]) -> list[Row]:
    """Evtsrc / peer median rate per scenario and backend, with the issue's target."""
    by_key = _index(rows)
    found: list[Row] = []
    for r in rows:
        if r["library"] not in EVTSRC or r["scenario"] not in RATE_SCENARIOS:
            continue
        backend, other = r["backend"], peer_backend(r["backend"])
        for library in PEERS:
            theirs = by_key.get((r["scenario"], other, library))
            if theirs is None or (library in RAW and backend not in targets.POSTGRES):
                continue
            if not compared(r["library"], library):
                continue
            ratio = r["median"] / theirs["median"]
            minimum = ratio_minimum(r["scenario"], r["library"], backend, library)
            delta, rss_ok = _rss(r, by_key)
            label = f"{library} {other}"
            if backend not in targets.SAME_DATABASE:
                label = f"{label} (other database)"
            found.append(
                {
                    "scenario": r["scenario"],
                    "backend": backend,
                    "library": r["library"],
                    "versus": label,
                    "ratio": ratio,
                    "target": minimum,
                    "ok": None if minimum is None else ratio >= minimum,
                    "rss_delta_mb": delta,
                    "rss_ok": rss_ok,
                }
            )
    return found


def concurrency(rows: list[Row]) -> list[Row]:
    """S4 over S1 for each library and backend: concurrent writers against one writer."""
    by_key = _index(rows)
    found: list[Row] = []
    for r in rows:
        one = by_key.get(("S1", r["backend"], r["library"]))
        if r["scenario"] != "S4" or one is None:
            continue
        applies = r["library"] == "evtsrc" and r["backend"] in targets.S4_OVER_S1_BACKENDS
        ratio = r["median"] / one["median"]
        found.append(
            {
                "backend": r["backend"],
                "library": r["library"],
                "s4": r["median"],
                "s1": one["median"],
                "ratio": ratio,
                "ok": (ratio >= targets.S4_OVER_S1_MINIMUM) if applies else None,
            }
        )
    return found


def snapshots(rows: list[Row]) -> list[Row]:
    """S2snap: load time per size, and the largest over the smallest."""
    by_key = _index(rows)
    found: list[Row] = []
    for r in rows:
        if r["scenario"] != "S2snap":
            continue
        sizes = sorted(r["load_s"], key=int)
        ratio = r["load_s"][sizes[-1]] / r["load_s"][sizes[0]]
        delta, rss_ok = _rss(r, by_key)
        evtsrc = r["library"] == "evtsrc"
        found.append(
            {
                **r,
                "sizes": sizes,
                "ratio": ratio,
                "ok": (ratio <= targets.SNAPSHOT_LOAD_MAXIMUM) if evtsrc else None,
                "rss_delta_mb": delta if evtsrc else None,
                "rss_ok": rss_ok if evtsrc else None,
            }
        )
    return found


def growths(rows: list[Row]) -> list[Row]:
    """S2grow, S3grow: µs per event at each size, the largest size's over the smallest's.

    For evtsrc also eventsourcing's µs per event over evtsrc's at each size both ran.
    """
    by_key = _index(rows)
    found: list[Row] = []
    for r in rows:
        if r["scenario"] not in GROWTH:
            continue
        per_event = r["us_per_event"]
        sizes = sorted(per_event, key=int)
        ratio = per_event[sizes[-1]] / per_event[sizes[0]]
        evtsrc = r["library"] == "evtsrc"
        theirs = by_key.get((r["scenario"], peer_backend(r["backend"]), "eventsourcing"))
        peer = theirs["us_per_event"] if evtsrc and theirs else {}
        faster = {s: peer[s] / per_event[s] for s in sizes if s in peer}
        found.append(
            {
                **r,
                "sizes": sizes,
                "ratio": ratio,
                "ok": (ratio <= targets.GROWTH_PER_EVENT_MAXIMUM) if evtsrc else None,
                "faster": faster,
            }
        )
    return found


def push(rows: list[Row]) -> list[Row]:
    """S5: latency from commit to the handler, p50 and p99."""
    found: list[Row] = []
    for r in rows:
        if r["scenario"] != "S5":
            continue
        applies = r["library"] == "evtsrc" and r["backend"] in targets.PUSH_P99_BACKENDS
        found.append({**r, "ok": (r["p99_ms"] <= targets.PUSH_P99_MAXIMUM_MS) if applies else None})
    return found


def groups(rows: list[Row]) -> list[Row]:
    """S6: an I/O-bound catch-up in handler groups, against one worker and one runner."""
    found: list[Row] = []
    for r in rows:
        if r["scenario"] != "S6":
            continue
        workers = r["rate_workers-4"] / r["rate_workers-1"]
        concurrent = r["rate_concurrent"] / r["rate_alone"]
        on_postgres = r["backend"] in targets.POSTGRES
        found.append(
            {
                **r,
                "workers_ratio": workers,
                "workers_ok": workers >= targets.GROUP_WORKERS_MINIMUM if on_postgres else None,
                "concurrent_ratio": concurrent,
                "concurrent_ok": concurrent >= targets.GROUP_CONCURRENCY_MINIMUM,
            }
        )
    return found


def _group_line(r: Row) -> str:
    rates = " | ".join(
        _rate(r[f"rate_{key}"])
        for key in ("alone", "concurrent", "workers-1", "workers-2", "workers-4")
    )
    workers_target = f">= {targets.GROUP_WORKERS_MINIMUM:g}x" if r["workers_ok"] is not None else ""
    return (
        f"| {r['backend']} | {rates} | {r['workers_ratio']:.2f}x | {workers_target} | "
        f"{mark(r['workers_ok'])} | {r['concurrent_ratio']:.2f}x | "
        f">= {targets.GROUP_CONCURRENCY_MINIMUM:g}x | {mark(r['concurrent_ok'])} |"
    )


def _rate(value: float) -> str:
    return f"{value / 1000:.1f}k" if value >= 10_000 else f"{value:.0f}"


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.3g}"


def _at_least(value: float | None) -> str:
    return "" if value is None else f">= {value:g}x"


def _delta(value: float | None) -> str:
    return "" if value is None else f"{value:+.0f}"


def _table(header: str, align: str, body: list[str]) -> list[str]:
    """A Markdown table after a blank line, nothing without rows; `align` is l or r a column."""
    if not body:
        return []
    rule = "".join("| ---: " if a == "r" else "| --- " for a in align) + "|"
    return ["", header, rule, *body]


def format_tables(rows: list[Row]) -> str:
    """The results, the ratios with their targets, S4/S1, S2snap, growth, S5, S6, as Markdown."""
    lines = _table(
        "| scenario | backend | library | median | min-max | unit | peak RSS MB |",
        "lllrrlr",
        [
            f"| {r['scenario']} | {r['backend']} | {r['library']} | {_rate(r['median'])} | "
            f"{_rate(r['min'])}-{_rate(r['max'])} | {r['unit']} | {r['rss_mb']:.0f} |"
            for r in rows
            if r["scenario"] in RATE_SCENARIOS
        ],
    )
    lines += _table(
        "| scenario | evtsrc backend | compared with | evtsrc / peer | target | ok "
        "| RSS evtsrc - lower peer MB | RSS ok |",
        "lllrrlrl",
        [
            f"| {r['scenario']} | {_evtsrc(r)} | {r['versus']} | {r['ratio']:.2f}x | "
            f"{_at_least(r['target'])} | {mark(r['ok'])} | "
            f"{_delta(r['rss_delta_mb'])} | {mark(r['rss_ok'])} |"
            for r in ratios(rows)
        ],
    )
    s4_target = f">= {targets.S4_OVER_S1_MINIMUM:g}x"
    lines += _table(
        "| S4 / S1 backend | library | S4 commands/s | S1 commands/s | S4 / S1 | target | ok |",
        "llrrrrl",
        [
            f"| {r['backend']} | {r['library']} | {_rate(r['s4'])} | {_rate(r['s1'])} | "
            f"{r['ratio']:.2f}x | {'' if r['ok'] is None else s4_target} | {mark(r['ok'])} |"
            for r in concurrency(rows)
        ],
    )
    lines += _table(
        "| S2snap backend | library | ms per load at N events | largest / smallest | target | ok "
        "| seeding s | peak RSS MB | RSS - lower peer MB | RSS ok |",
        "lllrrlrrrl",
        [_snapshot_line(r) for r in snapshots(rows)],
    )
    lines += _table(
        "| growth | backend | library | µs per event at N events | largest / smallest | target "
        "| ok | eventsourcing / evtsrc at N | seeding s | peak RSS MB |",
        "llllrrllrr",
        [_growth_line(r) for r in growths(rows)],
    )
    lines += _table(
        "| S5 backend | library | p50 ms | p99 ms | max ms | delivered before execute returned "
        "| target p99 | ok | peak RSS MB |",
        "llrrrrrlr",
        [_push_line(r) for r in push(rows)],
    )
    lines += _table(
        "| S6 backend | alone | 1 process, buckets at once | 1 worker | 2 workers | 4 workers "
        "| 4 / 1 workers | target | ok | at once / alone | target | ok |",
        "lrrrrrrrlrrl",
        [_group_line(r) for r in groups(rows)],
    )
    return "\n".join(lines).lstrip("\n")


def _snapshot_line(r: Row) -> str:
    loads = ", ".join(f"{int(s):,}: {_ms(r['load_s'][s])}" for s in r["sizes"])
    seeding = ", ".join(f"{r['seed_s'][s]:.1f}" for s in r["sizes"])
    target = f"<= {targets.SNAPSHOT_LOAD_MAXIMUM:g}x" if r["ok"] is not None else ""
    return (
        f"| {r['backend']} | {r['library']} | {loads} | {r['ratio']:.2f}x | {target} | "
        f"{mark(r['ok'])} | {seeding} | {r['rss_mb']:.0f} | {_delta(r['rss_delta_mb'])} | "
        f"{mark(r['rss_ok'])} |"
    )


def _evtsrc(r: Row) -> str:
    """The evtsrc side of a ratio: the backend, and the variant if it is not the default."""
    return r["backend"] if r["library"] == "evtsrc" else f"{r['backend']} ({r['library']})"


def _growth_line(r: Row) -> str:
    per_event = ", ".join(f"{int(s):,}: {r['us_per_event'][s]:.3g}" for s in r["sizes"])
    faster = ", ".join(f"{int(s):,}: {x:.1f}x" for s, x in r["faster"].items())
    seeding = ", ".join(f"{r['seed_s'][s]:.1f}" for s in r["sizes"])
    target = f"<= {targets.GROWTH_PER_EVENT_MAXIMUM:g}x" if r["ok"] is not None else ""
    return (
        f"| {r['scenario']} | {r['backend']} | {r['library']} | {per_event} | {r['ratio']:.2f}x "
        f"| {target} | {mark(r['ok'])} | {faster} | {seeding} | {r['rss_mb']:.0f} |"
    )


def _push_line(r: Row) -> str:
    target = f"<= {targets.PUSH_P99_MAXIMUM_MS:g} ms" if r["ok"] is not None else ""
    return (
        f"| {r['backend']} | {r['library']} | {r['p50_ms']:.2f} | {r['p99_ms']:.2f} | "
        f"{r['max_ms']:.2f} | {r['early']} | {target} | {mark(r['ok'])} | {r['rss_mb']:.0f} |"
    )
