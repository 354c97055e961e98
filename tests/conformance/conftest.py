"""The `backend` fixture, where tests/sql and tests/mongo import it from.

It opens the backend of a `target` fixture those folders parametrize. The
conformance suite itself opens its backends in `test_contract.py`.
"""

from tests.backends import backend as backend
