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
            "_bad_input",
            "_base",
            "_buckets",
            "_commands",
            "_evolution",
            "_fencing",
            "_groups",
            "_handlers",
            "_holders",
            "_leases",
            "_listing",
            "_metadata",
            "_ordering",
            "_parking",
            "_processed",
            "_read_your_writes",
            "_snapshots",
            "_storage",
            "_undecodable",
            "_waiting",
        )
    )
)

from ..commit_gates import CommitGate  # noqa: E402
from ._bad_input import BadInputContract  # noqa: E402
from ._base import ContractBase  # noqa: E402
from ._buckets import BucketContract  # noqa: E402
from ._commands import CommandContract  # noqa: E402
from ._evolution import EvolutionContract  # noqa: E402
from ._fencing import FencingContract  # noqa: E402
from ._groups import GroupMembersContract  # noqa: E402
from ._handlers import HandlerContract  # noqa: E402
from ._holders import LeaseHolderContract  # noqa: E402
from ._leases import LeaseContract  # noqa: E402
from ._listing import ListingContract  # noqa: E402
from ._metadata import MetadataContract  # noqa: E402
from ._ordering import OrderingContract  # noqa: E402
from ._parking import ParkingContract  # noqa: E402
from ._payloads import BAD_ESCAPE, DEEP, NOT_JSON, UNDECODABLE, as_value  # noqa: E402
from ._processed import ProcessedMessagesContract  # noqa: E402
from ._read_your_writes import ReadYourWritesContract  # noqa: E402
from ._snapshots import SnapshotContract  # noqa: E402
from ._storage import StorageContract  # noqa: E402
from ._undecodable import UndecodablePayloadContract  # noqa: E402


class BackendContract(
    StorageContract,
    MetadataContract,
    EvolutionContract,
    CommandContract,
    HandlerContract,
    LeaseContract,
    LeaseHolderContract,
    FencingContract,
    ParkingContract,
    GroupMembersContract,
    BucketContract,
    ListingContract,
    ProcessedMessagesContract,
    OrderingContract,
    ReadYourWritesContract,
    SnapshotContract,
    BadInputContract,
    UndecodablePayloadContract,
):
    """Every contract test. Subclass it as `Test<YourBackend>` and implement `open_backend`."""


__all__ = [
    "BAD_ESCAPE",
    "DEEP",
    "NOT_JSON",
    "UNDECODABLE",
    "BackendContract",
    "BadInputContract",
    "BucketContract",
    "CommandContract",
    "CommitGate",
    "EvolutionContract",
    "ContractBase",
    "FencingContract",
    "GroupMembersContract",
    "HandlerContract",
    "LeaseContract",
    "LeaseHolderContract",
    "ListingContract",
    "MetadataContract",
    "OrderingContract",
    "ParkingContract",
    "ProcessedMessagesContract",
    "ReadYourWritesContract",
    "SnapshotContract",
    "StorageContract",
    "UndecodablePayloadContract",
    "as_value",
]
