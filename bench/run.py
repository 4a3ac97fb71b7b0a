"""The benchmark runner behind ``scripts/bench``.

For each round, each server configuration in turn (a rotating order, so that no
configuration always runs first or last) is started, polled until it answers (the
start-up time), warmed up, loaded with h2load (gRPC) or wrk (HTTP/1.1) at 16
connections, loaded again at one call in flight for latency, checked with sample calls,
and stopped. Server CPU and peak memory come from /proc for the whole process tree.

Then, once: how many WatchTime streams one chrono process holds with ticks on time,
what the client library costs per call over the raw generated stub, and what the newer
RPCs cost the server per call beside their service's baseline RPC (bench/rpc_cost.py).
``--profile`` adds a py-spy profile of chrono under load.

Results go to stdout as they come, and to ``OUT/benchmarks.md`` and
``OUT/benchmarks.png`` at the end.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

import grpc

from bench import _load, _proc, _report, http_load, rpc_cost
from bench._results import CLIENT, RAW, ClientOverhead, Measurement, Profile, WatchLevel
from bench._servers import (
    CHRONO_CONFIGS,
    CONFIGS,
    REPO,
    Config,
    Server,
    ServerError,
    available,
)
from chrono.time.v1 import time_service_pb2 as pb
from chrono.time.v1 import time_service_pb2_grpc as pb_grpc

logger = logging.getLogger("bench")

SECTIONS = ("throughput", "watches", "client", "http", "rpc-cost", "profile")
# The brief's levels, and two lower ones so that a slow server still gets an answer.
WATCH_LEVELS = (250, 500, 1000, 2500, 5000, 7500)
QUICK_WATCH_LEVELS = (200, 1000)
# Streams are opened at this pace: opened all at once, grpc core's limit on calls
# waiting to be picked up (about 3000) leaves the rest hanging (see the burst run).
WATCH_RAMP = 1000.0
BURST_STREAMS = 5000
# Busy cores (beyond the idle server) under which the machine counts as quiet.
QUIET_CORES = 0.3


@dataclass(frozen=True)
class Plan:
    """Durations and sizes of one run."""

    rounds: int
    duration: float
    latency_duration: float
    warmup: float
    watch_levels: tuple[int, ...]
    watch_seconds: int
    burst: bool
    client_rounds: int
    client_seconds: float
    profile_seconds: float
    sections: tuple[str, ...]


def _exit_on_sigterm(signum: int, frame: object) -> NoReturn:
    # Unwinds through every finally block, which stop the servers this run started.
    raise SystemExit(128 + signum)


def parse_args(argv: Sequence[str] | None) -> tuple[argparse.Namespace, Plan]:
    """Flags, and the plan they make."""
    parser = argparse.ArgumentParser(
        prog="scripts/bench", description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--rounds", type=int, help="rounds of the throughput runs (default 3)")
    parser.add_argument(
        "--duration", type=float, help="seconds of each throughput measurement (default 10)"
    )
    parser.add_argument(
        "--latency-duration",
        type=float,
        help="seconds of each one-call-in-flight measurement (default: half of --duration)",
    )
    parser.add_argument("--quick", action="store_true", help="a short smoke run: 1 round, 2 s")
    parser.add_argument("--out", type=Path, default=Path("docs"), help="where results go")
    parser.add_argument(
        "--only",
        action="append",
        choices=SECTIONS,
        help="run only this part (repeatable); default: all but profile",
    )
    parser.add_argument("--profile", action="store_true", help="also profile chrono with py-spy")
    parser.add_argument(
        "--config",
        action="append",
        metavar="KEY",
        help="run only the throughput configurations whose key contains KEY (repeatable)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the work folder (server logs)")
    args = parser.parse_args(argv)
    quick = args.quick
    rounds = args.rounds if args.rounds is not None else (1 if quick else 3)
    duration = args.duration if args.duration is not None else (2.0 if quick else 10.0)
    if rounds < 1 or duration <= 0:
        parser.error("--rounds and --duration must be positive")
    latency = args.latency_duration if args.latency_duration is not None else duration / 2
    default = ("throughput", "watches", "client", "http", "rpc-cost")
    sections = tuple(args.only) if args.only else default
    if args.profile and "profile" not in sections:
        sections += ("profile",)
    plan = Plan(
        rounds=rounds,
        duration=duration,
        latency_duration=max(1.0, latency),
        warmup=0.5 if quick else 1.0,
        watch_levels=QUICK_WATCH_LEVELS if quick else WATCH_LEVELS,
        watch_seconds=2 if quick else 5,
        burst=not quick,
        client_rounds=1 if quick else 3,
        client_seconds=0.5 if quick else 2.0,
        profile_seconds=3.0 if quick else 10.0,
        sections=sections,
    )
    return args, plan


# --- throughput ---------------------------------------------------------------------


def _load_run(
    server: Server, body: Path, log_file: Path, duration: float, *, single: bool
) -> _load.LoadResult:
    """One load run against ``server``: 16 connections, or one call in flight."""
    if server.config.protocol == "grpc":
        url = f"http://{server.target}{_load.GET_TIME_PATH}"
        return _load.h2load(
            url,
            body,
            connections=1 if single else 16,
            streams=1 if single else 8,
            duration=duration,
            log_file=log_file,
        )
    return _load.wrk(
        f"http://{server.target}/time",
        connections=1 if single else 16,
        threads=1 if single else 2,
        duration=duration,
    )


def measure(config: Config, round_: int, plan: Plan, work: Path, body: Path) -> Measurement:
    """Start ``config``'s server, load it, check it, stop it."""
    result = Measurement(config=config, round=round_)
    slug = re.sub(r"[^a-z0-9]+", "-", config.key.lower())
    server = Server(config, work / f"{slug}-r{round_}.log")
    try:
        result.startup_s = server.start()
        result.listeners = server.listeners
        _load_run(server, body, work / "warmup.tsv", plan.warmup, single=False)
        busy = _proc.wait_until_quiet(QUIET_CORES)
        if busy >= QUIET_CORES:
            result.notes.append(f"machine busy ({busy:.1f} cores) before the load")
        pids = server.tree()
        cpu_before = _proc.cpu_seconds(pids)
        machine_before = _proc.machine_busy_seconds()
        load = _load_run(server, body, work / f"{slug}-r{round_}.tsv", plan.duration, single=False)
        machine = _proc.machine_busy_seconds() - machine_before
        pids = sorted(set(pids) | set(server.tree()))
        cpu = _proc.cpu_seconds(pids) - cpu_before
        other = machine - cpu - load.loadgen_cpu_seconds
        # Clamped: tick-granular accounting can make a quiet machine look slightly negative.
        result.other_cores = max(0.0, other) / load.seconds
        result.rps, result.failed = load.requests_per_second, load.failed
        result.p50_ms, result.p99_ms = load.p50_ms, load.p99_ms
        result.cpu_us_per_call = 1e6 * cpu / load.succeeded if load.succeeded else math.nan
        result.server_cores = cpu / load.seconds
        result.loadgen_cores = load.loadgen_cpu_seconds / load.seconds
        result.peak_rss_mib = _proc.peak_rss_bytes(pids) / 2**20
        result.processes = len(server.tree())
        check = server.check(body)
        result.check_ok, result.check = check.ok, check.text
        single = _load_run(
            server, body, work / f"{slug}-r{round_}-c1.tsv", plan.latency_duration, single=True
        )
        result.c1_rps, result.c1_p50_ms, result.c1_p99_ms = (
            single.requests_per_second,
            single.p50_ms,
            single.p99_ms,
        )
        if load.failed or single.failed:
            result.notes.append(f"{load.failed + single.failed} failed requests")
        if result.listeners < config.processes:
            result.notes.append(
                f"{result.listeners} of {config.processes} processes listening at the start"
            )
        if config.expect_mapped and not _proc.maps_mention(server.tree(), config.expect_mapped):
            result.notes.append(f"{config.expect_mapped} not loaded")
    except (ServerError, _load.LoadError, OSError) as error:
        result.error = str(error)
    finally:
        status = server.stop()
        if status is None:
            result.notes.append("ignored SIGTERM")
        elif status != 0 and result.error is None:
            result.notes.append(f"exited {status} on SIGTERM")
        tracebacks = _count_in_log(server.log_path, "Traceback")
        if tracebacks:
            result.notes.append(f"{tracebacks} 'Traceback' lines in its log")
    return result


