"""The conformance suite's domain, for the tests outside it: it ships with the contract."""

from evtsrc import Event as Event
from evtsrc.testing.backend_contract._model import Address as Address
from evtsrc.testing.backend_contract._model import Colour as Colour
from evtsrc.testing.backend_contract._model import Counter as Counter
from evtsrc.testing.backend_contract._model import Ledger as Ledger
from evtsrc.testing.backend_contract._model import Multi as Multi
from evtsrc.testing.backend_contract._model import One as One
from evtsrc.testing.backend_contract._model import OnlyCounters as OnlyCounters
from evtsrc.testing.backend_contract._model import Rich as Rich
from evtsrc.testing.backend_contract._model import Seen as Seen
from evtsrc.testing.backend_contract._model import SnapshotCounter as SnapshotCounter
from evtsrc.testing.backend_contract._model import Three as Three
from evtsrc.testing.backend_contract._model import Two as Two
from evtsrc.testing.backend_contract._model import VersionSeen as VersionSeen
