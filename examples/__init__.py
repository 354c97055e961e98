"""Runnable examples: `python -m examples.blog`, `python -m examples.read_your_writes`,
`python -m examples.two_services` and the web service `python -m examples.fastapi_service`.
"""