def _count_in_log(path: Path, needle: str) -> int:
    try:
        return path.read_text(errors="replace").count(needle)
    except FileNotFoundError:
        return 0


def _progress_line(m: Measurement, rounds: int) -> str:
    head = f"round {m.round}/{rounds}  {m.config.label:<34}"
    if m.error is not None:
        return f"{head} FAILED: {m.error[:300]}"
    return (
        f"{head} {m.rps:9,.0f} req/s  p50 {m.p50_ms:6.2f} ms  p99 {m.p99_ms:6.2f} ms  "
        f"{m.cpu_us_per_call:5.0f} µs CPU/call  {m.peak_rss_mib:5.0f} MiB  "
        f"start {m.startup_s:5.2f} s  c1 p99 {m.c1_p99_ms:5.2f} ms  "
        f"load gen {m.loadgen_cores:4.2f} cores  other {m.other_cores:4.2f} cores  "
        f"check {'ok' if m.check_ok else 'FAILED'}"
        + (f"  [{'; '.join(m.notes)}]" if m.notes else "")
    )


def run_throughput(
    plan: Plan, configs: list[Config], work: Path, out: Callable[[str], None]
) -> list[Measurement]:
    """Every configuration, every round, in a rotating order."""
    body = _load.write_get_time_body(work / "get_time.body")
    results: list[Measurement] = []
    for round_ in range(1, plan.rounds + 1):
        shift = (round_ - 1) % len(configs)
        for config in configs[shift:] + configs[:shift]:
            logger.info("round %d: %s", round_, config.label)
            measurement = measure(config, round_, plan, work, body)
            results.append(measurement)
            out(_progress_line(measurement, plan.rounds))
    return results


