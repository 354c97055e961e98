"""The contract as a backend author meets it: in their own project, with only pytest.

A subclass providing nothing but `open_backend` runs every test, and skips those that
need a capability it did not provide, naming it; without pytest-asyncio, importing the
contract says what to install.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

AUTHOR_TESTS = """
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from evtsrc.backends import Backend, InMemoryBackend
from evtsrc.testing.backend_contract import BackendContract


class TestPlainMemory(BackendContract):
    payloads_as_text = False

    @asynccontextmanager
    async def open_backend(self) -> AsyncIterator[Backend]:
        backend = InMemoryBackend()
        try:
            yield backend
        finally:
            await backend.close()
"""


def _python(*arguments: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, *arguments],
        cwd=cwd,
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_a_backend_without_optional_capabilities_skips_only_what_needs_them(
    tmp_path: Path,
) -> None:
    (tmp_path / "test_plain_memory.py").write_text(AUTHOR_TESTS)
    # A project of its own: pytest-asyncio in strict mode, warnings as errors.
    (tmp_path / "pytest.ini").write_text(
        "[pytest]\nasyncio_default_fixture_loop_scope = function\nfilterwarnings = error\n"
    )
    ran = _python(
        "-m", "pytest", "-q", "-rs", "-p", "no:randomly", "-p", "no:cacheprovider", cwd=tmp_path
    )
    assert ran.returncode == 0, ran.stdout + ran.stderr
    skipped = [line for line in ran.stdout.splitlines() if line.startswith("SKIPPED")]
    reasons = {line.rpartition(": ")[2] for line in skipped}
    assert reasons == {
        "TestPlainMemory does not provide commit_gate()",
        "TestPlainMemory does not provide overwrite_payload()",
    }
    assert "172 passed, 7 skipped" in ran.stdout


def test_without_pytest_asyncio_the_import_says_what_to_install(tmp_path: Path) -> None:
    ran = _python(
        "-c",
        "import sys; sys.modules['pytest_asyncio'] = None; import evtsrc.testing.backend_contract",
        cwd=tmp_path,
    )
    assert ran.returncode != 0
    assert "ImportError: evtsrc.testing.backend_contract runs in pytest with pytest-asyncio" in (
        ran.stderr
    )
    assert "pytest_asyncio cannot be imported: `pip install evtsrc[testing]`" in ran.stderr
