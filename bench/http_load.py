"""``GET /v1/time`` on chrono's HTTP/JSON port against the original Flask design, and HTTP's cost.

``python -m bench.http_load [--seconds 10] [--workers 2] [--connections 32]`` (and
``scripts/bench --only http``) runs, one after the other, each for ``--seconds`` after a
one-second warm-up, wrk at ``--connections`` connections on 2 threads against:

- ``time-service --workers N --http-port 0``: ``GET /v1/time`` (production settings: the
  access log and metrics on);
- the original design's Flask app (``bench/flask_time.py``) under gunicorn with the same
  N workers, sync (the design's ``gunicorn -w N``, which closes the connection after
  every response) and gthread (4 threads a worker, which keeps connections open): the
  ratio is given against each;

then, on one single-process ``time-service --http-port 0``, the server CPU time per call
of ``GET /v1/time`` under wrk and of gRPC ``GetTime`` under h2load, at the same number
of calls in flight: ``--connections`` HTTP/1.1 connections with one request each, and
8 gRPC streams on each of ``--connections / 8`` HTTP/2 connections.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import math
import re
import shutil
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bench import _load, _proc
from bench._servers import CHRONO_CONFIGS, FORMATTED, Config, Server, ServerError, available

logger = logging.getLogger(__name__)

# Busy cores beyond the idle servers under which the machine counts as quiet.
QUIET_CORES = 0.3
QUIET_TIMEOUT = 5.0
WARMUP_SECONDS = 1.0
GTHREAD_THREADS = 4
HTTP_TIMEOUT = 30.0
TIME_PATH = "/v1/time"
GRPC_STREAMS = 8


@dataclass
class HttpRun:
    """One load run: who served, what wrk or h2load measured, and the server's CPU."""

    label: str
    processes: int
    protocol: str
    rps: float = math.nan
    succeeded: int = 0
    failed: int = 0
    p50_ms: float = math.nan
    p99_ms: float = math.nan
    cpu_us_per_call: float = math.nan
    server_cores: float = math.nan
    loadgen_cores: float = math.nan
    other_cores: float = math.nan
    check: str = ""
    error: str | None = None


@dataclass
class HttpReport:
    """Every run of one :func:`run`, and how it was loaded."""

    seconds: float
    connections: int
    threads: int
    workers: int
    throughput: list[HttpRun] = field(default_factory=list)
    cost: list[HttpRun] = field(default_factory=list)
    unavailable: str = ""

    def ratio(self, baseline: str) -> float:
        """The req/s of chrono over that of the run labelled ``baseline``; NaN if either failed."""
        rates = {r.label: r.rps for r in self.throughput if r.error is None}
        chrono = next((r.rps for r in self.throughput if r.label.startswith("chrono")), math.nan)
        other = rates.get(baseline, math.nan)
        return chrono / other if other and other > 0 else math.nan

    def lines(self) -> list[str]:
        """The results as Markdown."""
        if self.unavailable:
            return [f"Not run: {self.unavailable}."]
        lines = [
            f"wrk, {self.connections} connections on {self.threads} threads, "
            f"{self.seconds:g} s after a {WARMUP_SECONDS:g} s warm-up, each server started "
            "afresh.",
            "",
            "| server | processes | req/s | p50 ms | p99 ms | CPU µs/call | server cores "
            "| load gen cores | other cores | failed | check |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
        ]
        lines += [_row(run) for run in self.throughput]
        chrono = self.throughput[0] if self.throughput else None
        for run in self.throughput[1:]:
            cpu = run.cpu_us_per_call / chrono.cpu_us_per_call if chrono else math.nan
            lines += [
                "",
                f"chrono over {run.label}: {self.ratio(run.label):.2f}x the req/s, at "
                f"{1 / cpu:.2f}x the server CPU per call.",
            ]
        lines += [
            "",
            f"CPU per call on one single-process time-service, {self.connections} calls in flight:",
            "",
            "| protocol | req/s | p50 ms | p99 ms | CPU µs/call | server cores | load gen cores "
            "| other cores | failed | check |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
        ]
        lines += [_row(run, cost=True) for run in self.cost]
        http, grpc_ = (
            next((r for r in self.cost if r.protocol == p), None) for p in ("http", "grpc")
        )
        if http and grpc_ and http.error is None and grpc_.error is None:
            lines += [
                "",
                f"HTTP/JSON costs {http.cpu_us_per_call / grpc_.cpu_us_per_call:.2f}x the "
                "server CPU of gRPC per GetTime.",
            ]
        return lines