# --- watches -------------------------------------------------------------------------


def watch_level(
    streams: int, ramp: float, seconds: int, work: Path, config: Config = CHRONO_CONFIGS[0]
) -> WatchLevel:
    """Open ``streams`` watches on a fresh chrono time-service and measure the ticks."""
    engine = "native" if "native" in config.argv else "grpcio"
    level = WatchLevel(streams=streams, ramp=ramp, engine=engine)
    log = work / f"watch-{engine}-{streams}-{int(ramp)}.log"
    server = Server(config, log)
    client: subprocess.Popen[str] | None = None
    open_timeout = (streams / ramp if ramp else 0) + 20
    timeout = open_timeout + seconds + 40
    try:
        server.start()
        busy = _proc.wait_until_quiet(QUIET_CORES)
        if busy >= QUIET_CORES:
            level.notes.append(f"machine busy ({busy:.1f} cores) before the run")
        argv = [sys.executable, "-m", "bench.watch_client", "--target", server.target]
        argv += ["--streams", str(streams), "--seconds", str(seconds)]
        argv += ["--open-timeout", str(open_timeout), "--ramp", str(ramp)]
        client = subprocess.Popen(
            argv, cwd=REPO, stdout=subprocess.PIPE, text=True, start_new_session=True
        )
        # The client bounds itself; this is for a client that hangs all the same.
        watchdog = threading.Timer(timeout, client.kill)
        watchdog.start()
        try:
            assert client.stdout is not None
            cpu_before = started = math.nan
            for line in client.stdout:
                if line.strip() == "measuring":
                    started = time.monotonic()
                    cpu_before = _proc.cpu_seconds(server.tree())
                elif line.startswith("{"):
                    pids = server.tree()
                    level.server_cores = (_proc.cpu_seconds(pids) - cpu_before) / (
                        time.monotonic() - started
                    )
                    level.server_rss_mib = _proc.rss_bytes(pids) / 2**20
                    level.result = json.loads(line)
            client.wait(10)
        finally:
            watchdog.cancel()
        if not level.result:
            level.error = f"the watch client gave no result (exit {client.returncode})"
    except (ServerError, OSError, subprocess.TimeoutExpired) as error:
        level.error = str(error)
    finally:
        if client is not None and client.poll() is None:
            client.kill()
            client.wait(5)
        server.stop()
        tracebacks = _count_in_log(server.log_path, "Traceback")
        if tracebacks:
            level.notes.append(f"{tracebacks} 'Traceback' lines in the server log")
    return level


