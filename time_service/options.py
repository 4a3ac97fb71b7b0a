"""The flags only the time service has."""

from __future__ import annotations

from dataclasses import dataclass

from chrono_server.config import whole
from chrono_server.spec import option


@dataclass(frozen=True)
class TimeOptions:
    """The time service's own settings, beside the shared server's."""

    max_watches: int = option(
        10_000,
        whole("max watches", 0, 1_000_000),
        "N",
        "open WatchTime streams per process; more get RESOURCE_EXHAUSTED",
    )
