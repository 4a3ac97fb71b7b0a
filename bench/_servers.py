"""The servers under test: how each configuration is started, found, checked and stopped.

Configurations are data (:data:`CONFIGS`). The chrono ones name the time-service flags
they need; :func:`available` probes ``time-service --help`` so that a configuration
whose flags do not exist yet is reported as not available instead of failing.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Literal

import grpc

from bench import _load, _proc
from chrono.time.v1 import time_service_pb2 as pb
from chrono.time.v1 import time_service_pb2_grpc as pb_grpc

logger = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
HOST = "127.0.0.1"
START_TIMEOUT = 60.0
# After the first call succeeds, how long the other processes of a multi-process
# server get to start listening before the load begins anyway.
SPREAD_TIMEOUT = 15.0
STOP_TIMEOUT = 15.0
FORMATTED = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}")
# Reconnect fast while polling a server that is starting: gRPC's default back-off
# (1 s, growing) would make the measured start-up time a multiple of it.
FAST_RECONNECT = [
    ("grpc.initial_reconnect_backoff_ms", 10),
    ("grpc.min_reconnect_backoff_ms", 10),
    ("grpc.max_reconnect_backoff_ms", 100),
]


@dataclass(frozen=True)
class Config:
    """One server configuration under test."""

    key: str
    label: str
    family: str
    protocol: Literal["grpc", "http"]
    processes: int
    argv: tuple[str, ...]
    # time-service flags this configuration needs (probed in --help).
    requires: tuple[str, ...] = ()
    # A fragment of a shared library's path that must be mapped once it serves, to
    # show that an option really took effect (e.g. the native engine).
    expect_mapped: str | None = None


# Every production feature on: an access log line per call (to the runner's log file)
# and Prometheus metrics. "--log-level WARNING" without --metrics-port turns both off.
_PRODUCTION = ("--log-level", "INFO", "--metrics-port", "0")


def _chrono(
    label: str, extra: tuple[str, ...], processes: int, expect_mapped: str | None = None
) -> Config:
    flags = tuple(arg for arg in extra if arg.startswith("--"))
    family = "chrono native" if "native" in extra else "chrono"
    observed = () if "WARNING" in extra else _PRODUCTION
    argv = (str(BIN / "time-service"), "--port", "0", *observed, *extra)
    return Config(
        key=label,
        label=label,
        family=family,
        protocol="grpc",
        processes=processes,
        argv=argv,
        requires=flags,
        expect_mapped=expect_mapped,
    )


def _bare(mode: str, processes: int) -> Config:
    module = f"bench.bare_grpcio_{mode}"
    return Config(
        key=f"bare {mode} {processes}p",
        label=f"bare grpcio {mode} ({processes} proc)",
        family=f"bare grpcio {mode}",
        protocol="grpc",
        processes=processes,
        argv=(sys.executable, "-m", module, "--port", "0", "--processes", str(processes)),
    )


def _gunicorn(workers: int) -> Config:
    argv = (str(BIN / "gunicorn"), "-w", str(workers), "-b", f"{HOST}:0")
    return Config(
        key=f"gunicorn {workers}w",
        label=f"gunicorn ({workers} worker{'s' if workers > 1 else ''})",
        family="gunicorn",
        protocol="http",
        processes=workers,
        argv=(*argv, "bench.flask_time:app"),
    )


CHRONO_CONFIGS = (
    _chrono("chrono", (), 1),
    _chrono("chrono, no access log or metrics", ("--log-level", "WARNING"), 1),
    _chrono("chrono --workers 2", ("--workers", "2"), 2),
    _chrono("chrono --engine native", ("--engine", "native"), 1, expect_mapped="pygrpc_native"),
    _chrono(
        "chrono --engine native --workers 2",
        ("--engine", "native", "--workers", "2"),
        2,
        expect_mapped="pygrpc_native",
    ),
)
BASELINE_CONFIGS = (
    _bare("aio", 1),
    _bare("aio", 2),
    _bare("sync", 1),
    _bare("sync", 2),
    Config(
        key="flask dev",
        label="Flask dev server",
        family="Flask dev server",
        protocol="http",
        processes=1,
        argv=(sys.executable, "-m", "bench.flask_time", "--port", "0"),
    ),
    _gunicorn(1),
    _gunicorn(2),
)
CONFIGS = CHRONO_CONFIGS + BASELINE_CONFIGS


def _help_text(executable: Path) -> str:
    try:
        done = subprocess.run(
            [str(executable), "--help"], capture_output=True, text=True, timeout=60, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        return f"<{error}>"
    return done.stdout + done.stderr


def available(configs: tuple[Config, ...]) -> tuple[list[Config], dict[str, str]]:
    """The configurations that can run here, and why each of the others cannot."""
    chrono_help = _help_text(BIN / "time-service")
    runnable: list[Config] = []
    missing: dict[str, str] = {}
    for config in configs:
        absent = [flag for flag in config.requires if not re.search(rf"{flag}\b", chrono_help)]
        if absent:
            missing[config.key] = f"time-service has no {', '.join(absent)} option"
        elif not Path(config.argv[0]).exists() and shutil.which(config.argv[0]) is None:
            missing[config.key] = f"{config.argv[0]} is not installed"
        else:
            runnable.append(config)
    # gunicorn 23+ opens a control socket in ~/.gunicorn: off, so runs stay independent.
    if "--no-control-socket" in _help_text(BIN / "gunicorn"):
        runnable = [
            dataclasses.replace(c, argv=(*c.argv[:-1], "--no-control-socket", c.argv[-1]))
            if c.family == "gunicorn"
            else c
            for c in runnable
        ]
    return runnable, missing


class ServerError(RuntimeError):
    """A server did not start, did not answer, or died."""


@dataclass
class Check:
    """Whether sample calls after the load got correct, successful answers."""

    ok: bool
    text: str


@dataclass
class Server:
    """A running server process tree, started in a session of its own."""

    config: Config
    log_path: Path
    process: subprocess.Popen[bytes] | None = None
    port: int = 0
    listeners: int = 0
    spawned_at: float = 0.0
    _log: IO[bytes] | None = field(default=None, repr=False)
    _channel: grpc.Channel | None = field(default=None, repr=False)

    @property
    def pid(self) -> int:
        """The root process's PID."""
        assert self.process is not None
        return self.process.pid

    @property
    def target(self) -> str:
        """host:port."""
        return f"{HOST}:{self.port}"

    def tree(self) -> list[int]:
        """The server's processes now."""
        return _proc.tree(self.pid)

    def start(self) -> float:
        """Spawn the server and wait until it answers; the start-up time in seconds."""
        self._log = self.log_path.open("wb")
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.spawned_at = time.monotonic()
        # A session of its own: stop() can then end every process the server started.
        self.process = subprocess.Popen(
            self.config.argv,
            cwd=REPO,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = self.spawned_at + START_TIMEOUT
        self.port = self._wait_for_port(deadline)
        if self.config.protocol == "grpc":
            self._wait_grpc(deadline)
        else:
            self._wait_http(deadline)
        startup = time.monotonic() - self.spawned_at
        self._wait_for_spread()
        return startup

    def _alive(self) -> None:
        assert self.process is not None
        if self.process.poll() is not None:
            raise ServerError(
                f"{self.config.label} exited with {self.process.returncode}: {self.log_tail()}"
            )

    def log_tail(self, chars: int = 600) -> str:
        """The end of the server's output, on one line."""
        try:
            text = self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""
        return " | ".join(text[-chars:].strip().splitlines())

    def _wait_for_port(self, deadline: float) -> int:
        while time.monotonic() < deadline:
            self._alive()
            # A chrono server with --metrics-port listens twice (and a supervisor answers
            # scrapes before its workers serve): only its ready line says which is gRPC.
            if match := re.search(r"listening on [\d.]+:(\d+) ", self.log_tail(4000)):
                return int(match.group(1))
            if self.config.family.startswith("chrono") and "WARNING" not in self.config.argv:
                time.sleep(0.01)
                continue
            ports = _proc.listening_ports(self.tree())
            if ports:
                if len(ports) > 1:
                    logger.warning("%s listens on %s; using the lowest", self.config.label, ports)
                return min(ports)
            time.sleep(0.01)
        raise ServerError(f"{self.config.label} opened no port in {START_TIMEOUT:.0f} s")

    def channel(self) -> grpc.Channel:
        """A channel to the server, made once."""
        if self._channel is None:
            self._channel = grpc.insecure_channel(self.target, options=FAST_RECONNECT)
        return self._channel

    def _wait_grpc(self, deadline: float) -> None:
        stub = pb_grpc.TimeServiceStub(self.channel())
        request = pb.GetTimeRequest(time_zone=_load.ZONE)
        last: grpc.RpcError | None = None
        while time.monotonic() < deadline:
            self._alive()
            try:
                stub.GetTime(request, timeout=0.5, wait_for_ready=True)
            except grpc.RpcError as error:
                last = error
                continue
            return
        raise ServerError(f"{self.config.label} never answered GetTime: {last}")

    def _wait_http(self, deadline: float) -> None:
        url = f"http://{self.target}/time"
        last: Exception | None = None
        while time.monotonic() < deadline:
            self._alive()
            try:
                with urllib.request.urlopen(url, timeout=1) as response:
                    response.read()
                return
            except (urllib.error.URLError, OSError) as error:
                last = error
                time.sleep(0.01)
        raise ServerError(f"{self.config.label} never answered GET /time: {last}")

    def listening_processes(self) -> int:
        """How many of the server's processes hold a listening socket on its port."""
        return sum(1 for pid in self.tree() if self.port in _proc.listening_ports([pid]))

    def _wait_for_spread(self) -> None:
        # The first answer may come from the first of several processes: give the others
        # a bounded time to listen too, so that the load is spread from the start.
        deadline = time.monotonic() + SPREAD_TIMEOUT
        while time.monotonic() < deadline:
            self.listeners = self.listening_processes()
            if self.listeners >= self.config.processes:
                return
            time.sleep(0.05)

    def check(self, body: Path, calls: int = 20) -> Check:
        """Sample calls after the load: real gRPC calls (and curl, for the h2load body)."""
        if self.config.protocol == "http":
            return self._check_http(calls)
        stub = pb_grpc.TimeServiceStub(self.channel())
        request = pb.GetTimeRequest(time_zone=_load.ZONE)
        good = 0
        problems: list[str] = []
        for _ in range(calls):
            try:
                response = stub.GetTime(request, timeout=5)
            except grpc.RpcError as error:
                problems.append(str(error.code()))
                continue
            if response.time_zone == _load.ZONE and FORMATTED.fullmatch(response.formatted):
                good += 1
            else:
                problems.append(f"odd answer {response.formatted!r}")
        text = f"{good}/{calls} calls OK"
        curl_ok = True
        if shutil.which("curl"):
            statuses = [self._curl_status(body) for _ in range(3)]
            curl_ok = all(status == "0" for status in statuses)
            text += f"; curl grpc-status {','.join(statuses)}"
        if problems:
            text += f" ({'; '.join(sorted(set(problems)))})"
        return Check(good == calls and curl_ok, text)

    def _curl_status(self, body: Path) -> str:
        """grpc-status of one call with h2load's exact body, read from curl's trailers."""
        argv = ["curl", "-s", "--http2-prior-knowledge", "-D", "-", "-o", "/dev/null"]
        argv += ["--data-binary", f"@{body}", "--max-time", "5"]
        for header in _load.GRPC_HEADERS:
            argv += ["-H", header]
        argv.append(f"http://{self.target}{_load.GET_TIME_PATH}")
        done = subprocess.run(argv, capture_output=True, text=True, timeout=10, check=False)
        match = re.search(r"^grpc-status: (\d+)", done.stdout, re.MULTILINE)
        return match.group(1) if match else "none"

    def _check_http(self, calls: int) -> Check:
        good = 0
        for _ in range(calls):
            try:
                with urllib.request.urlopen(f"http://{self.target}/time", timeout=5) as response:
                    answer = json.loads(response.read())
            except (urllib.error.URLError, OSError, ValueError):
                continue
            if isinstance(answer, dict) and FORMATTED.fullmatch(str(answer.get("time"))):
                good += 1
        return Check(good == calls, f"{good}/{calls} GET /time OK")

    def stop(self) -> int | None:
        """SIGTERM, then SIGKILL for anything of the session still there; the exit status."""
        if self._channel is not None:
            self._channel.close()
            self._channel = None
        status: int | None = None
        if self.process is not None:
            if self.process.poll() is None:
                self.process.send_signal(signal.SIGTERM)
            try:
                status = self.process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                logger.warning("%s ignored SIGTERM for %.0f s", self.config.label, STOP_TIMEOUT)
            # Whatever the root left behind (workers, children) goes too.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(5)
        if self._log is not None:
            self._log.close()
            self._log = None
        return status