def _watch_line(level: WatchLevel) -> str:
    how = f"ramp {level.ramp:.0f}/s" if level.ramp else "all at once"
    head = f"watches {level.streams:>5} ({how}, {level.engine}):"
    if level.error is not None:
        return f"{head} FAILED: {level.error[:300]}"
    r = level.result
    return (
        f"{head} opened {r['opened']} in {r['open_seconds']:.1f} s, ticks "
        f"{r['ticks_received']}/{r['ticks_expected']}, lateness p50 {r['lateness_p50_ms']:.0f} "
        f"ms p99 {r['lateness_p99_ms']:.0f} ms, server {level.server_cores:.2f} cores "
        f"{level.server_rss_mib:.0f} MiB, client {r['client_cpu_cores']:.2f} cores, "
        f"errors {r['errors'] or 'none'} -> {'holds' if level.holds else 'does not hold'}"
        + (f" [{'; '.join(level.notes)}]" if level.notes else "")
    )


def run_watches(plan: Plan, work: Path, out: Callable[[str], None]) -> list[WatchLevel]:
    """Every level, ramped; then one burst that opens its streams all at once."""
    levels: list[WatchLevel] = []
    runs = [(n, WATCH_RAMP) for n in plan.watch_levels]
    if plan.burst:
        runs.append((BURST_STREAMS, 0.0))
    for streams, ramp in runs:
        logger.info("watches: %d streams", streams)
        level = watch_level(streams, ramp, plan.watch_seconds, work)
        levels.append(level)
        out(_watch_line(level))
    # The native engine writes each update in Rust: what it does where grpcio's
    # per-message path is the limit.
    native = next(c for c in CHRONO_CONFIGS if c.expect_mapped and c.processes == 1)
    if available((native,))[0]:
        for streams in sorted(plan.watch_levels)[-2:]:
            logger.info("watches: %d streams, native engine", streams)
            level = watch_level(streams, WATCH_RAMP, plan.watch_seconds, work, native)
            levels.append(level)
            out(_watch_line(level))
    return levels


# --- client library overhead ---------------------------------------------------------


def run_client_overhead(plan: Plan, work: Path, out: Callable[[str], None]) -> ClientOverhead:
    """Sequential GetTime through each, interleaved, against one chrono time-service."""
    overhead = ClientOverhead()
    server = Server(CHRONO_CONFIGS[0], work / "client-overhead.log")
    try:
        server.start()
        # Imported here: the library is under active work, and a broken import should
        # cost this measurement only.
        from client import TimeClient

        request = pb.GetTimeRequest(time_zone=_load.ZONE)
        with TimeClient(server.target) as library, grpc.insecure_channel(server.target) as ch:
            stub = pb_grpc.TimeServiceStub(ch)
            calls: dict[str, Callable[[], object]] = {
                CLIENT: lambda: library.get_time(_load.ZONE),
                RAW: lambda: stub.GetTime(request),
            }
            for call in calls.values():
                for _ in range(200):
                    call()
            for round_ in range(plan.client_rounds):
                order = list(calls) if round_ % 2 == 0 else list(reversed(calls))
                for name in order:
                    rate = _calls_per_second(calls[name], plan.client_seconds)
                    overhead.rates.setdefault(name, []).append(rate)
                    out(f"client overhead round {round_ + 1}: {name:<28} {rate:8,.0f} calls/s")
    except (ServerError, OSError, ImportError, grpc.RpcError) as error:
        overhead.error = f"{type(error).__name__}: {error}"
        out(f"client overhead FAILED: {overhead.error}")
    finally:
        server.stop()
    return overhead


def _calls_per_second(
    call: Callable[[], object], seconds: float, max_calls: int = 200_000
) -> float:
    count = 0
    started = time.perf_counter()
    deadline = started + seconds
    while count < max_calls and time.perf_counter() < deadline:
        call()
        count += 1
    return count / (time.perf_counter() - started)


# --- profile -------------------------------------------------------------------------


def _py_spy() -> str | None:
    local = Path(sys.executable).parent / "py-spy"
    return str(local) if local.exists() else shutil.which("py-spy")


def _frame_name(frame: str) -> str:
    # "function (path/file.py:123)" -> "function (file.py)": lines of one function add up.
    match = re.fullmatch(r"(.*) \((.*?)(?::\d+)?\)", frame)
    if match is None:
        return frame
    return f"{match.group(1)} ({Path(match.group(2)).name})"


