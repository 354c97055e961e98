"""Tests of the `evtsrc` command, run as a subprocess against real stores."""
