"""Server tracing over the wire: spans of real calls reach a real OTLP receiver, or nothing runs."""

from __future__ import annotations

import http.client
import json
import signal
import subprocess
import sys
from collections.abc import Iterator

import grpc
import pytest
from grpc_health.v1 import health_pb2

from chrono.time.v1 import time_service_pb2 as pb
from chrono.time.v1 import time_service_pb2_grpc as pb_grpc
from chrono_server import tracing
from chrono_server.config import parse_settings
from chrono_server.http.server import HttpServer
from tests.chrono_server.helpers import (
    REPO_ROOT,
    ServiceProcess,
    health_watch,
    hermetic_env,
    running,
)
from tests.otlp import SERVER, OtlpReceiver, ReceivedSpan
from tests.servers import ServerThread, server_settings
from time_service import ENTRY
from time_service.server import SPEC as TIME_SPEC

GET_TIME = "/chrono.time.v1.TimeService/GetTime"
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_ID = "00f067aa0ba902b7"
TRACEPARENT = (("traceparent", f"00-{TRACE_ID}-{PARENT_ID}-01"),)


@pytest.fixture
def receiver(monkeypatch: pytest.MonkeyPatch) -> Iterator[OtlpReceiver]:
    """A running OTLP receiver; spans are exported every 50 ms rather than every 5 s."""
    monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "50")
    with OtlpReceiver() as started:
        yield started


def named(spans: list[ReceivedSpan], trace_id: str) -> list[ReceivedSpan]:
    """The spans of trace ``trace_id``."""
    return [span for span in spans if span.trace_id == trace_id]


def test_a_call_s_span_is_the_child_of_the_caller_s_traceparent(receiver: OtlpReceiver) -> None:
    """A traced server's span of a call joins the caller's trace, as a child of its span."""
    settings = server_settings(otlp_endpoint=receiver.endpoint)
    with running(TIME_SPEC, settings) as server, grpc.insecure_channel(server.target) as channel:
        pb_grpc.TimeServiceStub(channel).GetTime(
            pb.GetTimeRequest(time_zone="Europe/Paris"), timeout=5, metadata=TRACEPARENT
        )
        (span,) = named(receiver.wait_for(lambda spans: bool(named(spans, TRACE_ID))), TRACE_ID)
    assert span.service == "time-service"
    assert span.name == GET_TIME
    assert span.kind == SERVER
    assert span.parent_span_id == PARENT_ID
    assert span.attributes["rpc.system"] == "grpc"
    assert span.attributes["rpc.service"] == "chrono.time.v1.TimeService"
    assert span.attributes["rpc.method"] == "GetTime"
    assert span.attributes[tracing.STATUS_CODE] == grpc.StatusCode.OK.value[0]


def test_a_refused_call_s_span_has_its_status_code(receiver: OtlpReceiver) -> None:
    """A call the server refuses has INVALID_ARGUMENT on its span, whose status stays unset."""
    settings = server_settings(otlp_endpoint=receiver.endpoint)
    with running(TIME_SPEC, settings) as server, grpc.insecure_channel(server.target) as channel:
        with pytest.raises(grpc.RpcError) as failed:
            pb_grpc.TimeServiceStub(channel).GetTime(
                pb.GetTimeRequest(time_zone="Mars/Base"), timeout=5, metadata=TRACEPARENT
            )
        assert failed.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        (span,) = named(receiver.wait_for(lambda spans: bool(named(spans, TRACE_ID))), TRACE_ID)
    assert span.attributes[tracing.STATUS_CODE] == grpc.StatusCode.INVALID_ARGUMENT.value[0]
    # OpenTelemetry's RPC conventions: a server span is an error only for the server's faults.
    assert span.status == 0


def test_streams_are_traced_and_still_stream(receiver: OtlpReceiver) -> None:
    """A watch and a health Watch (whose servicer writes rather than yields) each get a span."""
    settings = server_settings(otlp_endpoint=receiver.endpoint)
    with running(TIME_SPEC, settings) as server, grpc.insecure_channel(server.target) as channel:
        updates = pb_grpc.TimeServiceStub(channel).WatchTime(
            pb.WatchTimeRequest(max_updates=1), timeout=5, metadata=TRACEPARENT
        )
        assert len(list(updates)) == 1
        health = health_watch(channel)(health_pb2.HealthCheckRequest(), timeout=5)
        assert next(health).status == health_pb2.HealthCheckResponse.SERVING
        health.cancel()

        def both(spans: list[ReceivedSpan]) -> bool:
            names = {span.name for span in spans}
            return {
                "/chrono.time.v1.TimeService/WatchTime",
                "/grpc.health.v1.Health/Watch",
            } <= names

        spans = receiver.wait_for(both)
    (watch,) = named(spans, TRACE_ID)
    assert watch.parent_span_id == PARENT_ID
    assert watch.attributes[tracing.STATUS_CODE] == grpc.StatusCode.OK.value[0]


