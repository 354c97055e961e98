"""Runnable examples: `python -m examples.blog`, `python -m examples.read_your_writes`."""
