"""``evtsrc.__version__`` is the installed distribution's version, read when first asked for.

The built wheel and sdist themselves, installed with each extra in fresh environments,
are checked by ``scripts/check_package.py`` (``nox -s package``).
"""

from __future__ import annotations

import importlib.metadata
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import evtsrc

ROOT = Path(__file__).resolve().parents[1]


def _python(code: str) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a fresh interpreter that imports evtsrc from this checkout."""
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_the_version_is_the_installed_distributions() -> None:
    assert evtsrc.__version__ == importlib.metadata.version("evtsrc")
    assert isinstance(evtsrc.__version__, str)


def test_the_version_is_public() -> None:
    assert "__version__" in evtsrc.__all__
    names: dict[str, object] = {}
    exec("from evtsrc import *", names)
    assert names["__version__"] == evtsrc.__version__


def test_the_version_is_read_when_first_asked_for_and_kept() -> None:
    done = _python(
        """
        import evtsrc
        print("__version__" in vars(evtsrc))
        version = evtsrc.__version__
        print("__version__" in vars(evtsrc), vars(evtsrc)["__version__"] == version)
        """
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["False", "True", "True"]


def test_a_checkout_that_is_not_installed_has_an_unknown_version() -> None:
    done = _python(
        """
        import importlib.metadata

        found = importlib.metadata.version

        def version(name):
            if name == "evtsrc":
                raise importlib.metadata.PackageNotFoundError(name)
            return found(name)

        importlib.metadata.version = version
        import evtsrc
        print(evtsrc.__version__)
        """
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "0+unknown"


def test_other_missing_names_still_raise_attribute_error() -> None:
    done = _python(
        """
        import evtsrc
        try:
            evtsrc.__versoin__
        except AttributeError as error:
            print(error)
        """
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "module 'evtsrc' has no attribute '__versoin__'"
