"""The backend conformance suite, for pytest: every rule a `Backend` must keep.

Subclass `BackendContract` in a test module, under a name pytest collects (`Test...`),
and implement `open_backend()`; each test of the contract then runs on that backend.
Override `commit_gate()` and `overwrite_payload()` too, or the tests that need them
are skipped; `payloads_as_text` and `refused_payloads` say how the database keeps
payloads. Needs pytest and pytest-asyncio (`pip install evtsrc[testing]`).
"""

from __future__ import annotations

from importlib.util import find_spec

_MISSING = [name for name in ("pytest", "pytest_asyncio") if find_spec(name) is None]
if _MISSING:
    raise ImportError(
        f"evtsrc.testing.backend_contract runs in pytest with pytest-asyncio, and "
        f"{' and '.join(_MISSING)} cannot be imported: `pip install evtsrc[testing]`"
    )

import pytest  # noqa: E402

pytest.register_assert_rewrite(
    *(
        f"{__name__}.{module}"
        for module in (
            "bad_input",
            "base",
            "commands",
            "handlers",
            "leases",
            "ordering",
            "snapshots",
            "storage",
            "undecodable",
            "waiting",
        )
    )
)

from ..commit_gates import CommitGate  # noqa: E402
from .bad_input import BadInputContract  # noqa: E402
from .base import ContractBase  # noqa: E402
from .commands import CommandContract  # noqa: E402
from .handlers import HandlerContract  # noqa: E402
from .leases import LeaseContract  # noqa: E402
from .ordering import OrderingContract  # noqa: E402
from .snapshots import SnapshotContract  # noqa: E402
from .storage import StorageContract  # noqa: E402
from .undecodable import UndecodablePayloadContract  # noqa: E402


class BackendContract(
    StorageContract,
    CommandContract,
    HandlerContract,
    LeaseContract,
    OrderingContract,
    SnapshotContract,
    BadInputContract,
    UndecodablePayloadContract,
):
    """Every contract test. Subclass it as `Test<YourBackend>` and implement `open_backend`."""


__all__ = [
    "BackendContract",
    "BadInputContract",
    "CommandContract",
    "CommitGate",
    "ContractBase",
    "HandlerContract",
    "LeaseContract",
    "OrderingContract",
    "SnapshotContract",
    "StorageContract",
    "UndecodablePayloadContract",
]
