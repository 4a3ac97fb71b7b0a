"""Health checks: the library's check_health and `chrono health`, against real servers."""

from __future__ import annotations

import json

import pytest
from grpc_health.v1 import health_pb2

import client.__main__ as cli
from client import AsyncDateClient, TimeClient
from tests.servers import ServerThread

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, list[str], str]:
    """Run ``chrono argv``; return its exit status, its stdout lines and its stderr."""
    status = cli.main(list(argv))
    out, err = capsys.readouterr()
    return status, out.splitlines(), err


def targets(time_target: str, date_target: str) -> list[str]:
    """The options pointing chrono at the two targets."""
    return ["--time-target", time_target, "--date-target", date_target, "--timeout", "2"]


def test_check_health_reports_serving(time_server: ServerThread) -> None:
    """check_health answers SERVING for a server that takes calls."""
    with TimeClient(time_server.target) as client:
        assert client.check_health().status == SERVING


async def test_async_check_health_sees_a_draining_server(date_server: ServerThread) -> None:
    """The asyncio check_health reaches a NOT_SERVING server and reports it, not UNAVAILABLE."""
    date_server.run(date_server.app.health.enter_graceful_shutdown())
    async with AsyncDateClient(date_server.target) as client:
        assert (await client.check_health()).status == NOT_SERVING


def test_health_all_serving_exits_0(
    capsys: pytest.CaptureFixture[str], time_server: ServerThread, date_server: ServerThread
) -> None:
    """`chrono health` prints SERVING for both services and exits 0."""
    status, lines, err = run(capsys, *targets(time_server.target, date_server.target), "health")
    assert (status, err) == (0, "")
    assert lines == [
        f"time-service {time_server.target}: SERVING",
        f"date-service {date_server.target}: SERVING",
    ]


def test_health_of_one_service(
    capsys: pytest.CaptureFixture[str], time_server: ServerThread, dead_target: str
) -> None:
    """`chrono health time` checks the time service alone; the date service is not asked."""
    status, lines, _ = run(capsys, *targets(time_server.target, dead_target), "health", "time")
    assert (status, lines) == (0, [f"time-service {time_server.target}: SERVING"])


def test_health_one_down_exits_1(
    capsys: pytest.CaptureFixture[str], time_server: ServerThread, dead_target: str
) -> None:
    """With the date service down, `chrono health` says UNAVAILABLE for it and exits 1."""
    status, lines, _ = run(capsys, *targets(time_server.target, dead_target), "health")
    assert status == 1
    assert lines[0] == f"time-service {time_server.target}: SERVING"
    assert lines[1].startswith(f"date-service {dead_target}: UNAVAILABLE (")
    assert len(lines) == 2


def test_health_draining_exits_1(
    capsys: pytest.CaptureFixture[str], time_server: ServerThread, date_server: ServerThread
) -> None:
    """A draining (NOT_SERVING) service makes `chrono health` exit 1 and say NOT_SERVING."""
    time_server.run(time_server.app.health.enter_graceful_shutdown())
    status, lines, _ = run(capsys, *targets(time_server.target, date_server.target), "health")
    assert status == 1
    assert lines == [
        f"time-service {time_server.target}: NOT_SERVING",
        f"date-service {date_server.target}: SERVING",
    ]


def test_health_json_is_one_object_per_service(
    capsys: pytest.CaptureFixture[str], time_server: ServerThread, dead_target: str
) -> None:
    """`chrono health --json` prints one JSON object per service, with the error when one fails."""
    status, lines, _ = run(capsys, *targets(time_server.target, dead_target), "health", "--json")
    assert status == 1
    up, down = (json.loads(line) for line in lines)
    assert up == {"service": "time-service", "target": time_server.target, "status": "SERVING"}
    assert down["service"] == "date-service"
    assert down["status"] == "UNAVAILABLE"
    assert down["error"]


def test_health_deadline_exits_1(capsys: pytest.CaptureFixture[str], dead_target: str) -> None:
    """An unreachable service fails its check within --timeout and exits 1."""
    status, lines, _ = run(
        capsys, *targets(dead_target, dead_target), "--timeout", "0.5", "health", "date"
    )
    assert status == 1
    assert lines[0].startswith(f"date-service {dead_target}: ")
    assert lines[0].split(": ")[1].split(" ")[0] in {"UNAVAILABLE", "DEADLINE_EXCEEDED"}
