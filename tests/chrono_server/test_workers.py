"""--workers N: several processes on one port, supervised, drained together."""

from __future__ import annotations

import itertools
import os
import re
import signal
import urllib.request
from collections.abc import Iterator

import grpc
import pytest
from prometheus_client.parser import text_string_to_metric_families

from chrono.time.v1 import time_service_pb2 as pb
from chrono.time.v1 import time_service_pb2_grpc as pb_grpc
from chrono_server.observe import WORKER
from tests.chrono_server.helpers import ServiceProcess


@pytest.fixture
def two_workers() -> Iterator[tuple[ServiceProcess, int]]:
    """A time-service with two workers on a free port, and that port."""
    argv = ["-m", "time_service", "--port", "0", "--workers", "2", "--grace", "2"]
    with ServiceProcess([*argv, "--metrics-port", "0"]) as process:
        port = process.wait_for_port()
        yield process, port


def worker_pids(process: ServiceProcess) -> dict[int, int]:
    """Worker index -> pid, from the latest 'worker N started (pid P)' lines."""
    pids = {}
    for line in process.lines:
        if match := re.search(r"worker (\d+) started \(pid (\d+)\)", line):
            pids[int(match.group(1))] = int(match.group(2))
    return pids


def answering_workers(port: int, connections: int = 40) -> set[str]:
    """The workers that answered one call on each of ``connections`` new connections."""
    names = set()
    for _ in range(connections):
        # A local subchannel pool: a new connection per channel, as separate clients make.
        options = [("grpc.use_local_subchannel_pool", 1)]
        with grpc.insecure_channel(f"127.0.0.1:{port}", options=options) as channel:
            _, call = pb_grpc.TimeServiceStub(channel).GetTime.with_call(
                pb.GetTimeRequest(), timeout=5, wait_for_ready=True
            )
        names |= {str(value) for key, value in call.trailing_metadata() or () if key == WORKER}
    return names


def test_calls_spread_over_the_workers(two_workers: tuple[ServiceProcess, int]) -> None:
    """New connections land on both workers, each naming itself in the trailers."""
    process, port = two_workers
    names = answering_workers(port)
    pids = worker_pids(process)
    assert {int(name.rsplit(":", 1)[1]) for name in names} == set(pids.values())


def test_killed_worker_is_replaced(two_workers: tuple[ServiceProcess, int]) -> None:
    """After kill -9 of a worker the supervisor starts a new one and both serve again."""
    process, port = two_workers
    victim = worker_pids(process)[0]
    os.kill(victim, signal.SIGKILL)
    process.wait_for_line(rf"worker 0 \(pid {victim}\) died with status -9")
    process.wait_for_line(r"worker 0 serving")
    pids = worker_pids(process)
    assert victim not in pids.values()
    names = answering_workers(port)
    assert {int(name.rsplit(":", 1)[1]) for name in names} == set(pids.values())


def test_sigterm_drains_every_worker_and_exits_0(two_workers: tuple[ServiceProcess, int]) -> None:
    """SIGTERM reaches each worker, each drains and exits 0, then the supervisor exits 0."""
    process, port = two_workers
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        stream = pb_grpc.TimeServiceStub(channel).WatchTime(pb.WatchTimeRequest(), timeout=10)
        next(stream)
        process.process.send_signal(signal.SIGTERM)
        # A tick may still come while the drain lets clients move away (--drain-delay).
        with pytest.raises(grpc.RpcError) as failure:
            list(itertools.islice(stream, 3))
    # A watch open during the drain ends telling the caller to reconnect.
    assert failure.value.code() == grpc.StatusCode.UNAVAILABLE
    assert process.finish() == 0
    exits = [line for line in process.lines if re.search(r"worker \d exited \(status 0\)", line)]
    assert len(exits) == 2, process.lines
    assert process.lines[-1].endswith("time-service exited cleanly")


def test_metrics_add_up_over_the_workers(two_workers: tuple[ServiceProcess, int]) -> None:
    """The supervisor's /metrics sums the calls every worker handled."""
    process, port = two_workers
    assert len(answering_workers(port, connections=20)) == 2
    (metrics_port,) = (
        int(match.group(1))
        for line in process.lines
        if (match := re.search(r"metrics on http://127\.0\.0\.1:(\d+)/", line))
    )
    with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5) as reply:
        text = reply.read().decode()
    handled = sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "grpc_server_handled_total"
        and sample.labels["grpc_method"] == "GetTime"
        and sample.labels["grpc_code"] == "OK"
    )
    assert handled == 20


def loaded_grpc(pid: int) -> bool:
    """Whether process ``pid`` has grpc's C extension mapped, i.e. imported grpc."""
    with open(f"/proc/{pid}/maps", encoding="utf-8") as maps:
        return any("cygrpc" in line for line in maps)


def test_the_supervisor_never_loads_grpc(two_workers: tuple[ServiceProcess, int]) -> None:
    """With --workers 2 the workers have grpc loaded and the supervising parent does not."""
    process, port = two_workers
    assert answering_workers(port, connections=4)
    assert not loaded_grpc(process.process.pid)
    assert all(loaded_grpc(pid) for pid in worker_pids(process).values())
