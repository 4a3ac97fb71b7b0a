"""The load generators: h2load for gRPC (HTTP/2), wrk for HTTP/1.1, and what they report.

Each run is one subprocess, bounded by its own duration and a timeout on top, and
returns requests per second, failures, latency percentiles and the CPU the load
generator itself used (on a 2-core machine it competes with the server).
"""

from __future__ import annotations

import logging
import math
import re
import resource
import struct
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from chrono.time.v1 import time_service_pb2 as pb

logger = logging.getLogger(__name__)

GET_TIME_PATH = "/chrono.time.v1.TimeService/GetTime"
GRPC_HEADERS = ("content-type: application/grpc", "te: trailers")
ZONE = "Europe/Paris"
# On top of a run's own duration: connection set-up, the final requests, exit.
SLACK_SECONDS = 30.0


class LoadError(RuntimeError):
    """The load generator failed or printed something this module cannot read."""


@dataclass(frozen=True)
class LoadResult:
    """What one load run measured."""

    requests_per_second: float
    succeeded: int
    failed: int
    p50_ms: float
    p99_ms: float
    loadgen_cpu_seconds: float
    seconds: float


def grpc_frame(message: bytes) -> bytes:
    """A gRPC length-prefixed message: uncompressed flag, 4-byte big-endian length, body."""
    return struct.pack(">BI", 0, len(message)) + message


def write_get_time_body(path: Path, time_zone: str = ZONE) -> Path:
    """Write the request body h2load sends for GetTime(time_zone) and return its path."""
    request = pb.GetTimeRequest(time_zone=time_zone)
    path.write_bytes(grpc_frame(request.SerializeToString()))
    return path


def percentile(ordered: Sequence[float], fraction: float) -> float:
    """The nearest-rank percentile of an ascending sequence (``fraction`` 0.99 for p99)."""
    if not ordered:
        return math.nan
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _run(argv: list[str], duration: float) -> tuple[str, float]:
    """Run a load generator to its end; its output and the CPU seconds it used."""
    # RUSAGE_CHILDREN counts children once they are waited for: the servers are still
    # running, so the difference is the load generator's alone.
    before = _children_cpu()
    try:
        done = subprocess.run(
            argv,
            capture_output=True,
            text=True,
            timeout=duration + SLACK_SECONDS,
            check=False,
        )
    except subprocess.TimeoutExpired as error:
        raise LoadError(
            f"{argv[0]} did not finish within {duration + SLACK_SECONDS:.0f} s"
        ) from error
    if done.returncode != 0:
        raise LoadError(
            f"{argv[0]} exited {done.returncode}: {(done.stderr or done.stdout)[-500:]}"
        )
    return done.stdout, _children_cpu() - before


def _duration_ms(seconds: float) -> str:
    return f"{max(1, round(seconds * 1000))}ms"


def h2load(
    url: str,
    body: Path,
    *,
    connections: int,
    streams: int,
    duration: float,
    log_file: Path | None = None,
) -> LoadResult:
    """Drive a gRPC unary method with h2load for ``duration`` seconds.

    With ``log_file``, latency percentiles come from h2load's per-request log (h2load
    itself prints only min/max/mean/sd); without it they are NaN. h2load counts an
    HTTP 200 as a success even when grpc-status is not 0: check the status separately.
    """
    argv = ["h2load", "-c", str(connections), "-m", str(streams), "-D", _duration_ms(duration)]
    argv += ["-d", str(body)]
    for header in GRPC_HEADERS:
        argv += ["-H", header]
    if log_file is not None:
        argv.append(f"--log-file={log_file}")
    argv.append(url)
    output, cpu = _run(argv, duration)
    finished = re.search(r"finished in ([\d.]+)(ms|s), ([\d.]+) req/s", output)
    counts = re.search(
        r"requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, "
        r"(\d+) errored, (\d+) timeout",
        output,
    )
    if finished is None or counts is None:
        raise LoadError(f"cannot read h2load's output: {output[-500:]}")
    seconds = float(finished.group(1)) / (1000 if finished.group(2) == "ms" else 1)
    p50 = p99 = math.nan
    if log_file is not None:
        times = sorted(_request_times_ms(log_file))
        p50, p99 = percentile(times, 0.50), percentile(times, 0.99)
    return LoadResult(
        requests_per_second=float(finished.group(3)),
        succeeded=int(counts.group(4)),
        failed=int(counts.group(5)) + int(counts.group(6)) + int(counts.group(7)),
        p50_ms=p50,
        p99_ms=p99,
        loadgen_cpu_seconds=cpu,
        seconds=seconds,
    )


def _request_times_ms(log_file: Path) -> list[float]:
    # Columns: start (µs since epoch), HTTP status, µs until the end of the response.
    times: list[float] = []
    with log_file.open() as lines:
        for line in lines:
            fields = line.split("\t")
            if len(fields) >= 3 and fields[1] == "200":
                times.append(int(fields[2]) / 1000)
    return times


_WRK_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}


def _wrk_ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    if match is None:
        raise LoadError(f"cannot read wrk's latency {text!r}")
    return float(match.group(1)) * _WRK_UNITS[match.group(2)]


def wrk(url: str, *, connections: int, threads: int, duration: float) -> LoadResult:
    """Drive an HTTP/1.1 GET with wrk for ``duration`` seconds (whole seconds, at least 1)."""
    seconds = max(1, round(duration))
    argv = ["wrk", "-c", str(connections), "-t", str(threads), "-d", f"{seconds}s"]
    argv += ["--latency", url]
    output, cpu = _run(argv, seconds)
    rate = re.search(r"Requests/sec:\s+([\d.]+)", output)
    total = re.search(r"(\d+) requests in ([\d.]+)(ms|s|m)", output)
    p50 = re.search(r"^\s+50%\s+(\S+)", output, re.MULTILINE)
    p99 = re.search(r"^\s+99%\s+(\S+)", output, re.MULTILINE)
    if rate is None or total is None or p50 is None or p99 is None:
        raise LoadError(f"cannot read wrk's output: {output[-500:]}")
    # wrk counts a response in "requests" whatever its status; socket errors (refused,
    # reset, timed-out requests) are on top of them. Both are failures here.
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    bad_status = int(non_2xx.group(1)) if non_2xx else 0
    errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    socket_errors = sum(int(n) for n in errors.groups()) if errors else 0
    requests = int(total.group(1))
    return LoadResult(
        requests_per_second=float(rate.group(1)),
        succeeded=requests - bad_status,
        failed=bad_status + socket_errors,
        p50_ms=_wrk_ms(p50.group(1)),
        p99_ms=_wrk_ms(p99.group(1)),
        loadgen_cpu_seconds=cpu,
        seconds=float(seconds),
    )
