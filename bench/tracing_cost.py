"""What tracing costs per call: server and client CPU per GetTime, tracing off and on.

``python -m bench.tracing_cost [--calls 3000] [--rounds 3]`` starts an OTLP/gRPC receiver
(this module again, in a process of its own, so that its work is nobody's measurement), then
for each round and each mode:

- the server: ``time-service --port 0`` at INFO (the access log on, as in production),
  without and then with ``--otlp-endpoint`` pointing at the receiver; h2load sends
  ``--calls`` GetTime calls over 4 connections, each with a W3C ``traceparent``, and the
  server's CPU time (user + system, from /proc) over those calls is divided by them;
- the client: the blocking chrono client makes ``--calls`` GetTime calls one after another
  to an untraced server, without and then with ``OTEL_EXPORTER_OTLP_ENDPOINT`` set, and this
  process's CPU time over them is divided by them.

It prints the median per-call CPU of each, the ratio on/off, and the spans the receiver got.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from bench._load import GET_TIME_PATH, GRPC_HEADERS, write_get_time_body
from bench._proc import cpu_seconds
from bench._servers import REPO

TRACEPARENT = "traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
WARM_CALLS = 300


def _untraced_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TIME_SERVICE_", "OTEL_"))}
    return {**env, **extra}


class Receiver:
    """The OTLP receiver in a process of its own; asked for its span count over a pipe."""

    def __init__(self) -> None:
        """Start it and read the port it serves on."""
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bench.tracing_cost", "--receiver"],
            cwd=REPO,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        self.endpoint = self.process.stdout.readline().strip()

    def spans(self) -> int:
        """How many spans it has received so far."""
        assert self.process.stdin is not None
        assert self.process.stdout is not None
        self.process.stdin.write("count\n")
        self.process.stdin.flush()
        return int(self.process.stdout.readline())

    def stop(self) -> None:
        """End it: it exits when its input closes."""
        assert self.process.stdin is not None
        self.process.stdin.close()
        self.process.wait(30)


def serve_receiver() -> int:
    """Run as the receiver: print its endpoint, then its span count for each line read."""
    sys.path.insert(0, str(REPO))
    from tests.otlp import OtlpReceiver

    with OtlpReceiver() as receiver:
        print(receiver.endpoint, flush=True)
        for _ in sys.stdin:
            print(len(receiver.spans()), flush=True)
    return 0


@contextmanager
def time_service(
    flags: Sequence[str], log: Path, env: dict[str, str] | None = None
) -> Iterator[tuple[int, int]]:
    """A time-service process with ``flags`` and ``env``: its pid and port; SIGTERM at the end."""
    command = [sys.executable, "-m", "time_service", "--port", "0", "--log-level", "INFO"]
    with log.open("w") as stderr:
        server = subprocess.Popen(
            [*command, *flags],
            cwd=REPO,
            env=env if env is not None else _untraced_env(),
            stderr=stderr,
            stdin=subprocess.DEVNULL,
        )
    try:
        deadline = time.monotonic() + 30
        while not (found := re.search(r"listening on 127\.0\.0\.1:(\d+) ", log.read_text())):
            if time.monotonic() > deadline or server.poll() is not None:
                raise SystemExit(f"time-service did not start: {log.read_text()[-2000:]}")
            time.sleep(0.05)
        yield server.pid, int(found.group(1))
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(30)


def h2load(port: int, body: Path, calls: int) -> None:
    """Send ``calls`` GetTime calls; fail unless every one succeeds."""
    argv = ["h2load", "-n", str(calls), "-c", "4", "-m", "1", "-d", str(body)]
    for header in (*GRPC_HEADERS, TRACEPARENT):
        argv += ["-H", header]
    argv.append(f"http://127.0.0.1:{port}{GET_TIME_PATH}")
    out = subprocess.run(argv, capture_output=True, text=True, timeout=300).stdout
    counts = re.search(r"requests: \d+ total, \d+ started, \d+ done, (\d+) succ", out)
    if counts is None or int(counts.group(1)) != calls:
        raise SystemExit(f"h2load did not complete {calls} calls: {out[-500:]}")


def server_cost(
    flags: Sequence[str], body: Path, calls: int, log: Path, env: dict[str, str] | None = None
) -> float:
    """The server's CPU microseconds per GetTime call with ``flags`` and ``env``."""
    with time_service(flags, log, env) as (pid, port):
        h2load(port, body, WARM_CALLS)
        before = cpu_seconds([pid])
        h2load(port, body, calls)
        return (cpu_seconds([pid]) - before) / calls * 1e6


