"""`python -m evtsrc.cli`: the `evtsrc` command."""

from . import main

raise SystemExit(main())
