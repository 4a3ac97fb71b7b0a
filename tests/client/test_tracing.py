"""Client tracing over the wire: the client's and the server's spans of one call, linked."""

from __future__ import annotations

import asyncio
import re
import signal
import subprocess
import sys
from collections.abc import Iterator

import grpc
import pytest

import client
from client import _tracing
from client import cli as chrono
from tests.chrono_server.helpers import REPO_ROOT, ServiceProcess, hermetic_env
from tests.otlp import CLIENT, SERVER, OtlpReceiver, ReceivedSpan
from tests.servers import ServerThread

GET_TIME = "/chrono.time.v1.TimeService/GetTime"
WATCH_TIME = "/chrono.time.v1.TimeService/WatchTime"
OK = grpc.StatusCode.OK.value[0]
CANCELLED = grpc.StatusCode.CANCELLED.value[0]
INVALID_ARGUMENT = grpc.StatusCode.INVALID_ARGUMENT.value[0]
ERROR = 2  # the OTLP span status code of an error


@pytest.fixture
def receiver(monkeypatch: pytest.MonkeyPatch) -> Iterator[OtlpReceiver]:
    """A running OTLP receiver the standard variable points at, exporting every 50 ms."""
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", raising=False)
    monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "50")
    with OtlpReceiver() as started:
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", started.endpoint)
        yield started


@pytest.fixture
def traced_server(receiver: OtlpReceiver) -> Iterator[ServerThread]:
    """A TimeService server that exports its spans to ``receiver`` (through the variable)."""
    from time_service.server import SPEC

    server = ServerThread(SPEC)
    try:
        yield server
    finally:
        server.stop()


def pair(spans: list[ReceivedSpan], name: str) -> tuple[ReceivedSpan, ReceivedSpan] | None:
    """The client span of a call to ``name`` and the server span that is its child, if both came."""
    for outer in spans:
        if outer.kind != CLIENT or outer.name != name:
            continue
        for inner in spans:
            if inner.kind == SERVER and inner.parent_span_id == outer.span_id:
                return outer, inner
    return None


def call_pair(receiver: OtlpReceiver, name: str) -> tuple[ReceivedSpan, ReceivedSpan]:
    """Wait for the client and server spans of one call to ``name``."""
    found = pair(receiver.wait_for(lambda spans: pair(spans, name) is not None), name)
    assert found is not None
    return found


def test_one_call_s_client_and_server_spans_are_parent_and_child(
    traced_server: ServerThread, receiver: OtlpReceiver
) -> None:
    """GetTime: the client's span and the server's share a trace; the server's is its child; OK."""
    with client.TimeClient(traced_server.target) as time_client:
        time_client.get_time("Europe/Paris")
    outer, inner = call_pair(receiver, GET_TIME)
    assert outer.service == "chrono-client"
    assert inner.service == "time-service"
    assert outer.trace_id == inner.trace_id
    assert re.fullmatch(r"[0-9a-f]{32}", outer.trace_id)
    assert outer.parent_span_id == ""
    assert outer.attributes["rpc.grpc.status_code"] == OK
    assert inner.attributes["rpc.grpc.status_code"] == OK
    assert outer.attributes["rpc.service"] == "chrono.time.v1.TimeService"
    assert outer.attributes["rpc.method"] == "GetTime"


def test_a_refused_call_has_invalid_argument_on_both_spans(
    traced_server: ServerThread, receiver: OtlpReceiver
) -> None:
    """GetTime in Mars/Base: INVALID_ARGUMENT on both spans; the client's is an error."""
    with (
        client.TimeClient(traced_server.target) as time_client,
        pytest.raises(grpc.RpcError) as failed,
    ):
        time_client.get_time("Mars/Base")
    assert failed.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    outer, inner = call_pair(receiver, GET_TIME)
    assert outer.trace_id == inner.trace_id
    assert outer.attributes["rpc.grpc.status_code"] == INVALID_ARGUMENT
    assert inner.attributes["rpc.grpc.status_code"] == INVALID_ARGUMENT
    assert outer.status == ERROR


def test_the_server_s_access_line_names_the_client_s_trace(receiver: OtlpReceiver) -> None:
    """The access line of a call the client traced ends with the client's trace id."""
    env = hermetic_env(OTEL_EXPORTER_OTLP_ENDPOINT=receiver.endpoint, OTEL_BSP_SCHEDULE_DELAY="50")
    with ServiceProcess(["-m", "time_service", "--port", "0"], env) as process:
        port = process.wait_for_port()
        with client.TimeClient(f"127.0.0.1:{port}") as time_client:
            time_client.get_time("UTC")
        outer, _ = call_pair(receiver, GET_TIME)
        process.process.send_signal(signal.SIGTERM)
        assert process.finish() == 0
    (line,) = [line for line in process.lines if f" {GET_TIME} " in line]
    assert line.endswith(f" trace_id={outer.trace_id}"), line


