"""The installed evtsrc distribution's version."""

from __future__ import annotations

UNKNOWN_VERSION = "0+unknown"
"""The version reported when no evtsrc distribution is installed."""


def installed_version() -> str:
    """The version in the installed distribution's metadata; `UNKNOWN_VERSION` if none."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("evtsrc")
    except PackageNotFoundError:
        return UNKNOWN_VERSION
