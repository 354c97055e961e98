"""`__version__` is read when first asked for, yet the checkers still know every name.

Names evtsrc does not have are rejected (the lazy lookup is hidden from the checkers),
and `__version__` is a str, not Any.
"""

from __future__ import annotations

import evtsrc
from evtsrc import __versoin__ as __versoin__  # expect-error: attr-defined AttributeAccessIssue


def names() -> None:
    print(evtsrc.Agregate)  # expect-error: attr-defined AttributeAccessIssue
    print(evtsrc.__version__.major)  # expect-error: attr-defined AttributeAccessIssue
