from __future__ import annotations

from collections.abc import Iterator

import pytest

from .scenario import FIGURES
from .servers import Servers


@pytest.fixture(scope="session")
def servers() -> Iterator[Servers]:
    """Private servers for fault tests, stopped at the end of the session."""
    owned = Servers()
    try:
        yield owned
    finally:
        owned.close()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if FIGURES:
        terminalreporter.section("fault test figures")
        for figures in FIGURES:
            terminalreporter.write_line(figures.line())
            for error in figures.errors[:5]:
                terminalreporter.write_line(f"    {error}")