def client_cost(target: str, calls: int, endpoint: str | None) -> float:
    """The CPU microseconds per blocking GetTime call here, traced to ``endpoint`` (None: off)."""
    import client

    if endpoint is None:
        os.environ.pop("OTEL_EXPORTER_OTLP_ENDPOINT", None)
    else:
        os.environ["OTEL_EXPORTER_OTLP_ENDPOINT"] = endpoint
    with client.TimeClient(target) as time_client:
        for _ in range(WARM_CALLS):
            time_client.get_time("Europe/Paris")
        before = time.process_time()
        for _ in range(calls):
            time_client.get_time("Europe/Paris")
        spent = time.process_time() - before
    return spent / calls * 1e6


def _per_call(label: str, rounds: list[float], off: list[float]) -> str:
    median, baseline = statistics.median(rounds), statistics.median(off)
    cost = f"{median:.0f} µs"
    if rounds is not off:
        cost += f" (x{median / baseline:.2f}, {median - baseline:+.0f} µs)"
    return f"  {label:<30} {cost:<28} rounds {[round(value) for value in rounds]}"


def main(argv: Sequence[str] | None = None) -> int:
    """Measure both sides, tracing off and on, and print the medians; the exit status."""
    parser = argparse.ArgumentParser(prog="bench.tracing_cost", description=__doc__)
    parser.add_argument("--calls", type=int, default=3000, help="measured calls per run")
    parser.add_argument("--rounds", type=int, default=3, help="runs of each mode")
    parser.add_argument("--receiver", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.receiver:
        return serve_receiver()
    work = Path(tempfile.mkdtemp(prefix="bench-tracing-"))
    body = write_get_time_body(work / "body")
    receiver = Receiver()
    try:
        traced = ["--otlp-endpoint", receiver.endpoint]
        modes: list[tuple[str, list[str], dict[str, str] | None]] = [
            ("off", [], None),
            ("on", traced, None),
            # The interceptor and the context, without a span recorded or exported.
            (
                "on, sampled out (always_off)",
                traced,
                _untraced_env(OTEL_TRACES_SAMPLER="always_off"),
            ),
        ]
        server: dict[str, list[float]] = {label: [] for label, _, _ in modes}
        for round_ in range(args.rounds):
            for index, (label, flags, env) in enumerate(modes):
                log = work / f"server-{round_}-{index}.log"
                server[label].append(server_cost(flags, body, args.calls, log, env))
        print(f"server CPU per GetTime ({args.calls} calls, median of {args.rounds} rounds):")
        for label, rounds in server.items():
            print(_per_call(label, rounds, server["off"]), flush=True)
        served = receiver.spans()
        expected = args.rounds * (args.calls + WARM_CALLS)
        print(f"  spans the receiver got: {served} (sampled calls: {expected})", flush=True)
        side: dict[str, list[float]] = {"off": [], "on": []}
        with time_service([], work / "client.log") as (_, port):
            target = f"127.0.0.1:{port}"
            for _ in range(args.rounds):
                side["off"].append(client_cost(target, args.calls, None))
                side["on"].append(client_cost(target, args.calls, receiver.endpoint))
        print(f"client CPU per blocking GetTime ({args.calls} calls, an untraced server):")
        for label, rounds in side.items():
            print(_per_call(label, rounds, side["off"]))
        print(f"  spans the receiver got: {receiver.spans() - served}")
    finally:
        receiver.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
