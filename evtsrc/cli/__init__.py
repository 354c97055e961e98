"""The `evtsrc` command: see and steer an event store and its handlers.

Installed with the `cli` extra (Click and rich): `pip install 'evtsrc[cli]'`. Run
`evtsrc --help`, or `python -m evtsrc.cli --help`.
"""

from __future__ import annotations

import logging
import sys


def main(argv: list[str] | None = None) -> int:
    """Run the command with `argv` (the process's arguments by default); its exit status."""
    try:
        from ._commands import evtsrc
    except ModuleNotFoundError as error:
        if error.name not in ("click", "rich"):
            raise
        print(f"evtsrc: the command needs {error.name}: pip install 'evtsrc[cli]'", file=sys.stderr)
        return 1
    # The driver logs what it then raises (and notices on properties not yet stored):
    # the command reports the error itself, in one line.
    logging.getLogger("neo4j").setLevel(logging.CRITICAL)
    try:
        evtsrc.main(args=argv, prog_name="evtsrc")
    except SystemExit as exit:  # Click ends every run with one
        code = exit.code
        return code if isinstance(code, int) else 0 if code is None else 1