def _row(run: HttpRun, cost: bool = False) -> str:
    head = f"| {run.protocol if cost else run.label} |" + ("" if cost else f" {run.processes} |")
    if run.error is not None:
        return f"{head} failed: {run.error[:200]} |"
    return (
        f"{head} {run.rps:,.0f} | {run.p50_ms:.2f} | {run.p99_ms:.2f} | "
        f"{run.cpu_us_per_call:.0f} | {run.server_cores:.2f} | {run.loadgen_cores:.2f} | "
        f"{run.other_cores:.2f} | {run.failed} | {run.check} |"
    )


# --- servers -------------------------------------------------------------------------


def _chrono(workers: int) -> Config:
    """The time service with an HTTP/JSON port and ``workers`` processes."""
    base = CHRONO_CONFIGS[0]
    extra = ("--http-port", "0", *(("--workers", str(workers)) if workers > 1 else ()))
    return dataclasses.replace(
        base,
        key=f"chrono http {workers}p",
        label=f"chrono --http-port{f' --workers {workers}' if workers > 1 else ''}",
        protocol="grpc",
        processes=workers,
        argv=(*base.argv, *extra),
        requires=tuple(arg for arg in extra if arg.startswith("--")),
    )


def _gunicorn(workers: int, worker_class: str) -> Config:
    """The original design's Flask app under gunicorn: ``sync`` or ``gthread`` workers."""
    argv = [str(Path(sys.executable).parent / "gunicorn"), "-w", str(workers)]
    argv += ["-b", "127.0.0.1:0", "-k", worker_class]
    if worker_class == "gthread":
        argv += ["--threads", str(GTHREAD_THREADS)]
    label = f"gunicorn {worker_class}"
    return Config(
        key=label,
        label=label,
        family="gunicorn",
        protocol="http",
        processes=workers,
        argv=(*argv, "bench.flask_time:app"),
    )


def _get_json(url: str) -> object:
    with urllib.request.urlopen(url, timeout=2) as response:
        return json.loads(response.read())


def http_port(server: Server) -> int:
    """The port on which the chrono ``server`` answers ``GET /v1/time``.

    Found by asking each port its processes listen on besides the gRPC one (metrics
    answer too, but not that path): whatever the log says.
    """
    deadline = time.monotonic() + HTTP_TIMEOUT
    last: Exception | None = None
    while time.monotonic() < deadline:
        for port in sorted(_proc.listening_ports(server.tree()) - {server.port}):
            try:
                answer = _get_json(f"http://127.0.0.1:{port}{TIME_PATH}")
            except (urllib.error.URLError, OSError, ValueError) as error:
                last = error
                continue
            if isinstance(answer, dict) and "formatted" in answer:
                return port
        time.sleep(0.05)
    raise ServerError(f"{server.config.label}: no port answered GET {TIME_PATH}: {last}")


def _check(url: str, key: str, calls: int = 20) -> str:
    """Sample GETs after the load: how many answered 200 with a well-formed time."""
    good = 0
    for _ in range(calls):
        try:
            answer = _get_json(url)
        except (urllib.error.URLError, OSError, ValueError):
            continue
        if isinstance(answer, dict) and FORMATTED.fullmatch(str(answer.get(key))):
            good += 1
    return f"{good}/{calls} OK"


# --- measuring -----------------------------------------------------------------------


Load = Callable[[float], _load.LoadResult]


def measure(run: HttpRun, pids: Callable[[], list[int]], load: Load, seconds: float) -> None:
    """Warm up, wait for a quiet machine, load, and fill ``run`` in from the load and /proc."""
    load(WARMUP_SECONDS)
    _proc.wait_until_quiet(QUIET_CORES, timeout=QUIET_TIMEOUT)
    before = pids()
    cpu_before = _proc.cpu_seconds(before)
    machine_before = _proc.machine_busy_seconds()
    result = load(seconds)
    machine = _proc.machine_busy_seconds() - machine_before
    cpu = _proc.cpu_seconds(sorted(set(before) | set(pids()))) - cpu_before
    run.rps, run.succeeded, run.failed = (
        result.requests_per_second,
        result.succeeded,
        result.failed,
    )
    run.p50_ms, run.p99_ms = result.p50_ms, result.p99_ms
    run.cpu_us_per_call = 1e6 * cpu / result.succeeded if result.succeeded else math.nan
    run.server_cores = cpu / result.seconds
    run.loadgen_cores = result.loadgen_cpu_seconds / result.seconds
    run.other_cores = max(0.0, machine - cpu - result.loadgen_cpu_seconds) / result.seconds


