"""Two services that talk through a broker: orders publishes, billing receives.

Run it with `python -m examples.two_services [BROKER]`; see `__main__`.
"""
