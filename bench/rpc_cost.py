"""Server CPU per call of the newer RPCs, side by side with their service's baseline RPC.

``python -m bench.rpc_cost [--seconds 3] [--rounds 3] [--only time|date] [--keep]``
(and ``scripts/bench --only rpc-cost``) starts, one after the other, two single-process
servers with their default flags (the grpcio engine, the access log on):

- ``time-service --port 0``: GetTime (Europe/Paris, the baseline), ConvertTime (a civil
  time in Europe/London to America/New_York) and GetTimeZone (Europe/Paris);
- ``date-service --port 0 --database postgresql://...`` on a throwaway PostgreSQL
  cluster of its own (initdb and pg_ctl, 127.0.0.1, a free port, pg_stat_statements
  loaded; always stopped at the end): GetDate (Europe/Paris, the baseline), IsBusinessDay
  and a one-year CountBusinessDays on calendars/US, and the same two on a custom
  calendar stored in the database (created through the service's own CreateCalendar).

Each RPC gets a one-second warm-up and a real call whose answer is checked; then, in
``--rounds`` rounds (the order rotating from round to round), h2load drives each RPC
with a fixed request for ``--seconds`` at 4 connections of 8 streams. A call counts when
the server's access log says it ended OK (h2load counts any HTTP 200, whatever the
grpc-status; the calls in flight when it stops end CANCELLED); the server's CPU time
(user + system, /proc) over the window is divided by those calls, and by the baseline's
in the same round: the ratio reported is the median of the rounds' ratios. For the date
service, two counters give the database round trips per call: the statements
pg_stat_statements saw in the service's database, and the TCP data segments the
service's own sockets sent to PostgreSQL (``ss -ti``).
"""

from __future__ import annotations

import argparse
import contextlib
import glob
import logging
import math
import os
import pwd
import re
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, NoReturn

import grpc
import psycopg
from google.protobuf.message import Message
from google.type import date_pb2, datetime_pb2

from bench import _load, _proc
from bench._servers import BIN, HOST, REPO
from chrono.date.v1 import date_service_pb2 as date_pb
from chrono.time.v1 import time_service_pb2 as time_pb
from tests.pg import DATABASE, OWNER, PostgresCluster

logger = logging.getLogger(__name__)

DEFAULT_SECONDS = 3.0
DEFAULT_ROUNDS = 3
SERVICES = ("time", "date")
CONNECTIONS = 4
STREAMS = 8
WARMUP_SECONDS = 1.0
START_TIMEOUT = 60.0
STOP_TIMEOUT = 15.0
# The access log writes its lines in batches, at least every 0.2 s.
LOG_TIMEOUT = 5.0
CALENDAR_ID = "bench-us"
CUSTOM = f"calendars/{CALENDAR_ID}"
US = "calendars/US"
# A custom calendar call may cost a few more round trips in a whole run (psycopg's
# one-off PREPARE of a statement on each pooled connection), not one more per call.
ROUND_TRIP_SLACK = 0.01
TITLE = "RPC cost: server CPU per call beside the service's baseline RPC"
ARROW = "\N{RIGHTWARDS ARROW}"
DASH = "\N{EN DASH}"
TIMES = "\N{MULTIPLICATION SIGN}"
LE = "\N{LESS-THAN OR EQUAL TO}"

Check = Callable[[Any], bool]


@dataclass(frozen=True)
class Rpc:
    """One RPC with the fixed request it is loaded with, and its goal."""

    label: str
    service: str
    method: str
    request: Message
    response: type[Message]
    check: Check
    baseline: str | None = None
    # The most its CPU per call may be, as a multiple of the baseline's.
    goal: float | None = None
    # It names a calendar stored in the database: at most one round trip per call.
    stored: bool = False

    @property
    def name(self) -> str:
        """The method's own name: ``GetTime``."""
        return self.method.rsplit("/", 1)[1]