def http_get(server: ServerThread, path: str) -> tuple[int, bytes]:
    """GET ``path`` from the server's HTTP/JSON listener with TRACEPARENT; status and body."""
    port = next(c.port for c in server.app.components if isinstance(c, HttpServer))
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("GET", path, headers=dict(TRACEPARENT))
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def test_http_json_calls_are_traced_as_their_grpc_method(receiver: OtlpReceiver) -> None:
    """HTTP/JSON calls get the SERVER span of their method, under the request's traceparent."""
    settings = server_settings(otlp_endpoint=receiver.endpoint, http_port=0)
    with running(TIME_SPEC, settings) as server:
        assert http_get(server, "/v1/time?timeZone=Europe%2FParis")[0] == 200
        assert http_get(server, "/v1/time?timeZone=Mars%2FBase")[0] == 400
        status, body = http_get(server, "/v1/time:watch?maxUpdates=1")
        assert status == 200
        assert len(body.splitlines()) == 1
        spans = receiver.wait_for(lambda spans: len(named(spans, TRACE_ID)) == 3)
    assert {span.kind for span in spans} == {SERVER}
    assert {span.parent_span_id for span in spans} == {PARENT_ID}
    assert {span.attributes["network.protocol.name"] for span in spans} == {"http"}
    codes = sorted((span.name, span.attributes[tracing.STATUS_CODE]) for span in spans)
    assert codes == [
        (GET_TIME, grpc.StatusCode.OK.value[0]),
        (GET_TIME, grpc.StatusCode.INVALID_ARGUMENT.value[0]),
        ("/chrono.time.v1.TimeService/WatchTime", grpc.StatusCode.OK.value[0]),
    ]


def test_the_access_line_carries_the_trace_id_and_the_drain_exports_the_spans(
    receiver: OtlpReceiver,
) -> None:
    """With --otlp-endpoint the access line ends with the trace id; SIGTERM exports the span."""
    # The export's own period is left at 5 s: only the drain can have sent the span.
    env = hermetic_env(OTEL_BSP_SCHEDULE_DELAY="5000")
    argv = ["-m", "time_service", "--port", "0", "--otlp-endpoint", receiver.endpoint]
    with ServiceProcess(argv, env) as process:
        port = process.wait_for_port()
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            pb_grpc.TimeServiceStub(channel).GetTime(
                pb.GetTimeRequest(), timeout=5, metadata=TRACEPARENT
            )
        process.process.send_signal(signal.SIGTERM)
        assert process.finish() == 0
        # Export is done by the time the process exits.
        assert [span.name for span in named(receiver.spans(), TRACE_ID)] == [GET_TIME]
    (line,) = [line for line in process.lines if f" {GET_TIME} " in line]
    assert line.endswith(f" trace_id={TRACE_ID}"), line


def test_json_access_lines_have_a_trace_id_key(receiver: OtlpReceiver) -> None:
    """With the standard OTEL_EXPORTER_OTLP_ENDPOINT and JSON logs, access objects have trace_id."""
    env = hermetic_env(OTEL_EXPORTER_OTLP_ENDPOINT=receiver.endpoint, OTEL_BSP_SCHEDULE_DELAY="50")
    argv = ["-m", "time_service", "--port", "0", "--log-format", "json"]
    with ServiceProcess(argv, env) as process:
        port = process.wait_for_port()
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            pb_grpc.TimeServiceStub(channel).GetTime(
                pb.GetTimeRequest(), timeout=5, metadata=TRACEPARENT
            )
        receiver.wait_for(lambda spans: bool(named(spans, TRACE_ID)))
        process.process.send_signal(signal.SIGTERM)
        assert process.finish() == 0
    entries = [json.loads(line) for line in process.lines if line.startswith("{")]
    assert len(entries) == len(process.lines), process.lines
    (access,) = [entry for entry in entries if entry.get("method") == GET_TIME]
    assert access["trace_id"] == TRACE_ID
    assert access["message"].endswith(f"trace_id={TRACE_ID}")


def test_a_refused_exporter_setting_stops_the_server_in_one_line(receiver: OtlpReceiver) -> None:
    """A batch larger than the span queue (OTEL_BSP_*) stops the server at start, in one line."""
    env = hermetic_env(OTEL_BSP_MAX_QUEUE_SIZE="8", OTEL_BSP_MAX_EXPORT_BATCH_SIZE="16")
    argv = ["-m", "time_service", "--port", "0", "--otlp-endpoint", receiver.endpoint]
    with ServiceProcess(argv, env) as process:
        process.wait_for_line(r"cannot export spans: max_export_batch_size must be less")
        assert process.finish() == 1
    assert not [line for line in process.lines if "Traceback" in line]


