"""The evtstore peer's Node side (bench/evtstore): node and npm, its packages, its command.

Each evtstore run is `node bench/evtstore/child.js BACKEND SCENARIO TARGET SIZES_JSON`,
a fresh process like `python -m bench.child`. Its packages are those pinned in
bench/evtstore/package-lock.json, installed with `npm ci` when node_modules is missing
or was installed from another package.json or lock file.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

FOLDER = Path(__file__).parent / "evtstore"
STAMP = FOLDER / "node_modules" / ".bench-installed"
"""Holds the digest of package.json and package-lock.json that node_modules came from."""
PACKAGES = ("evtstore", "knex", "better-sqlite3", "pg")
BACKENDS = ("memory", "sqlite", "postgres")
SCENARIOS = ("S1", "S2", "S3", "S4")


def _digest() -> str:
    files = (FOLDER / "package.json", FOLDER / "package-lock.json")
    return hashlib.sha256(b"".join(f.read_bytes() for f in files)).hexdigest()


def prepare() -> str | None:
    """Make node_modules current (`npm ci` if needed); why evtstore cannot run, or None."""
    missing = [tool for tool in ("node", "npm") if shutil.which(tool) is None]
    if missing:
        return f"{' and '.join(missing)} not found (Debian: apt-get install nodejs npm)"
    digest = _digest()
    if STAMP.is_file() and STAMP.read_text().strip() == digest:
        return None
    print("bench/evtstore: npm ci (node_modules missing or stale)", file=sys.stderr, flush=True)
    completed = subprocess.run(
        ["npm", "ci", "--no-audit", "--no-fund"],
        cwd=FOLDER,
        capture_output=True,
        text=True,
        check=False,
        env=_build_environment(),
    )
    if completed.returncode != 0:
        return f"npm ci failed in {FOLDER}:\n{(completed.stdout + completed.stderr)[-4000:]}"
    STAMP.write_text(digest + "\n")
    return None


def _build_environment() -> dict[str, str]:
    """The environment of `npm ci`: node-gyp is pointed at the installed Node's headers.

    better-sqlite3 is compiled from source (a prebuilt binary cannot be downloaded), and
    node-gyp would otherwise try to download the headers too.
    """
    environment = dict(os.environ)
    node = shutil.which("node")
    prefix = Path(node).resolve().parent.parent if node else None
    has_headers = prefix is not None and (prefix / "include" / "node" / "node.h").is_file()
    if has_headers and not environment.get("npm_config_nodedir"):
        environment["npm_config_nodedir"] = str(prefix)
    return environment


def command(backend: str, scenario: str) -> list[str]:
    """The command of one run, before its target and sizes."""
    return ["node", str(FOLDER / "child.js"), backend, scenario]


def versions() -> dict[str, str]:
    """Node's version and those of the installed evtstore, Knex, better-sqlite3 and pg."""
    found: dict[str, str] = {}
    try:
        node = subprocess.run(["node", "--version"], capture_output=True, text=True, check=True)
        found["node"] = node.stdout.strip().lstrip("v")
    except (OSError, subprocess.CalledProcessError):
        found["node"] = "not installed"
    for package in PACKAGES:
        manifest = FOLDER / "node_modules" / package / "package.json"
        try:
            found[f"{package} (npm)"] = str(json.loads(manifest.read_text())["version"])
        except (OSError, ValueError, KeyError):
            found[f"{package} (npm)"] = "not installed"
    return found