def _date(year: int, month: int, day: int) -> date_pb2.Date:
    return date_pb2.Date(year=year, month=month, day=day)


def _time_rpcs() -> tuple[Rpc, ...]:
    path = "/chrono.time.v1.TimeService/"
    civil = datetime_pb2.DateTime(
        year=2025, month=7, day=1, hours=12, time_zone=datetime_pb2.TimeZone(id="Europe/London")
    )
    get_time = Rpc(
        f"GetTime ({_load.ZONE})",
        "time",
        path + "GetTime",
        time_pb.GetTimeRequest(time_zone=_load.ZONE),
        time_pb.GetTimeResponse,
        lambda r: r.time_zone == _load.ZONE and bool(r.formatted),
    )
    return (
        get_time,
        Rpc(
            f"ConvertTime (Europe/London civil {ARROW} America/New_York)",
            "time",
            path + "ConvertTime",
            time_pb.ConvertTimeRequest(local_time=civil, time_zones=["America/New_York"]),
            time_pb.ConvertTimeResponse,
            # 12:00 BST is 07:00 EDT.
            lambda r: len(r.times) == 1 and r.times[0].local_time.hours == 7,
            baseline=get_time.label,
            goal=1.2,
        ),
        Rpc(
            f"GetTimeZone ({_load.ZONE})",
            "time",
            path + "GetTimeZone",
            time_pb.GetTimeZoneRequest(time_zone=_load.ZONE),
            time_pb.TimeZone,
            lambda r: r.canonical_time_zone == _load.ZONE,
            baseline=get_time.label,
            goal=1.2,
        ),
    )


def _date_rpcs() -> tuple[Rpc, ...]:
    path = "/chrono.date.v1.DateService/"
    get_date = Rpc(
        f"GetDate ({_load.ZONE})",
        "date",
        path + "GetDate",
        date_pb.GetDateRequest(time_zone=_load.ZONE),
        date_pb.GetDateResponse,
        lambda r: r.time_zone == _load.ZONE and bool(r.formatted),
    )
    rpcs = [get_date]
    for calendar, goal, stored in ((US, 1.3, False), (CUSTOM, None, True)):
        rpcs.append(
            Rpc(
                f"IsBusinessDay ({calendar}, 2025-07-04)",
                "date",
                path + "IsBusinessDay",
                date_pb.IsBusinessDayRequest(calendar=calendar, date=_date(2025, 7, 4)),
                date_pb.IsBusinessDayResponse,
                lambda r: not r.business_day and len(r.holidays) == 1,
                baseline=get_date.label,
                goal=goal,
                stored=stored,
            )
        )
        rpcs.append(
            Rpc(
                f"CountBusinessDays ({calendar}, 2025)",
                "date",
                path + "CountBusinessDays",
                date_pb.CountBusinessDaysRequest(
                    calendar=calendar, start_date=_date(2025, 1, 1), end_date=_date(2026, 1, 1)
                ),
                date_pb.CountBusinessDaysResponse,
                # 261 weekdays less the 11 federal holidays, all on weekdays in 2025 (the
                # custom calendar adds one and removes one).
                lambda r: r.business_days == 250,
                baseline=get_date.label,
                goal=goal,
                stored=stored,
            )
        )
    return tuple(rpcs)


def custom_calendar() -> date_pb.Calendar:
    """The stored calendar: the US one with a holiday added and another removed."""
    return date_pb.Calendar(
        display_name="United States, with the day after Thanksgiving off",
        base_calendars=[US],
        extra_holidays=[date_pb.Holiday(date=_date(2025, 11, 28), name="Day after Thanksgiving")],
        removed_holidays=[_date(2025, 10, 13)],
    )


# --- measurements -------------------------------------------------------------------


