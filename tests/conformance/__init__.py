"""The conformance suite every backend passes unchanged."""