def _wrk(url: str, connections: int, threads: int) -> Load:
    def load(duration: float) -> _load.LoadResult:
        return _load.wrk(url, connections=connections, threads=threads, duration=duration)

    return load


def _h2load(target: str, body: Path, in_flight: int, log_file: Path) -> Load:
    # Streams multiplexed on a few connections, as a gRPC channel sends them.
    url = f"http://{target}{_load.GET_TIME_PATH}"
    connections = max(1, in_flight // GRPC_STREAMS)

    def load(duration: float) -> _load.LoadResult:
        return _load.h2load(
            url,
            body,
            connections=connections,
            streams=GRPC_STREAMS,
            duration=duration,
            log_file=log_file,
        )

    return load


def _throughput(config: Config, report: HttpReport, work: Path) -> HttpRun:
    run = HttpRun(config.label, config.processes, "http")
    server = Server(config, work / f"{re.sub(r'[^a-z0-9]+', '-', config.key)}.log")
    try:
        server.start()
        if config.family == "gunicorn":
            url, key = f"http://{server.target}/time", "time"
        else:
            url, key = f"http://127.0.0.1:{http_port(server)}{TIME_PATH}", "formatted"
        measure(run, server.tree, _wrk(url, report.connections, report.threads), report.seconds)
        run.check = _check(url, key)
    except (ServerError, _load.LoadError, OSError) as error:
        run.error = str(error)
    finally:
        server.stop()
    return run


def _cost(report: HttpReport, work: Path) -> list[HttpRun]:
    """HTTP then gRPC on one single-process server."""
    http = HttpRun("chrono", 1, "http")
    grpc_ = HttpRun("chrono", 1, "grpc")
    server = Server(_chrono(1), work / "chrono-cost.log")
    body = _load.write_get_time_body(work / "get_time.body")
    try:
        server.start()
        url = f"http://127.0.0.1:{http_port(server)}{TIME_PATH}"
        load = _wrk(url, report.connections, report.threads)
        measure(http, server.tree, load, report.seconds)
        http.check = _check(url, "formatted")
        measure(
            grpc_,
            server.tree,
            _h2load(server.target, body, report.connections, work / "grpc.tsv"),
            report.seconds,
        )
        grpc_.check = server.check(body).text
    except (ServerError, _load.LoadError, OSError) as error:
        for run in (http, grpc_):
            if math.isnan(run.rps):
                run.error = str(error)
    finally:
        server.stop()
    return [http, grpc_]


def run(
    seconds: float,
    work: Path,
    out: Callable[[str], None],
    *,
    workers: int = 2,
    connections: int = 32,
    threads: int = 2,
) -> HttpReport:
    """Every run, in order; each result line goes to ``out`` as it comes."""
    report = HttpReport(seconds, connections, threads, workers)
    configs = (_chrono(workers), _gunicorn(workers, "sync"), _gunicorn(workers, "gthread"))
    runnable, missing = available(configs)
    if missing:
        report.unavailable = "; ".join(f"{key}: {why}" for key, why in missing.items())
        out(f"http: not run: {report.unavailable}")
        return report
    for config in runnable:
        logger.info("http: %s", config.label)
        result = _throughput(config, report, work)
        report.throughput.append(result)
        out(f"http: {_row(result)}")
    logger.info("http: CPU per call, HTTP and gRPC")
    report.cost = _cost(report, work)
    for result in report.cost:
        out(f"http cost: {_row(result, cost=True)}")
    return report


def main(argv: Sequence[str] | None = None) -> int:
    """Run and print the results; the exit status."""
    parser = argparse.ArgumentParser(prog="bench.http_load", description=__doc__)
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each load run")
    parser.add_argument("--workers", type=int, default=2, help="processes of each server")
    parser.add_argument("--connections", type=int, default=32, help="connections (calls in flight)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="bench: %(message)s", stream=sys.stderr)
    missing = [tool for tool in ("wrk", "h2load") if shutil.which(tool) is None]
    if missing:
        logger.error("missing %s: scripts/bench installs them", " and ".join(missing))
        return 1
    work = Path(tempfile.mkdtemp(prefix="chrono-bench-http-"))
    try:
        report = run(
            args.seconds,
            work,
            lambda line: print(line, flush=True),
            workers=args.workers,
            connections=args.connections,
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print("\n".join(["", *report.lines()]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
