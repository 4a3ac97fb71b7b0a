"""GetTime latency with and without parallel /metrics scrapers, against one time-service.

``python -m bench.scrape_load [--seconds 15] [--scrapers 200] [--rps 250]`` starts
``time-service --port 0 --metrics-port 0`` (INFO log: the access log is on, as in
production), drives GetTime with h2load at a fixed rate (4 connections at ``--rps`` each),
once alone and once while wrk keeps ``--scrapers`` connections scraping /metrics, and
prints p50/p99 from h2load's per-request log, the server's threads and CPU, and what the
scrapers got. The README's Metrics figures come from it.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from bench._load import percentile, write_get_time_body
from bench._proc import cpu_seconds
from bench._servers import REPO


def _wait_for(path: Path, pattern: str, timeout: float = 30) -> re.Match[str]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if match := re.search(pattern, path.read_text()):
            return match
        time.sleep(0.05)
    raise SystemExit(f"no {pattern!r} in {path}: {path.read_text()[-2000:]}")


def _threads(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Threads:"):
            return int(line.split()[1])
    return -1


def _h2load(port: int, body: Path, seconds: int, rps: int, log: Path) -> tuple[int, list[float]]:
    """Calls that succeeded, and the latencies (ms) of the successful ones, ascending."""
    argv = ["h2load", "-c", "4", "-m", "1", "--rps", str(rps), "-D", f"{seconds}s"]
    argv += ["-d", str(body), "-H", "content-type: application/grpc", "-H", "te: trailers"]
    argv += [f"--log-file={log}", f"http://127.0.0.1:{port}/chrono.time.v1.TimeService/GetTime"]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 30).stdout
    if not (counts := re.search(r"requests: \d+ total, \d+ started, \d+ done, (\d+) succ", out)):
        raise SystemExit(f"cannot read h2load's output: {out[-500:]}")
    times = sorted(
        int(fields[2]) / 1000
        for line in log.read_text().splitlines()
        if len(fields := line.split("\t")) >= 3 and fields[1] == "200"
    )
    return int(counts.group(1)), times


def _line(label: str, ok: int, times: list[float], threads: int, cpu: float) -> str:
    return (
        f"{label}: {ok} calls ok, p50 {percentile(times, 0.5):.2f} ms, "
        f"p99 {percentile(times, 0.99):.2f} ms, threads {threads}, server CPU {cpu:.2f} s"
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run both phases and print their results; the exit status."""
    parser = argparse.ArgumentParser(prog="bench.scrape_load", description=__doc__)
    parser.add_argument("--seconds", type=int, default=15, help="length of each phase")
    parser.add_argument("--scrapers", type=int, default=200, help="wrk connections")
    parser.add_argument("--rps", type=int, default=250, help="GetTime calls/s per connection")
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="bench-scrape-"))
    body = write_get_time_body(work / "body")
    log = work / "server.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("TIME_SERVICE_")}
    command = [sys.executable, "-m", "time_service", "--port", "0", "--metrics-port", "0"]
    with log.open("w") as stderr:
        server = subprocess.Popen(
            command, cwd=REPO, env=env, stderr=stderr, stdin=subprocess.DEVNULL
        )
    try:
        port = int(_wait_for(log, r"listening on 127\.0\.0\.1:(\d+) ").group(1))
        metrics = int(_wait_for(log, r"metrics on http://127\.0\.0\.1:(\d+)/").group(1))
        _h2load(port, body, 2, args.rps, work / "warm.log")
        before = cpu_seconds([server.pid])
        ok, alone = _h2load(port, body, args.seconds, args.rps, work / "alone.log")
        cpu = cpu_seconds([server.pid]) - before
        print(_line("alone", ok, alone, _threads(server.pid), cpu), flush=True)
        scrape = ["wrk", "-c", str(args.scrapers), "-t", "2", "-d", f"{args.seconds + 2}s"]
        scrape += ["--timeout", "10s", f"http://127.0.0.1:{metrics}/metrics"]
        wrk = subprocess.Popen(
            scrape,
            stdout=subprocess.PIPE,
            text=True,
        )
        peak = [0]

        def sample() -> None:
            while wrk.poll() is None:
                peak[0] = max(peak[0], _threads(server.pid))
                time.sleep(0.2)

        sampler = threading.Thread(target=sample)
        sampler.start()
        # The scrapers' connections are up before the calls are timed.
        time.sleep(1)
        before = cpu_seconds([server.pid])
        ok, scraped = _h2load(port, body, args.seconds, args.rps, work / "busy.log")
        cpu = cpu_seconds([server.pid]) - before
        out, _ = wrk.communicate(timeout=60)
        sampler.join()
        print(_line("with scrapers", ok, scraped, peak[0], cpu))
        scrapes = re.search(r"(\d+) requests in ([\d.]+)s", out)
        errors = re.search(r"Socket errors: .*", out)
        print(
            f"scrapes: {scrapes.group(1) if scrapes else '?'} in "
            f"{scrapes.group(2) if scrapes else '?'} s; "
            f"{errors.group(0) if errors else 'no socket errors'}"
        )
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
