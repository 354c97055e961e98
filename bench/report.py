"""Summaries of the measured runs: medians with min-max, peak RSS, ratios."""

from __future__ import annotations

import statistics
from typing import Any

from bench.common import UNITS

Run = dict[str, Any]  # one child's result plus library, backend, scenario, rep


def summarise(runs: list[Run]) -> list[dict[str, Any]]:
    """One row per (scenario, backend, library): median, min, max rate and peak RSS."""
    groups: dict[tuple[str, str, str], list[Run]] = {}
    for run in runs:
        groups.setdefault((run["scenario"], run["backend"], run["library"]), []).append(run)
    rows = []
    for (scenario, backend, library), group in sorted(groups.items()):
        rates = [r["rate"] for r in group]
        rows.append(
            {
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
        )
    return rows


def ratios(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Evtsrc / eventsourcing median rate and RSS difference per scenario and backend."""
    by_key = {(r["scenario"], r["backend"], r["library"]): r for r in rows}
    found = []
    for (scenario, backend, library), ours in sorted(by_key.items()):
        theirs = by_key.get((scenario, backend, "eventsourcing"))
        if library != "evtsrc" or theirs is None:
            continue
        found.append(
            {
                "scenario": scenario,
                "backend": backend,
                "ratio": ours["median"] / theirs["median"],
                "rss_delta_mb": ours["rss_mb"] - theirs["rss_mb"],
            }
        )
    return found


def _rate(value: float) -> str:
    return f"{value / 1000:.1f}k" if value >= 10_000 else f"{value:.0f}"


def format_tables(rows: list[dict[str, Any]], ratio_rows: list[dict[str, Any]]) -> str:
    """The results and the ratio table as Markdown."""
    lines = [
        "| scenario | backend | library | median | min-max | unit | peak RSS MB |",
        "| --- | --- | --- | ---: | ---: | --- | ---: |",
    ]
    for r in rows:
        lines.append(
            f"| {r['scenario']} | {r['backend']} | {r['library']} | {_rate(r['median'])} | "
            f"{_rate(r['min'])}-{_rate(r['max'])} | {r['unit']} | {r['rss_mb']:.0f} |"
        )
    lines += [
        "",
        "| scenario | backend | evtsrc / eventsourcing | RSS evtsrc - eventsourcing MB |",
        "| --- | --- | ---: | ---: |",
    ]
    for r in ratio_rows:
        lines.append(
            f"| {r['scenario']} | {r['backend']} | {r['ratio']:.2f}x | {r['rss_delta_mb']:+.0f} |"
        )
    return "\n".join(lines)
