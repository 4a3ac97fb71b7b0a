"""What the server tells operators: access log lines, request ids, worker names, metrics."""

from __future__ import annotations

import json
import signal
import socket
import urllib.request
from collections.abc import Iterator

import grpc
import pytest
from prometheus_client.parser import text_string_to_metric_families

from chrono.time.v1 import time_service_pb2 as pb
from chrono.time.v1 import time_service_pb2_grpc as pb_grpc
from chrono_server.config import ServerSettings
from chrono_server.observe import REQUEST_ID, WORKER
from tests.chrono_server.helpers import ServiceProcess, access_lines, eventually, running, served
from tests.servers import ServerThread
from time_service.server import SPEC as TIME_SPEC

GET_TIME = "/chrono.time.v1.TimeService/GetTime"


def trailers(call: grpc.Call) -> dict[str, str]:
    """A finished call's trailing metadata as a dict."""
    return {key: str(value) for key, value in call.trailing_metadata() or ()}


def test_one_access_line_per_rpc_with_its_fields() -> None:
    """Each RPC logs one line: method, status code, duration, peer and request id."""
    with served() as (channel, process):
        stub = pb_grpc.TimeServiceStub(channel)
        stub.GetTime(pb.GetTimeRequest(time_zone="Asia/Tokyo"), timeout=5)
        with pytest.raises(grpc.RpcError):
            stub.GetTime(pb.GetTimeRequest(time_zone="Nowhere"), timeout=5)
    lines = access_lines(process)
    assert [(line["method"], line["code"]) for line in lines] == [
        (GET_TIME, "OK"),
        (GET_TIME, "INVALID_ARGUMENT"),
    ]
    for line in lines:
        assert line["peer"].startswith("ipv4:127.0.0.1:")
        assert 0 < float(line["duration_ms"]) < 5000


def test_request_id_is_echoed_or_made_up() -> None:
    """The caller's x-request-id comes back in the trailers and the log; without one, a new id."""
    with served() as (channel, process):
        stub = pb_grpc.TimeServiceStub(channel)
        _, given = stub.GetTime.with_call(
            pb.GetTimeRequest(), timeout=5, metadata=((REQUEST_ID, "req-42"),)
        )
        made_up = [stub.GetTime.with_call(pb.GetTimeRequest(), timeout=5)[1] for _ in range(3)]
    assert trailers(given)[REQUEST_ID] == "req-42"
    ids = [trailers(call)[REQUEST_ID] for call in made_up]
    assert len(set(ids)) == 3
    assert "req-42" not in ids
    assert [line["request_id"] for line in access_lines(process)] == ["req-42", *ids]


def test_trailers_name_the_worker(time_server: ServerThread) -> None:
    """Every response names the process that answered (host and pid)."""
    with grpc.insecure_channel(time_server.target) as channel:
        _, call = pb_grpc.TimeServiceStub(channel).GetTime.with_call(pb.GetTimeRequest(), timeout=5)
    host, pid = trailers(call)[WORKER].rsplit(":", 1)
    assert host == socket.gethostname()
    assert int(pid) > 0


def test_json_log_lines_carry_the_fields_as_keys() -> None:
    """With --log-format json every line is a JSON object; access lines have the RPC fields."""
    argv = ["-m", "time_service", "--port", "0", "--log-format", "json"]
    with ServiceProcess(argv) as process:
        port = process.wait_for_port()
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            pb_grpc.TimeServiceStub(channel).GetTime(
                pb.GetTimeRequest(), timeout=5, metadata=((REQUEST_ID, "json-1"),)
            )
        process.process.send_signal(signal.SIGTERM)
        assert process.finish() == 0
    entries = [json.loads(line) for line in process.lines if line.startswith("{")]
    assert len(entries) == len(process.lines), process.lines
    (access,) = [entry for entry in entries if entry["logger"] == "chrono_server.access"]
    assert access["method"] == GET_TIME
    assert access["code"] == "OK"
    assert access["request_id"] == "json-1"
    assert access["peer"].startswith("ipv4:127.0.0.1:")
    assert isinstance(access["duration_ms"], float)
    assert {"time", "level", "message"} <= access.keys()


@pytest.fixture
def metrics_server() -> Iterator[ServerThread]:
    """A TimeService server answering scrapes on a free port."""
    with running(TIME_SPEC, ServerSettings(port=0, grace=0.5, metrics_port=0)) as server:
        yield server


def scrape(server: ServerThread) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample on the server's /metrics, keyed by name and sorted labels."""
    assert server.app.metrics_endpoint is not None
    url = f"http://127.0.0.1:{server.app.metrics_endpoint.port}/metrics"
    with urllib.request.urlopen(url, timeout=5) as response:
        text = response.read().decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def labels(method: str, kind: str = "unary", **extra: str) -> tuple[tuple[str, str], ...]:
    """The label set of a TimeService method's samples."""
    base = {
        "grpc_service": "chrono.time.v1.TimeService",
        "grpc_method": method,
        "grpc_type": kind,
        **extra,
    }
    return tuple(sorted(base.items()))


def test_metrics_count_known_calls(metrics_server: ServerThread) -> None:
    """After known calls, /metrics shows them by method and code, with latency and messages."""
    with grpc.insecure_channel(metrics_server.target) as channel:
        stub = pb_grpc.TimeServiceStub(channel)
        for _ in range(3):
            stub.GetTime(pb.GetTimeRequest(), timeout=5)
        with pytest.raises(grpc.RpcError):
            stub.GetTime(pb.GetTimeRequest(time_zone="Nowhere"), timeout=5)
        updates = list(stub.WatchTime(pb.WatchTimeRequest(max_updates=2), timeout=10))
        assert len(updates) == 2
    handled = ("grpc_server_handled_total", labels("WatchTime", "server_stream", grpc_code="OK"))
    assert eventually(lambda: scrape(metrics_server).get(handled) == 1)
    samples = scrape(metrics_server)
    assert samples[("grpc_server_started_total", labels("GetTime"))] == 4
    assert samples[("grpc_server_handled_total", labels("GetTime", grpc_code="OK"))] == 3
    invalid = labels("GetTime", grpc_code="INVALID_ARGUMENT")
    assert samples[("grpc_server_handled_total", invalid)] == 1
    assert samples[("grpc_server_handling_seconds_count", labels("GetTime"))] == 4
    assert samples[("grpc_server_msg_sent_total", labels("GetTime"))] == 3
    watch = labels("WatchTime", "server_stream")
    assert samples[("grpc_server_msg_sent_total", watch)] == 2
    assert samples[handled] == 1
    assert samples[("chrono_open_watches", ())] == 0
    assert ("process_cpu_seconds_total", ()) in samples


def test_open_watches_gauge_follows_the_watches(metrics_server: ServerThread) -> None:
    """chrono_open_watches counts the watches open at the moment of the scrape."""
    with grpc.insecure_channel(metrics_server.target) as channel:
        stream = pb_grpc.TimeServiceStub(channel).WatchTime(pb.WatchTimeRequest(), timeout=10)
        next(stream)
        assert scrape(metrics_server)[("chrono_open_watches", ())] == 1
        stream.cancel()


def test_metrics_are_off_by_default(time_server: ServerThread) -> None:
    """Without --metrics-port no HTTP port is opened."""
    assert time_server.app.metrics_endpoint is None