# Innermost frames that mean a thread is blocked in the kernel, not working: grpc's
# poller thread and the event loop wait in epoll_wait, grpc's locks in futex (syscall).
WAITING = {"epoll_wait", "epoll_pwait", "poll", "ppoll", "select", "syscall", "futex"}


# Extension modules that do a Python function's work in C, most telling first: grpc's
# Cython core, protobuf's upb messages, datetime.
EXTENSIONS = ("cygrpc", "_message", "_datetimemodule")


def _is_python(frame: str) -> bool:
    return frame.endswith(".py)")


def _module(frame: str) -> str:
    """The library or C file a native frame is in: "cygrpc", "libc", "_asynciomodule"."""
    inside = frame[frame.rfind("(") + 1 : -1]
    return Path(inside).name.split(".")[0]


def aggregate_collapsed(
    text: str, top: int = 15
) -> tuple[int, int, list[tuple[str, int]], list[tuple[str, int]]]:
    """Samples, waiting samples, and the top busy functions: by own time, and by Python.

    py-spy's raw format is one collapsed stack a line, ``frame;frame;... count``,
    outermost first. Samples whose innermost frame is a wait (:data:`WAITING`) count as
    waiting and are left out of both lists. "Own" is the innermost frame. The Python
    view charges a sample to the innermost Python function on the stack, followed by the
    extension it called into, if any (``Handle._run (events.py) -> cygrpc``: grpc's
    Cython code, whose frames py-spy cannot name).
    """
    own: Counter[str] = Counter()
    python: Counter[str] = Counter()
    samples = waiting = 0
    for line in text.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        # --subprocesses puts a "process PID:..." frame at the root of every stack.
        frames = [_frame_name(f) for f in stack.split(";") if not f.startswith("process ")]
        if not frames:
            continue
        samples += count
        if frames[-1].split(" (")[0] in WAITING:
            waiting += count
            continue
        own[frames[-1]] += count
        depth = next((i for i in range(len(frames) - 1, -1, -1) if _is_python(frames[i])), -1)
        if depth < 0:
            python["(no Python frame)"] += count
        elif depth == len(frames) - 1:
            python[frames[depth]] += count
        else:
            below = [_module(f) for f in frames[depth + 1 :]]
            # Name the extension doing the work, not the interpreter glue on top of it.
            module = next((m for m in EXTENSIONS if m in below), below[0])
            python[f"{frames[depth]} -> {module}"] += count
    return samples, waiting, own.most_common(top), python.most_common(top)


def _h2load_into(results: list[_load.LoadResult], url: str, body: Path, seconds: float) -> None:
    try:
        results.append(_load.h2load(url, body, connections=16, streams=8, duration=seconds))
    except _load.LoadError as error:
        logger.warning("h2load during the profile: %s", error)


def run_profile(plan: Plan, work: Path, out: Callable[[str], None], keep_dir: Path) -> Profile:
    """py-spy on a chrono time-service while h2load drives GetTime at it."""
    profile = Profile()
    py_spy = _py_spy()
    if py_spy is None:
        profile.error = "py-spy is not installed"
        out(f"profile: {profile.error}")
        return profile
    body = _load.write_get_time_body(work / "get_time.body")
    server = Server(CHRONO_CONFIGS[0], work / "profile.log")
    try:
        server.start()
        url = f"http://{server.target}{_load.GET_TIME_PATH}"
        for native in (True, False):
            raw = keep_dir / f"profile{'-native' if native else ''}.txt"
            argv = [py_spy, "record", "--pid", str(server.pid), "--format", "raw"]
            argv += ["--duration", str(round(plan.profile_seconds)), "--rate", "100"]
            argv += ["--subprocesses", "--output", str(raw)] + (["--native"] if native else [])
            load: list[_load.LoadResult] = []
            # The load runs a little longer than the recording, on both sides.
            loader = threading.Thread(
                target=_h2load_into, args=(load, url, body, plan.profile_seconds + 2)
            )
            loader.start()
            time.sleep(1)
            done = subprocess.run(
                argv,
                capture_output=True,
                text=True,
                timeout=plan.profile_seconds + 60,
                check=False,
            )
            loader.join(plan.profile_seconds + 60)
            if done.returncode == 0 and raw.exists():
                shown = [{str(server.pid): "PID", str(raw): "FILE"}.get(a, a) for a in argv]
                profile.command = shlex.join([Path(argv[0]).name, *shown[1:]])
                profile.seconds = plan.profile_seconds
                profile.samples, profile.waiting, profile.own, profile.python = aggregate_collapsed(
                    raw.read_text()
                )
                profile.rps = load[0].requests_per_second if load else math.nan
                profile.raw_file = str(raw)
                out(f"profile: py-spy's raw stacks are in {raw}")
                profile.error = None
                break
            profile.error = f"py-spy exited {done.returncode}: {done.stderr.strip()[-300:]}"
            logger.warning("profile%s failed: %s", " --native" if native else "", profile.error)
    except (ServerError, OSError, _load.LoadError, subprocess.TimeoutExpired) as error:
        profile.error = str(error)
    finally:
        server.stop()
    for line in _report.profile_lines(profile):
        out(line)
    return profile