def client_spans(spans: list[ReceivedSpan], name: str) -> list[ReceivedSpan]:
    """The client spans of calls to ``name``."""
    return [span for span in spans if span.kind == CLIENT and span.name == name]


def test_blocking_watches_are_traced_to_their_end(
    traced_server: ServerThread, receiver: OtlpReceiver
) -> None:
    """A blocking watch's span ends with the stream, with its code: CANCELLED once let go."""
    with client.TimeClient(traced_server.target) as time_client:
        assert len(list(time_client.watch_time(max_updates=1))) == 1
        (bounded,) = client_spans(
            receiver.wait_for(lambda s: pair(s, WATCH_TIME) is not None), WATCH_TIME
        )
        endless = time_client.watch_time()
        next(endless)
        endless.close()
        spans = receiver.wait_for(lambda s: len(client_spans(s, WATCH_TIME)) == 2)
    (cancelled,) = [span for span in client_spans(spans, WATCH_TIME) if span != bounded]
    # The client cancels a bounded watch as soon as it has its last update: the server's
    # OK may or may not have arrived by then.
    assert bounded.attributes["rpc.grpc.status_code"] in (OK, CANCELLED)
    assert cancelled.attributes["rpc.grpc.status_code"] == CANCELLED
    assert cancelled.status == ERROR
    assert cancelled.trace_id != bounded.trace_id


def test_async_calls_and_watches_are_traced(
    traced_server: ServerThread, receiver: OtlpReceiver
) -> None:
    """The asyncio client's calls and watches get client spans, parents of the server's."""

    async def calls() -> None:
        async with client.AsyncTimeClient(traced_server.target) as time_client:
            await time_client.get_time("Asia/Tokyo")
            updates = [update async for update in time_client.watch_time(max_updates=1)]
            assert len(updates) == 1
            # Waited for off the loop, which ends the spans.
            await asyncio.to_thread(call_pair, receiver, WATCH_TIME)
            endless = time_client.watch_time()
            await anext(endless)
            await endless.aclose()
            # The span ends with the call, not when the generator is collected.
            await asyncio.to_thread(
                receiver.wait_for, lambda s: len(client_spans(s, WATCH_TIME)) == 2
            )

    asyncio.run(calls())
    for name in (GET_TIME, WATCH_TIME):
        outer, inner = call_pair(receiver, name)
        assert outer.trace_id == inner.trace_id
    (unary,) = client_spans(receiver.spans(), GET_TIME)
    assert unary.attributes["rpc.grpc.status_code"] == OK
    codes = [
        span.attributes["rpc.grpc.status_code"]
        for span in client_spans(receiver.spans(), WATCH_TIME)
    ]
    assert codes[0] in (OK, CANCELLED)
    assert codes[1] == CANCELLED


def test_the_chrono_command_exports_its_spans_before_it_exits(
    traced_server: ServerThread, receiver: OtlpReceiver
) -> None:
    """``chrono time`` with the standard variable set sends its call's span before exiting."""
    done = subprocess.run(
        [sys.executable, "-m", "client", "time", "--tz", "UTC"],
        cwd=REPO_ROOT,
        # Left at its 5 s period, only the flush at close or exit can have sent the span.
        env=hermetic_env(
            OTEL_EXPORTER_OTLP_ENDPOINT=receiver.endpoint,
            OTEL_BSP_SCHEDULE_DELAY="5000",
            TIME_SERVICE_TARGET=traced_server.target,
        ),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    outer = [span for span in receiver.spans() if span.kind == CLIENT and span.name == GET_TIME]
    assert [span.service for span in outer] == ["chrono-client"]


def test_untraced_clients_get_plain_channels(
    time_server: ServerThread, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Without the variables the clients' channels get no interceptor and calls still work."""
    for name in ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)
    assert _tracing.aio_interceptors() is None
    with grpc.insecure_channel(time_server.target) as channel:
        assert _tracing.traced_channel(channel) is channel
    with client.TimeClient(time_server.target) as time_client:
        assert type(time_client._channel).__module__ == "grpc._channel"
        assert time_client.get_time("UTC").time_zone == "UTC"
    monkeypatch.setenv("TIME_SERVICE_TARGET", time_server.target)
    assert chrono.main(["time", "--tz", "UTC"]) == 0
    assert capsys.readouterr().out.startswith("Current time: ")


def test_sdk_disabled_turns_client_tracing_off(monkeypatch: pytest.MonkeyPatch) -> None:
    """OTEL_SDK_DISABLED=true wins over an endpoint in the environment."""
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector.invalid:4317")
    monkeypatch.setenv("OTEL_SDK_DISABLED", "true")
    assert not _tracing.enabled()
    assert _tracing.tracer_provider() is None