@dataclass
class Window:
    """One RPC loaded for one round."""

    rpc: Rpc
    round: int
    calls_per_second: float = math.nan
    ok: int = 0
    codes: dict[str, int] = field(default_factory=dict)
    cpu_us_per_call: float = math.nan
    other_cores: float = math.nan
    statements_per_call: float = math.nan
    segments_per_call: float = math.nan
    error: str | None = None


@dataclass
class RpcCostReport:
    """Every window of one :func:`run`, and what could not be measured."""

    seconds: float
    rounds: int
    windows: list[Window] = field(default_factory=list)
    rpcs: list[Rpc] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def _of(self, rpc: Rpc) -> list[Window]:
        return [w for w in self.windows if w.rpc.label == rpc.label and w.error is None]

    def ratios(self, rpc: Rpc) -> list[float]:
        """Per-round CPU per call of ``rpc`` over its baseline's in the same round."""
        base = {w.round: w.cpu_us_per_call for w in self.windows if w.rpc.label == rpc.baseline}
        return [
            w.cpu_us_per_call / base[w.round]
            for w in self._of(rpc)
            if base.get(w.round, 0) > 0 and not math.isnan(w.cpu_us_per_call)
        ]

    def passed(self, rpc: Rpc) -> bool | None:
        """Whether ``rpc`` meets its goal (CPU ratio, and round trips if stored); None if none."""
        checks: list[bool] = []
        if rpc.goal is not None:
            ratios = self.ratios(rpc)
            checks.append(bool(ratios) and statistics.median(ratios) <= rpc.goal)
        if rpc.stored:
            # The segment count needs ss (iproute2): without it, the statements decide.
            trips = [
                _median(self._of(rpc), a) for a in ("statements_per_call", "segments_per_call")
            ]
            trips = [t for t in trips if not math.isnan(t)]
            checks.append(bool(trips) and all(t <= 1 + ROUND_TRIP_SLACK for t in trips))
        return all(checks) if checks else None

    def lines(self) -> list[str]:
        """The results as Markdown, without a title."""
        lines = [
            f"Single-process servers with default flags; h2load at {CONNECTIONS} connections "
            f"{TIMES} {STREAMS} streams, one fixed request per RPC, {self.seconds:g} s per RPC "
            f"and round, {self.rounds} round(s) with the order rotating. CPU µs/call: the "
            "server's CPU time over the calls its access log says ended OK; ratio: the median "
            f"[min{DASH}max] over the rounds of the RPC's CPU per call over the baseline's in "
            "the same round. Other cores: what else kept the machine busy besides the server "
            "and h2load (more than a few tenths: a disturbed round).",
            "",
            "| RPC | calls/s | CPU µs/call | ratio to baseline | goal | result | other cores |",
            "| --- | ---: | ---: | ---: | --- | --- | ---: |",
        ]
        for rpc in self.rpcs:
            lines.append(self._row(rpc))
        dated = [rpc for rpc in self.rpcs if rpc.service == "date"]
        if dated and any(not math.isnan(w.statements_per_call) for w in self.windows):
            lines += [
                "",
                "Database round trips per call of the date service (medians over the rounds): "
                "statements PostgreSQL's pg_stat_statements counted in the service's "
                "database, and TCP data segments the service's sockets sent to PostgreSQL.",
                "",
                "| RPC | statements/call | segments to PostgreSQL/call | goal | result |",
                "| --- | ---: | ---: | --- | --- |",
            ]
            for rpc in dated:
                windows = self._of(rpc)
                goal = f"{LE} 1" if rpc.stored else ""
                result = _verdict(self.passed(rpc)) if rpc.stored else ""
                lines.append(
                    f"| {rpc.label} | {_median(windows, 'statements_per_call'):.3f} "
                    f"| {_median(windows, 'segments_per_call'):.3f} | {goal} | {result} |"
                )
        failed = [w for w in self.windows if w.error is not None or _unexpected(w.codes)]
        for w in failed:
            lines += ["", f"round {w.round}, {w.rpc.label}: {w.error or _codes(w.codes)}"]
        for error in self.errors:
            lines += ["", f"not measured: {error}"]
        return lines

    def markdown(self) -> list[str]:
        """The section for docs/benchmarks.md and stdout, title first."""
        return ["", f"## {TITLE}", "", *self.lines()]

    def _row(self, rpc: Rpc) -> str:
        windows = self._of(rpc)
        ratios = sorted(self.ratios(rpc))
        if rpc.baseline is None:
            ratio = "baseline"
        elif ratios:
            ratio = f"{statistics.median(ratios):.2f} [{ratios[0]:.2f}{DASH}{ratios[-1]:.2f}]"
        else:
            ratio = "n/a"
        goal = f"{LE} {rpc.goal:g}{TIMES}" if rpc.goal is not None else ""
        if rpc.stored:
            goal = (goal + ", " if goal else "") + f"{LE} 1 round trip"
        passed = self.passed(rpc)
        return (
            f"| {rpc.label} | {_median(windows, 'calls_per_second'):,.0f} "
            f"| {_median(windows, 'cpu_us_per_call'):.0f} | {ratio} | {goal} "
            f"| {_verdict(passed) if passed is not None else ''} "
            f"| {_median(windows, 'other_cores'):.2f} |"
        )


