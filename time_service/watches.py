"""The per-process limit on open WatchTime streams, and its gauge."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Gauge

from chrono_domain.errors import ResourceExhaustedError


class WatchLimit:
    """Counts the process's open watches and refuses one beyond the limit."""

    def __init__(self, limit: int, registry: CollectorRegistry | None = None) -> None:
        """Allow ``limit`` open watches; count them in ``registry`` as well if given."""
        self.limit = limit
        self.open = 0
        self._gauge: Gauge | None = None
        if registry is not None:
            self._gauge = Gauge(
                "chrono_open_watches",
                "WatchTime streams open now.",
                registry=registry,
                multiprocess_mode="livesum",
            )

    def acquire(self) -> None:
        """Count one more open watch; raise ResourceExhaustedError at the limit."""
        if self.open >= self.limit:
            raise ResourceExhaustedError(
                "watches per server process",
                f"this server already has {self.open} open watches, its limit "
                f"(--max-watches {self.limit}); retry later, or on another replica",
                "TOO_MANY_WATCHES",
            )
        self.open += 1
        if self._gauge is not None:
            self._gauge.inc()

    def release(self) -> None:
        """Count one watch fewer."""
        self.open -= 1
        if self._gauge is not None:
            self._gauge.dec()
