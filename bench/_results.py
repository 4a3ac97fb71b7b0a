"""What the runner measures, as plain records the report is written from."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from bench._servers import Config

LATENESS_LIMIT_MS = 100.0
CLIENT = "client.TimeClient(target).get_time()"
RAW = "raw stub GetTime()"


@dataclass
class Measurement:
    """One throughput configuration in one round."""

    config: Config
    round: int
    error: str | None = None
    rps: float = math.nan
    failed: int = 0
    p50_ms: float = math.nan
    p99_ms: float = math.nan
    cpu_us_per_call: float = math.nan
    server_cores: float = math.nan
    loadgen_cores: float = math.nan
    # Busy cores on the machine beyond the server and the load generator: anything
    # else running (another user's tests) shows here and makes the round suspect.
    other_cores: float = math.nan
    peak_rss_mib: float = math.nan
    startup_s: float = math.nan
    processes: int = 0
    listeners: int = 0
    c1_rps: float = math.nan
    c1_p50_ms: float = math.nan
    c1_p99_ms: float = math.nan
    check_ok: bool = False
    check: str = ""
    notes: list[str] = field(default_factory=list)


@dataclass
class WatchLevel:
    """One run of the watch client against a fresh chrono process."""

    streams: int
    ramp: float
    engine: str = "grpcio"
    result: dict[str, Any] = field(default_factory=dict)
    server_cores: float = math.nan
    server_rss_mib: float = math.nan
    error: str | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def holds(self) -> bool:
        """All streams open, every tick received, p99 lateness under the limit."""
        r = self.result
        return bool(
            self.error is None
            and r.get("opened") == self.streams
            and not r.get("errors")
            and r.get("ticks_received") == r.get("ticks_expected")
            and r.get("lateness_p99_ms", math.inf) < LATENESS_LIMIT_MS
        )


@dataclass
class ClientOverhead:
    """Sequential calls per second through the client library and the raw stub, per round."""

    rates: dict[str, list[float]] = field(default_factory=dict)
    error: str | None = None


@dataclass
class Profile:
    """Where chrono's time goes under h2load, by function, from py-spy samples."""

    command: str = ""
    seconds: float = 0.0
    samples: int = 0
    waiting: int = 0
    own: list[tuple[str, int]] = field(default_factory=list)
    python: list[tuple[str, int]] = field(default_factory=list)
    rps: float = math.nan
    raw_file: str = ""
    error: str | None = None
