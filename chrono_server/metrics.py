"""Prometheus metrics: the conventional gRPC server families and the process.

A service adds families of its own to the same registry (the time service counts its
open watches).

The family and label names follow go-grpc-prometheus, so existing gRPC dashboards and
alerts work unchanged. Each server has its own registry (tests run several servers in
one process); with several worker processes, each worker writes to a shared
multiprocess directory and the supervisor serves the sum.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass

import prometheus_client
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Histogram,
    multiprocess,
)

# Re-exported: the endpoint that serves these families lives in chrono_server.scrape.
from chrono_server.scrape import MetricsEndpoint as MetricsEndpoint

logger = logging.getLogger(__name__)

# Calls here take well under a millisecond; watches last as long as their callers want.
_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5, 30, 300)
_LABELS = ("grpc_type", "grpc_service", "grpc_method")

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


class Metrics:
    """The metric families one server records into."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        """Create the families in ``registry`` (a new one with the process collectors if None)."""
        if registry is None:
            registry = CollectorRegistry()
            if MULTIPROC_ENV not in os.environ:
                # In multiprocess mode the supervisor serves, and these would describe it.
                prometheus_client.ProcessCollector(registry=registry)
                prometheus_client.PlatformCollector(registry=registry)
                prometheus_client.GCCollector(registry=registry)
        self.registry = registry
        self.started = Counter(
            "grpc_server_started_total",
            "RPCs started on the server.",
            _LABELS,
            registry=registry,
        )
        self.handled = Counter(
            "grpc_server_handled_total",
            "RPCs completed on the server, whatever their status.",
            (*_LABELS, "grpc_code"),
            registry=registry,
        )
        self.handling_seconds = Histogram(
            "grpc_server_handling_seconds",
            "Time from the start of an RPC to its status, in seconds.",
            _LABELS,
            buckets=_BUCKETS,
            registry=registry,
        )
        self.msg_received = Counter(
            "grpc_server_msg_received_total",
            "Request messages received by the server.",
            _LABELS,
            registry=registry,
        )
        self.msg_sent = Counter(
            "grpc_server_msg_sent_total",
            "Response messages sent by the server.",
            _LABELS,
            registry=registry,
        )

    def method(self, grpc_type: str, full_method: str) -> MethodMetrics:
        """The children of each family for one method, resolved once, not per call."""
        service, _, name = full_method.lstrip("/").rpartition("/")
        labels = (grpc_type, service, name)
        handled = self.handled
        codes: dict[str, Counter] = {}

        def handled_for(code: str) -> Counter:
            child = codes.get(code)
            if child is None:
                child = codes[code] = handled.labels(*labels, code)
            return child

        # Every method reports OK and its common failures from the first scrape on.
        for code in ("OK", "INVALID_ARGUMENT"):
            handled_for(code)
        return MethodMetrics(
            started=self.started.labels(*labels),
            handled=handled_for,
            seconds=self.handling_seconds.labels(*labels),
            received=self.msg_received.labels(*labels),
            sent=self.msg_sent.labels(*labels),
        )


@dataclass(frozen=True)
class MethodMetrics:
    """One method's metric children."""

    started: Counter
    handled: Callable[[str], Counter]
    seconds: Histogram
    received: Counter
    sent: Counter


def multiprocess_registry() -> CollectorRegistry:
    """A registry that sums what the worker processes wrote to the multiprocess folder."""
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    return registry


def mark_worker_dead(pid: int) -> None:
    """Drop a dead worker's live gauges (open watches) from the sums."""
    multiprocess.mark_process_dead(pid)  # type: ignore[no-untyped-call]
