"""Load from the client library for the network-namespace test, run inside the client's namespace.

Usage: python -m tests.netns_load TARGET SECONDS THREADS
Prints ``ok N`` every 100 successful calls, then one JSON line: the outcome of every call.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections import Counter

import grpc

from client import TimeClient

# Detect a dead link within about 2 s (ping every 1 s, 1 s to answer), well inside the
# 5 s deadline, so that calls caught on it fail over by the retry policy instead of
# waiting out their deadline. The servers allow pings this often.
FAST_KEEPALIVE = [("grpc.keepalive_time_ms", 1000), ("grpc.keepalive_timeout_ms", 1000)]


def main() -> int:
    """Call GetTime from several threads for a while; report what happened."""
    target, seconds, threads = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
    outcomes: Counter[str] = Counter()
    slowest = 0.0
    lock = threading.Lock()
    end = time.monotonic() + seconds
    with TimeClient(target, timeout=5.0, wait_for_ready=True, options=FAST_KEEPALIVE) as client:

        def load() -> None:
            nonlocal slowest
            while time.monotonic() < end:
                started = time.monotonic()
                try:
                    client.get_time()
                    outcome = "OK"
                except grpc.RpcError as error:
                    outcome = error.code().name
                took = time.monotonic() - started
                with lock:
                    outcomes[outcome] += 1
                    slowest = max(slowest, took)
                    if outcome == "OK" and outcomes["OK"] % 100 == 0:
                        sys.stdout.write(f"ok {outcomes['OK']}\n")
                        sys.stdout.flush()

        workers = [threading.Thread(target=load) for _ in range(threads)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
    sys.stdout.write(json.dumps({"outcomes": outcomes, "slowest": slowest}) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
