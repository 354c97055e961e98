"""Benchmarks of evtsrc against the `eventsourcing` library; run with `python -m bench.run`."""