# --- main ----------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmarks and write the report; the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args, plan = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="bench: %(message)s", stream=sys.stderr)
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    command = shlex.join([os.environ.get("BENCH_COMMAND", "python -m bench.run"), *argv])

    def out(line: str) -> None:
        print(line, flush=True)

    missing_tools = [t for t in ("h2load", "wrk") if shutil.which(t) is None]
    if missing_tools and {"throughput", "http", "rpc-cost", "profile"} & set(plan.sections):
        logger.error("missing %s: scripts/bench installs them", " and ".join(missing_tools))
        return 1
    work = Path(tempfile.mkdtemp(prefix="chrono-bench-"))
    started = time.monotonic()
    report = _report.Report(command=command, plan_text=_plan_text(plan))
    http: http_load.HttpReport | None = None
    rpc: rpc_cost.RpcCostReport | None = None
    try:
        if "throughput" in plan.sections:
            configs, report.unavailable = available(CONFIGS)
            if args.config:
                configs = [c for c in configs if any(k in c.key for k in args.config)]
            for key, why in report.unavailable.items():
                out(f"not available: {key}: {why}")
            report.throughput = run_throughput(plan, configs, work, out)
        if "watches" in plan.sections:
            report.watches = run_watches(plan, work, out)
        if "client" in plan.sections:
            report.client = run_client_overhead(plan, work, out)
        if "http" in plan.sections:
            http = http_load.run(plan.duration, work, out)
        if "rpc-cost" in plan.sections:
            seconds = min(plan.duration, rpc_cost.DEFAULT_SECONDS)
            rpc = rpc_cost.run(seconds, plan.rounds, work, out)
        if "profile" in plan.sections:
            # Its own folder, kept: the raw stacks are worth opening after the run.
            keep = Path(tempfile.mkdtemp(prefix="chrono-bench-profile-"))
            report.profile = run_profile(plan, work, out, keep)
        report.elapsed = time.monotonic() - started
        for line in report.summary_lines():
            out(line)
        args.out.mkdir(parents=True, exist_ok=True)
        written = report.write(args.out)
        if http is not None:
            section = ["", f"## HTTP/JSON: {http_load.TIME_PATH} against Flask on gunicorn", ""]
            section += http.lines()
            for line in section:
                out(line)
            with written[0].open("a") as markdown:
                markdown.write("\n".join([*section, ""]))
        if rpc is not None:
            for line in rpc.markdown():
                out(line)
            with written[0].open("a") as markdown:
                markdown.write("\n".join([*rpc.markdown(), ""]))
        out(f"wrote {' and '.join(map(str, written))}")
    finally:
        if args.keep:
            out(f"server logs and h2load logs kept in {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    return 0


def _plan_text(plan: Plan) -> str:
    return (
        f"{plan.rounds} round(s); throughput runs of {plan.duration:g} s after a "
        f"{plan.warmup:g} s warm-up; one-call-in-flight runs of {plan.latency_duration:g} s; "
        f"watch levels {', '.join(map(str, plan.watch_levels))} measured for "
        f"{plan.watch_seconds} ticks each; client-overhead runs of {plan.client_seconds:g} s "
        f"x {plan.client_rounds} round(s)"
    )


if __name__ == "__main__":
    sys.exit(main())
