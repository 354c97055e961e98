"""OpenTelemetry spans and metrics of commands, appends and handler batches (opt-in).

```python
import evtsrc.telemetry

evtsrc.telemetry.enable()  # after the OpenTelemetry SDK's providers are set
```

Needs the OpenTelemetry API (`pip install 'evtsrc[otel]'`); evtsrc does not import it
until `enable()` is called. What is recorded, under which names, and what it costs:
the documentation's "Telemetry" page.
"""

from __future__ import annotations

from ._telemetry import disable, enable, enabled

__all__ = ["disable", "enable", "enabled"]
