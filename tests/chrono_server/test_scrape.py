"""/metrics under load: bounded, timed out, cached, and never in the way of gRPC calls."""

from __future__ import annotations

import contextlib
import gzip
import http.client
import re
import select
import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import grpc
import pytest
from prometheus_client import CollectorRegistry, Counter
from prometheus_client.parser import text_string_to_metric_families

from chrono.time.v1 import time_service_pb2 as pb
from chrono.time.v1 import time_service_pb2_grpc as pb_grpc
from chrono_server import scrape
from chrono_server.scrape import MetricsEndpoint, MetricsEndpointThread, Pages
from tests.chrono_server.helpers import ServiceProcess, eventually, running
from tests.servers import server_settings
from time_service.server import SPEC as TIME_SPEC

# Every client call here is bounded by this, so a broken server fails the test, not hangs it.
CLIENT_TIMEOUT = 15.0


def get(
    port: int, path: str = "/metrics", method: str = "GET", headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    """One request with http.client: status, headers (lower-case names) and body."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=CLIENT_TIMEOUT)
    try:
        connection.request(method, path, headers=headers or {})
        response = connection.getresponse()
        body = response.read()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, body
    finally:
        connection.close()


def raw(port: int, request: bytes) -> bytes:
    """Send ``request`` as is on a new connection; everything the server answers."""
    with socket.create_connection(("127.0.0.1", port), timeout=CLIENT_TIMEOUT) as sock:
        sock.sendall(request)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def samples(body: bytes) -> dict[str, float]:
    """Every unlabelled sample of a text-format page, by name."""
    return {
        sample.name: sample.value
        for family in text_string_to_metric_families(body.decode())
        for sample in family.samples
        if not sample.labels
    }


def proc_count(pid: int, what: str) -> int:
    """A process's threads ("threads") or open file descriptors ("fds"), from /proc."""
    if what == "fds":
        return len(list(Path(f"/proc/{pid}/fd").iterdir()))
    status = Path(f"/proc/{pid}/status").read_text()
    match = re.search(r"^Threads:\s+(\d+)$", status, re.MULTILINE)
    assert match is not None
    return int(match.group(1))


def idle_connections(port: int, count: int) -> list[socket.socket]:
    """``count`` connections to ``port`` that never send a byte, opened without waiting."""
    socks = []
    for _ in range(count):
        sock = socket.socket()
        sock.setblocking(False)
        # Beyond the listen queue the kernel holds the handshake back: do not wait for it.
        sock.connect_ex(("127.0.0.1", port))
        socks.append(sock)
    return socks


def dropped(socks: list[socket.socket], timeout: float) -> bool:
    """Whether the server closes at least one of ``socks`` within ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    watched = list(socks)
    while watched and (left := deadline - time.monotonic()) > 0:
        readable, _, _ = select.select(watched, [], [], left)
        for sock in readable:
            try:
                if sock.recv(1) == b"":
                    return True
            except ConnectionResetError:
                return True
            except BlockingIOError:
                continue
            except OSError:
                # Never connected (the kernel's queue was full): not one the server dropped.
                watched.remove(sock)
    return False


@contextlib.contextmanager
def endpoint(
    *,
    max_age: float = scrape.MAX_AGE,
    max_connections: int = scrape.MAX_CONNECTIONS,
    max_rate: float = scrape.MAX_RATE,
    timeout: float = scrape.TIMEOUT,
) -> Iterator[tuple[MetricsEndpointThread, Counter]]:
    """A started endpoint on 127.0.0.1:0 serving a registry with one counter; closed after."""
    registry = CollectorRegistry()
    counter = Counter("scrape_test", "What the test counted.", registry=registry)
    served = MetricsEndpointThread(
        MetricsEndpoint(
            "127.0.0.1",
            0,
            registry,
            max_age=max_age,
            max_connections=max_connections,
            max_rate=max_rate,
            timeout=timeout,
        )
    )
    served.start()
    try:
        yield served, counter
    finally:
        served.close()


@contextlib.contextmanager
def metrics_process(*flags: str) -> Iterator[tuple[ServiceProcess, int, int]]:
    """A time-service process with metrics on: it, its gRPC port and its metrics port."""
    argv = ["-m", "time_service", "--port", "0", "--metrics-port", "0", *flags]
    with ServiceProcess(argv) as process:
        port = process.wait_for_port()
        metrics_line = r"metrics on http://127\.0\.0\.1:(\d+)/metrics"
        found = [m for line in process.lines if (m := re.search(metrics_line, line))]
        metrics_port = int((found[0] if found else process.wait_for_line(metrics_line)).group(1))
        yield process, port, metrics_port


def test_many_parallel_scrapers_all_succeed_while_grpc_calls_do() -> None:
    """200 scrapers at once all get the page, gRPC calls succeed meanwhile, no thread is added."""
    with metrics_process() as (process, port, metrics_port):
        pid = process.process.pid
        threads_before = proc_count(pid, "threads")
        scrape_until = time.monotonic() + 3

        def scraper() -> list[int]:
            statuses = []
            for _ in range(20):
                status, _, body = get(metrics_port)
                statuses.append(status)
                assert b"grpc_server_started_total" in body
                if time.monotonic() > scrape_until:
                    break
            return statuses

        calls = 0
        peak_threads = threads_before
        with (
            ThreadPoolExecutor(200) as pool,
            grpc.insecure_channel(f"127.0.0.1:{port}") as channel,
        ):
            scrapers = [pool.submit(scraper) for _ in range(200)]
            stub = pb_grpc.TimeServiceStub(channel)
            while not all(f.done() for f in scrapers) and calls < 100_000:
                stub.GetTime(pb.GetTimeRequest(time_zone="Europe/Paris"), timeout=5)
                calls += 1
                peak_threads = max(peak_threads, proc_count(pid, "threads"))
            statuses = [status for future in scrapers for status in future.result()]
    assert len(statuses) >= 200
    assert set(statuses) == {200}
    assert calls > 0
    # grpc may start a helper thread under load; a thread per scraper would be +200.
    assert peak_threads <= threads_before + 2


def test_idle_connections_hold_no_thread_and_are_dropped() -> None:
    """500 idle connections add no thread, at most the bound in descriptors, and are closed."""
    with metrics_process() as (process, _, metrics_port):
        pid = process.process.pid
        threads_before = proc_count(pid, "threads")
        fds_before = proc_count(pid, "fds")
        socks = idle_connections(metrics_port, 500)
        try:
            peak_fds = fds_before
            # The server takes up to its bound within a second; sample while it does.
            sample_until = time.monotonic() + 1
            while time.monotonic() < sample_until:
                peak_fds = max(peak_fds, proc_count(pid, "fds"))
                time.sleep(0.05)
            assert proc_count(pid, "threads") == threads_before
            assert dropped(socks, scrape.TIMEOUT + 10)
            peak_fds = max(peak_fds, proc_count(pid, "fds"))
            assert proc_count(pid, "threads") == threads_before
        finally:
            for sock in socks:
                sock.close()
    # A thread (and descriptor) per connection would be +500.
    assert peak_fds <= fds_before + scrape.MAX_CONNECTIONS + 2


def test_connections_beyond_the_bound_wait_and_slow_ones_time_out() -> None:
    """40 stalled requests take at most 4 slots and no thread, are cut off, then scrapes work."""
    threads_before = threading.active_count()
    with endpoint(max_connections=4, timeout=0.5, max_rate=1000) as (served, _):
        socks = []
        try:
            for _ in range(40):
                sock = socket.create_connection(("127.0.0.1", served.port), timeout=5)
                # A request that never ends: the headers never get their blank line.
                sock.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")
                socks.append(sock)
            peak = 0
            for _ in range(20):
                peak = max(peak, served.endpoint.open_connections)
                time.sleep(0.01)
            assert 0 < peak <= 4
            # The endpoint thread only: none per connection.
            assert threading.active_count() == threads_before + 1
            assert dropped(socks, CLIENT_TIMEOUT)
        finally:
            for sock in socks:
                sock.close()
        status, _, _ = get(served.port)
        assert status == 200
    assert threading.active_count() == threads_before


def test_a_scrape_shows_counters_within_the_max_age() -> None:
    """Calls just made show on /metrics within MAX_AGE of being made."""
    with (
        running(TIME_SPEC, server_settings(metrics_port=0)) as server,
        grpc.insecure_channel(server.target) as channel,
    ):
        assert server.app.metrics_endpoint is not None
        metrics_port = server.app.metrics_endpoint.port
        stub = pb_grpc.TimeServiceStub(channel)

        def started() -> float:
            _, _, body = get(metrics_port)
            return sum(
                sample.value
                for family in text_string_to_metric_families(body.decode())
                for sample in family.samples
                if sample.name == "grpc_server_started_total"
                and sample.labels["grpc_method"] == "GetTime"
            )

        assert started() == 0
        for _ in range(5):
            stub.GetTime(pb.GetTimeRequest(), timeout=5)
        assert eventually(lambda: started() == 5, timeout=scrape.MAX_AGE + 5)


class SteppedClock:
    """A monotonic clock that moves only when the test moves it."""

    def __init__(self) -> None:
        """Start at 100 s."""
        self.now = 100.0

    def __call__(self) -> float:
        """The current reading."""
        return self.now


def test_pages_are_reused_until_max_age_then_rendered_anew() -> None:
    """Within max_age every scrape gets the same rendering; after it, one with the new counts."""
    registry = CollectorRegistry()
    counter = Counter("cached", "A counter.", registry=registry)
    clock = SteppedClock()
    pages = Pages(registry, max_age=1.0, clock=clock)
    first = pages.page("")
    counter.inc()
    clock.now += 0.99
    assert pages.page("") is first
    assert samples(first.body)["cached_total"] == 0
    clock.now += 0.01
    second = pages.page("")
    assert samples(second.body)["cached_total"] == 1
    assert pages.renders == 2


def test_no_choice_of_accept_header_renders_on_every_scrape() -> None:
    """Clients asking for ever new format versions get the plain format once the cache is full."""
    pages = Pages(CollectorRegistry(), max_age=1.0, clock=SteppedClock())
    for version in range(1, 50):
        pages.page(f"application/openmetrics-text; version=1.0.{version}")
    pages.page("application/openmetrics-text; version=x")
    assert pages.renders <= 5


def test_renders_at_most_once_per_max_age_under_parallel_scrapes() -> None:
    """Many scrapes within a short time share a handful of renderings."""
    with endpoint(max_age=60.0, max_rate=1000) as (served, counter):
        counter.inc()
        with ThreadPoolExecutor(20) as pool:
            pages = list(pool.map(lambda _: get(served.port)[2], range(100)))
    assert len(set(pages)) == 1
    assert served.endpoint.pages.renders == 1


def test_gzip_when_the_scraper_accepts_it() -> None:
    """Accept-Encoding: gzip gets the same page gzipped; without it, plain bytes."""
    with endpoint() as (served, counter):
        counter.inc(3)
        status, headers, body = get(served.port, headers={"Accept-Encoding": "gzip"})
        assert status == 200
        assert headers["content-encoding"] == "gzip"
        assert samples(gzip.decompress(body))["scrape_test_total"] == 3
        _, headers, plain = get(served.port)
        assert "content-encoding" not in headers
        assert plain == gzip.decompress(body)
        assert headers["content-type"].startswith("text/plain; version=0.0.4")


def test_openmetrics_when_the_scraper_asks_for_it() -> None:
    """Prometheus' Accept header gets the OpenMetrics format prometheus_client chooses."""
    accept = "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5"
    with endpoint() as (served, _):
        status, headers, body = get(served.port, headers={"Accept": accept})
    assert status == 200
    assert headers["content-type"].startswith("application/openmetrics-text; version=1.0.0")
    assert body.endswith(b"# EOF\n")


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/", 404),
        ("GET", "/metrics/extra", 404),
        ("POST", "/metrics", 405),
        ("HEAD", "/metrics", 405),
        ("GET", "/metrics?name[]=x", 200),
    ],
)
def test_only_get_on_the_metrics_path_is_served(method: str, path: str, status: int) -> None:
    """/metrics answers GET only (405 otherwise, naming GET); other paths are 404."""
    with endpoint() as (served, _):
        got, headers, _ = get(served.port, path, method)
    assert got == status
    assert headers["connection"] == "close"
    if status == 405:
        assert headers["allow"] == "GET"