def _median(windows: Sequence[Window], attribute: str) -> float:
    values = [getattr(w, attribute) for w in windows]
    values = [v for v in values if not math.isnan(v)]
    return statistics.median(values) if values else math.nan


def _verdict(passed: bool | None) -> str:
    return "pass" if passed else "FAIL"


def _unexpected(codes: dict[str, int]) -> dict[str, int]:
    # CANCELLED is how the calls still in flight when h2load stops end.
    odd = {code: n for code, n in codes.items() if code != "OK"}
    if odd.get("CANCELLED", 0) <= CONNECTIONS * STREAMS:
        odd.pop("CANCELLED", None)
    return odd


def _codes(codes: dict[str, int]) -> str:
    return ", ".join(f"{n} {code}" for code, n in sorted(codes.items()))


# --- servers ------------------------------------------------------------------------


class BenchError(RuntimeError):
    """A server or the database did not start, or a check failed."""


class _Service:
    """One chrono server process, its log, and the port it listens on."""

    def __init__(self, argv: Sequence[str], log_path: Path) -> None:
        self.log_path = log_path
        self._log: IO[bytes] = log_path.open("wb")
        # Settings from the environment would change what is measured (tracing, say).
        prefixes = ("TIME_SERVICE_", "DATE_SERVICE_", "OTEL_")
        env = {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}
        self.process = subprocess.Popen(
            argv,
            cwd=REPO,
            env={**env, "PYTHONUNBUFFERED": "1"},
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.port = 0

    def wait_ready(self) -> None:
        """Wait until the server logs the port it serves on."""
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise BenchError(f"{self.process.args!r} exited: {self.log_tail()}")
            if match := re.search(r"listening on [\d.]+:(\d+) ", self.log_tail(4000)):
                self.port = int(match.group(1))
                return
            time.sleep(0.02)
        raise BenchError(f"no 'listening on' line in {START_TIMEOUT:.0f} s: {self.log_tail()}")

    @property
    def target(self) -> str:
        """host:port."""
        return f"{HOST}:{self.port}"

    def tree(self) -> list[int]:
        """The server's processes now."""
        return _proc.tree(self.process.pid)

    def log_tail(self, chars: int = 600) -> str:
        """The end of the server's output."""
        return self.log_path.read_text(errors="replace")[-chars:]

    def log_size(self) -> int:
        """How many bytes the log holds now."""
        return self.log_path.stat().st_size

    def access_codes(self, method: str, offset: int, at_least: int) -> Counter[str]:
        """The status codes the access log gives ``method`` after ``offset``.

        Waits (a bounded time) until there are ``at_least``: the lines come in batches.
        """
        pattern = re.compile(rf"chrono_server\.access: {re.escape(method)} (\w+) ")
        deadline = time.monotonic() + LOG_TIMEOUT
        while True:
            with self.log_path.open("rb") as log:
                log.seek(offset)
                text = log.read().decode(errors="replace")
            codes = Counter(pattern.findall(text))
            if codes.total() >= at_least or time.monotonic() > deadline:
                return codes
            time.sleep(0.05)

    def stop(self) -> None:
        """SIGTERM, then SIGKILL for whatever of its session is left."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            logger.warning("%s ignored SIGTERM", self.process.args)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(5)
        self._log.close()


@contextlib.contextmanager
def _serving(argv: Sequence[str], log_path: Path) -> Iterator[_Service]:
    service = _Service(argv, log_path)
    try:
        service.wait_ready()
        yield service
    finally:
        service.stop()


@contextlib.contextmanager
def postgres() -> Iterator[PostgresCluster]:
    """A throwaway cluster (database ``chrono``) with pg_stat_statements, removed afterwards."""
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda path: int(Path(path).parent.parent.name),
    )
    if not found:
        raise BenchError("PostgreSQL is not installed: apt-get install postgresql")
    # Under /tmp, not the work folder: the server runs as postgres and needs a short
    # path of its own for its socket.
    root = Path(tempfile.mkdtemp(prefix="chrono-bench-pg-"))
    cluster = PostgresCluster(root, Path(found[-1]).parent)
    try:
        if os.geteuid() == 0:
            owner = pwd.getpwnam(OWNER)
            os.chown(root, owner.pw_uid, owner.pw_gid)
        cluster.init()
        with (cluster.data / "postgresql.conf").open("a") as conf:
            conf.write("shared_preload_libraries = 'pg_stat_statements'\n")
        cluster.start()
        cluster.create_database(DATABASE)
        with cluster.connect() as conn:
            conn.execute("CREATE EXTENSION pg_stat_statements")
        yield cluster
    finally:
        cluster.close()


class _RoundTrips:
    """Counters of the service's traffic with PostgreSQL: statements, and TCP segments."""

    def __init__(self, cluster: PostgresCluster, service: _Service) -> None:
        self._cluster = cluster
        self._service = service
        self._conn = cluster.connect()

    def statements(self) -> int:
        """Statements run in the service's database so far (this reader's are elsewhere)."""
        row = self._conn.execute(
            "SELECT coalesce(sum(calls), 0)::bigint FROM pg_stat_statements "
            "WHERE dbid = (SELECT oid FROM pg_database WHERE datname = %s)",
            (DATABASE,),
        ).fetchone()
        return int(row[0]) if row else 0

    def segments(self) -> dict[str, int] | None:
        """Data segments each of the service's connections to PostgreSQL has sent (no ss: None)."""
        if shutil.which("ss") is None:
            return None
        argv = ["ss", "-H", "-t", "-i", "-n", "-p", "state", "established"]
        argv += [f"( dport = :{self._cluster.port} )"]
        done = subprocess.run(argv, capture_output=True, text=True, timeout=10, check=True)
        pids = set(self._service.tree())
        sent: dict[str, int] = {}
        socket = ""
        for line in done.stdout.splitlines():
            if not line[:1].isspace():
                owners = {int(pid) for pid in re.findall(r"pid=(\d+)", line)}
                socket = line.split()[2] if owners & pids else ""
            elif socket and (match := re.search(r"\bdata_segs_out:(\d+)", line)):
                sent[socket] = int(match.group(1))
        return sent

    def close(self) -> None:
        """Close the reader's connection."""
        self._conn.close()


def _segments_between(before: dict[str, int], after: dict[str, int]) -> int:
    # A connection opened in the window counts whole; one closed in it is lost (rare:
    # the pool keeps its connections).
    return sum(count - before.get(socket, 0) for socket, count in after.items())


def _check(service: _Service, rpc: Rpc) -> None:
    """One real call with the request h2load sends; its answer must be right."""
    with grpc.insecure_channel(service.target) as channel:
        call = channel.unary_unary(
            rpc.method,
            request_serializer=type(rpc.request).SerializeToString,
            response_deserializer=rpc.response.FromString,
        )
        try:
            answer = call(rpc.request, timeout=10, wait_for_ready=True)
        except grpc.RpcError as error:
            raise BenchError(f"{rpc.label}: {error.code()}: {error.details()}") from None
    if not rpc.check(answer):
        raise BenchError(f"{rpc.label}: unexpected answer {answer}")


def _measure(
    service: _Service,
    rpc: Rpc,
    body: Path,
    seconds: float,
    round_: int,
    trips: _RoundTrips | None,
) -> Window:
    window = Window(rpc, round_)
    url = f"http://{service.target}{rpc.method}"
    offset = service.log_size()
    statements, segments = (trips.statements(), trips.segments()) if trips else (0, None)
    pids = service.tree()
    cpu = _proc.cpu_seconds(pids)
    machine = _proc.machine_busy_seconds()
    load = _load.h2load(
        url, body, connections=CONNECTIONS, streams=STREAMS, duration=seconds, log_file=None
    )
    codes = service.access_codes(rpc.method, offset, load.succeeded)
    # After the log lines are in: writing them is part of the calls' cost.
    cpu = _proc.cpu_seconds(sorted(set(pids) | set(service.tree()))) - cpu
    machine = _proc.machine_busy_seconds() - machine
    window.codes = dict(codes)
    window.ok = codes.get("OK", 0)
    window.calls_per_second = window.ok / load.seconds
    window.other_cores = max(0.0, machine - cpu - load.loadgen_cpu_seconds) / load.seconds
    if window.ok:
        window.cpu_us_per_call = 1e6 * cpu / window.ok
    if trips is not None and codes.total():
        window.statements_per_call = (trips.statements() - statements) / codes.total()
        after = trips.segments()
        if segments is not None and after is not None:
            window.segments_per_call = _segments_between(segments, after) / codes.total()
    if load.succeeded > codes.total():
        window.error = f"h2load got {load.succeeded} answers, the access log has {codes.total()}"
    return window


def _progress(w: Window, rounds: int) -> str:
    head = f"rpc-cost round {w.round}/{rounds}  {w.rpc.label:<52}"
    text = (
        f"{head} {w.calls_per_second:8,.0f} calls/s {w.cpu_us_per_call:6.0f} µs CPU/call  "
        f"other {w.other_cores:4.2f} cores"
    )
    if not math.isnan(w.statements_per_call):
        text += f"  {w.statements_per_call:.3f} stmt/call {w.segments_per_call:.3f} seg/call"
    if _unexpected(w.codes):
        text += f"  [{_codes(w.codes)}]"
    return text + (f"  [{w.error}]" if w.error else "")


def _run_service(
    service: _Service,
    rpcs: Sequence[Rpc],
    report: RpcCostReport,
    work: Path,
    out: Callable[[str], None],
    trips: _RoundTrips | None = None,
) -> None:
    bodies: dict[str, Path] = {}
    for i, rpc in enumerate(rpcs):
        _check(service, rpc)
        body = bodies[rpc.label] = work / f"{rpc.service}-{i}.body"
        body.write_bytes(_load.grpc_frame(rpc.request.SerializeToString()))
        _load.h2load(
            f"http://{service.target}{rpc.method}",
            body,
            connections=CONNECTIONS,
            streams=STREAMS,
            duration=WARMUP_SECONDS,
        )
    for round_ in range(1, report.rounds + 1):
        shift = (round_ - 1) % len(rpcs)
        for rpc in [*rpcs[shift:], *rpcs[:shift]]:
            try:
                window = _measure(service, rpc, bodies[rpc.label], report.seconds, round_, trips)
            except _load.LoadError as error:
                window = Window(rpc, round_, error=str(error))
            report.windows.append(window)
            out(_progress(window, report.rounds))


def _run_time(report: RpcCostReport, work: Path, out: Callable[[str], None]) -> None:
    rpcs = _time_rpcs()
    report.rpcs += rpcs
    argv = [str(BIN / "time-service"), "--port", "0"]
    with _serving(argv, work / "time-service.log") as service:
        _run_service(service, rpcs, report, work, out)


def _run_date(report: RpcCostReport, work: Path, out: Callable[[str], None]) -> None:
    rpcs = _date_rpcs()
    report.rpcs += rpcs
    token = secrets.token_urlsafe(24)
    tokens = work / "write-tokens"
    tokens.write_text(token + "\n")
    tokens.chmod(0o600)
    with postgres() as cluster:
        argv = [str(BIN / "date-service"), "--port", "0", "--database", cluster.url]
        argv += ["--write-token-file", str(tokens)]
        with _serving(argv, work / "date-service.log") as service:
            # Imported here, as bench/run.py does: a broken client costs this part only.
            from client import DateClient

            with DateClient(service.target, token=token) as client:
                client.create_calendar(CALENDAR_ID, custom_calendar(), timeout=30)
            trips = _RoundTrips(cluster, service)
            try:
                _run_service(service, rpcs, report, work, out, trips)
            finally:
                trips.close()


def run(
    seconds: float,
    rounds: int,
    work: Path,
    out: Callable[[str], None],
    services: Sequence[str] = SERVICES,
) -> RpcCostReport:
    """The services (``time``, ``date``) in turn; each window's line goes to ``out``."""
    report = RpcCostReport(seconds, rounds)
    if shutil.which("h2load") is None:
        report.errors.append("h2load is not installed (Debian's nghttp2-client)")
        return report
    parts = {"time": _run_time, "date": _run_date}
    for part in (parts[service] for service in SERVICES if service in services):
        try:
            part(report, work, out)
        except (
            BenchError,
            OSError,
            RuntimeError,
            subprocess.SubprocessError,
            grpc.RpcError,
            psycopg.Error,
        ) as error:
            message = f"{part.__name__.removeprefix('_run_')} service: {error}"
            report.errors.append(message)
            out(f"rpc-cost FAILED: {message}")
    return report


def _exit_on_sigterm(signum: int, frame: object) -> NoReturn:
    # Unwinds through the finally blocks, which stop the servers and the database.
    raise SystemExit(128 + signum)


def main(argv: Sequence[str] | None = None) -> int:
    """Run, print the tables; 1 if something could not be measured."""
    parser = argparse.ArgumentParser(prog="bench.rpc_cost", description=__doc__)
    parser.add_argument("--seconds", type=float, default=DEFAULT_SECONDS, help="per window")
    parser.add_argument("--rounds", type=int, default=DEFAULT_ROUNDS, help="rounds")
    parser.add_argument(
        "--only", action="append", choices=SERVICES, help="this service only (repeatable)"
    )
    parser.add_argument("--keep", action="store_true", help="keep the work folder (logs)")
    args = parser.parse_args(argv)
    if args.seconds <= 0 or args.rounds < 1:
        parser.error("--seconds and --rounds must be positive")
    logging.basicConfig(level=logging.INFO, format="bench: %(message)s", stream=sys.stderr)
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    work = Path(tempfile.mkdtemp(prefix="chrono-bench-rpc-"))
    try:
        services = args.only or SERVICES
        report = run(
            args.seconds, args.rounds, work, lambda line: print(line, flush=True), services
        )
        print("\n".join(report.markdown()))
    finally:
        if args.keep:
            print(f"logs kept in {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    return 1 if report.errors or any(w.error for w in report.windows) else 0


if __name__ == "__main__":
    sys.exit(main())
