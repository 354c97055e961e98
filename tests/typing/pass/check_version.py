"""`evtsrc.__version__` is a str to both checkers, however it is imported."""

from __future__ import annotations

from typing import assert_type

import evtsrc
from evtsrc import __version__


def release(version: str) -> tuple[str, ...]:
    return tuple(version.split("."))


async def main() -> None:
    assert_type(evtsrc.__version__, str)
    assert_type(__version__, str)
    assert_type(release(evtsrc.__version__), tuple[str, ...])
    assert __version__ == evtsrc.__version__
