"""Pieces the backends share; not public API."""