# Builds a server as the command would, and says what it installed and loaded.
BUILD = """
import json, sys
from chrono_server.app import create_server
from chrono_server.config import parse_settings
from chrono_server.http.server import HttpServer
from time_service import ENTRY
from time_service.server import SPEC
app, _ = create_server(parse_settings(ENTRY, sys.argv[1:]), SPEC)
names = [type(component).__name__ for component in app.components]
loaded = sorted({m.split(".")[1] for m in sys.modules if m.startswith("opentelemetry.")})
print(json.dumps({"interceptors": len(app.interceptors), "components": names, "loaded": loaded}))
"""


def build(flags: list[str], **env: str) -> dict[str, object]:
    """What a server built with ``flags`` and ``env`` has: interceptors, components, modules."""
    done = subprocess.run(
        [sys.executable, "-c", BUILD, "--port", "0", *flags],
        cwd=REPO_ROOT,
        env=hermetic_env(**env),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    built: dict[str, object] = json.loads(done.stdout.splitlines()[-1])
    return built


def untraced_env() -> dict[str, str]:
    """The test's environment with no OpenTelemetry variable in it."""
    return {
        name: "" for name in ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    }


def test_untraced_server_installs_no_interceptor_and_loads_no_opentelemetry() -> None:
    """Without an endpoint the server has no interceptor, no tracing component, no OpenTelemetry."""
    built = build([], **untraced_env())
    assert built["interceptors"] == 0
    assert "Tracing" not in built["components"]  # type: ignore[operator]
    assert built["loaded"] == []


def test_sdk_disabled_wins_over_an_endpoint(dead_target: str) -> None:
    """OTEL_SDK_DISABLED=true turns tracing off even with --otlp-endpoint given."""
    built = build(["--otlp-endpoint", f"http://{dead_target}"], OTEL_SDK_DISABLED="true")
    assert built["interceptors"] == 0
    assert built["loaded"] == []


def test_traced_server_installs_the_interceptor_and_stops_tracing_last(dead_target: str) -> None:
    """With an endpoint the server has one interceptor, and tracing is its first component."""
    built = build(["--otlp-endpoint", f"http://{dead_target}"], **untraced_env())
    assert built["interceptors"] == 1
    assert built["components"][0] == "Tracing"  # type: ignore[index]


@pytest.mark.parametrize(
    ("env", "endpoint", "expected"),
    [
        ({}, None, False),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": ""}, None, False),
        ({}, "http://collector:4317", True),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4317"}, None, True),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4317"}, None, True),
        ({"OTEL_SDK_DISABLED": "TRUE"}, "http://collector:4317", False),
        ({"OTEL_SDK_DISABLED": "false"}, "http://collector:4317", True),
        ({"OTEL_TRACES_EXPORTER": "none"}, "http://collector:4317", False),
    ],
)
def test_tracing_is_wanted_as_the_standard_variables_say(
    env: dict[str, str], endpoint: str | None, expected: bool
) -> None:
    """Tracing is on with an endpoint (flag or variable) unless the SDK or traces are disabled."""
    assert tracing.wanted(endpoint, env) is expected


@pytest.mark.parametrize("text", ["localhost:4317", "grpc://collector:4317", "http://", ""])
def test_otlp_endpoint_must_be_an_http_url(text: str, capsys: pytest.CaptureFixture[str]) -> None:
    """--otlp-endpoint takes an http:// or https:// URL; anything else exits 2 saying so."""
    with pytest.raises(SystemExit) as exited:
        parse_settings(ENTRY, ["--otlp-endpoint", text], environ={})
    assert exited.value.code == 2
    assert "OTLP endpoint must be a URL such as http://localhost:4317" in capsys.readouterr().err


def test_otlp_endpoint_comes_from_the_flag_or_the_service_variable() -> None:
    """--otlp-endpoint, or TIME_SERVICE_OTLP_ENDPOINT, sets the endpoint; unset, it is None."""
    assert parse_settings(ENTRY, [], environ={}).otlp_endpoint is None
    flag = parse_settings(ENTRY, ["--otlp-endpoint", "https://collector:4317"], environ={})
    assert flag.otlp_endpoint == "https://collector:4317"
    variable = parse_settings(ENTRY, [], environ={"TIME_SERVICE_OTLP_ENDPOINT": "http://c:4317"})
    assert variable.otlp_endpoint == "http://c:4317"


def test_otel_service_name_renames_the_service(
    receiver: OtlpReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """OTEL_SERVICE_NAME replaces the command's name as the spans' service.name."""
    monkeypatch.setenv("OTEL_SERVICE_NAME", "clock-front")
    settings = server_settings(otlp_endpoint=receiver.endpoint)
    with running(TIME_SPEC, settings) as server, grpc.insecure_channel(server.target) as channel:
        pb_grpc.TimeServiceStub(channel).GetTime(
            pb.GetTimeRequest(), timeout=5, metadata=TRACEPARENT
        )
        (span,) = named(receiver.wait_for(lambda spans: bool(named(spans, TRACE_ID))), TRACE_ID)
    assert span.service == "clock-front"
