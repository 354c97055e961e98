"""What a run ran on: the machine, the software, and each server's durability settings."""

from __future__ import annotations

import asyncio
import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

from bench import evtstore_node

PG_SETTINGS = ("server_version", "fsync", "synchronous_commit", "full_page_writes", "wal_level")
MARIADB_SETTINGS = ("version", "innodb_flush_log_at_trx_commit", "sync_binlog", "log_bin")
PACKAGES = ("eventsourcing", "psycopg", "asyncpg", "sqlalchemy", "asyncmy", "pymongo", "neo4j")


def machine() -> dict[str, Any]:
    """CPU model, cores, RAM, kernel and Python."""
    cpu = "?"
    for line in _read("/proc/cpuinfo").splitlines():
        if line.startswith("model name"):
            cpu = line.partition(":")[2].strip()
            break
    ram = "?"
    for line in _read("/proc/meminfo").splitlines():
        if line.startswith("MemTotal:"):
            ram = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "ram": ram,
        "kernel": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
    }


def _read(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError:
        return ""


def software() -> dict[str, str]:
    """The evtsrc commit and the versions of the peer libraries, Node and the drivers."""
    found = {"evtsrc": _commit()}
    for package in PACKAGES:
        try:
            found[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            found[package] = "not installed"
    found.update(evtstore_node.versions())
    return found


def _commit() -> str:
    root = Path(__file__).parent.parent
    try:
        head = subprocess.run(
            ["git", "-C", str(root), "describe", "--always", "--dirty"],
            capture_output=True,
            text=True,
            check=True,
        )
    except (OSError, subprocess.CalledProcessError):
        return "unknown commit"
    return head.stdout.strip()


def server_settings(server: str, address: str) -> dict[str, Any]:
    """The settings that decide a server's durability, and its version."""
    if server == "postgres":
        return _postgres(address)
    if server == "mariadb":
        return asyncio.run(_mariadb(address))
    if server == "mongo":
        return _mongo(address)
    if server == "neo4j":
        return _neo4j(address)
    raise ValueError(f"unknown server {server!r}")


def _postgres(dsn: str) -> dict[str, Any]:
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as connection:
        found: dict[str, Any] = {}
        for setting in PG_SETTINGS:
            row = connection.execute(f"SHOW {setting}").fetchone()
            found[setting] = str(row[0]) if row else "?"
        return found


async def _mariadb(url: str) -> dict[str, Any]:
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(url)
    try:
        async with engine.connect() as connection:
            columns = ", ".join(f"@@{name}" for name in MARIADB_SETTINGS)
            row = (await connection.exec_driver_sql(f"SELECT {columns}")).one()
    finally:
        await engine.dispose()
    return {name: str(value) for name, value in zip(MARIADB_SETTINGS, row, strict=True)}


def _mongo(uri: str) -> dict[str, Any]:
    from pymongo import MongoClient

    client: MongoClient[dict[str, Any]] = MongoClient(uri)
    try:
        info = client.admin.command("buildInfo")
        hello = client.admin.command("hello")
    finally:
        client.close()
    found = {"version": info.get("version", "?"), "replica_set": hello.get("setName", "none")}
    if "secantusVersion" in info:  # SecantusDB, a MongoDB-wire server written in Python
        found["SecantusDB"] = info["secantusVersion"]
    return found


def _neo4j(uri: str) -> dict[str, Any]:
    from neo4j import GraphDatabase

    with GraphDatabase.driver(uri) as driver:  # pyright: ignore[reportUnknownMemberType]
        records, _, _ = driver.execute_query(
            "CALL dbms.components() YIELD name, versions, edition RETURN name, versions, edition"
        )
    return {r["name"]: f"{', '.join(r['versions'])} {r['edition']}" for r in records}


def format_settings(settings: dict[str, Any]) -> str:
    """The settings as a Markdown list."""
    m = settings["machine"]
    lines = [
        f"- command: `{settings['command']}` ({settings['reps']} repetition(s))",
        f"- machine: {m['cpu']}, {m['cores']} cores, {m['ram']} RAM, {m['kernel']}, "
        f"Python {m['python']}",
        "- software: " + ", ".join(f"{k} {v}" for k, v in settings["software"].items()),
    ]
    for server, found in settings["servers"].items():
        details = ", ".join(f"{k} {v}" for k, v in found.items() if k != "origin")
        lines.append(f"- {server} ({found['origin']}): {details}")
    for runner, found in settings.get("sqlite", {}).items():
        details = ", ".join(f"{k} {v}" for k, v in found.items())
        lines.append(f"- SQLite as {runner} runs it: {details}")
    sizes = ", ".join(f"{k}={v}" for k, v in settings["sizes"].items())
    lines.append(f"- sizes: {sizes}")
    return "\n".join(lines)