@pytest.mark.parametrize(
    ("request_bytes", "status_line"),
    [
        (b"NONSENSE\r\n\r\n", b"HTTP/1.1 400 "),
        (b"GET /metrics HTTP/1.1\r\nno colon here\r\n\r\n", b"HTTP/1.1 400 "),
        (b"GET /metrics HTTP/1.1\r\nX-Big: " + b"a" * 10_000 + b"\r\n\r\n", b"HTTP/1.1 431 "),
        (b"GET /metrics HTTP/1.0\r\n\r\n", b"HTTP/1.1 200 "),
    ],
)
def test_malformed_or_oversized_requests_get_a_4xx(
    request_bytes: bytes, status_line: bytes
) -> None:
    """A garbled request is 400 and one with more than 8 KiB of headers 431; HTTP/1.0 is served."""
    with endpoint() as (served, _):
        assert raw(served.port, request_bytes).startswith(status_line)


def test_a_busy_port_fails_start_and_leaves_no_thread() -> None:
    """Starting on a port another socket holds raises OSError, with no thread left running."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        threads_before = threading.active_count()
        port = holder.getsockname()[1]
        busy = MetricsEndpointThread(MetricsEndpoint("127.0.0.1", port, CollectorRegistry()))
        with pytest.raises(OSError, match="in use"):
            busy.start()
        assert threading.active_count() == threads_before


def test_close_stops_answering_and_frees_the_port() -> None:
    """After close() the port refuses connections, even with a connection still open at close."""
    with endpoint() as (served, _):
        port = served.port
        lingering = socket.create_connection(("127.0.0.1", port), timeout=5)
    with lingering, pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=5).close()


def test_the_supervisor_endpoint_is_bounded_too() -> None:
    """The supervisor serves parallel scrapes and drops idle connections without adding threads."""
    with metrics_process("--workers", "2") as (process, _, metrics_port):
        pid = process.process.pid
        threads_before = proc_count(pid, "threads")
        with ThreadPoolExecutor(50) as pool:
            statuses = list(pool.map(lambda _: get(metrics_port)[0], range(100)))
        assert set(statuses) == {200}
        socks = idle_connections(metrics_port, 200)
        try:
            assert dropped(socks, scrape.TIMEOUT + 10)
            assert proc_count(pid, "threads") == threads_before
        finally:
            for sock in socks:
                sock.close()
