"""--timeout bounds every command against a server that accepts TCP but never speaks HTTP/2."""

from __future__ import annotations

import time

import pytest

import client.__main__ as cli

TIMEOUT = 0.5
# Far below grpc's own 20 s wait for a connection's SETTINGS frame, far above the timeout
# on a loaded machine.
SLACK = 2.0


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, float, list[str], str]:
    """Run ``chrono argv``; its exit status, seconds taken, stdout lines and stderr."""
    start = time.monotonic()
    status = cli.main(list(argv))
    elapsed = time.monotonic() - start
    out, err = capsys.readouterr()
    return status, elapsed, out.splitlines(), err


@pytest.mark.parametrize(
    ("argv", "service"),
    [
        ([], "time"),
        (["time"], "time"),
        (["date"], "date"),
        (["zones"], "time"),
        (["watch"], "time"),
        (["watch", "--no-reconnect"], "time"),
        (["watch", "--count", "5"], "time"),
    ],
    ids=["both", "time", "date", "zones", "watch", "watch-no-reconnect", "watch-count"],
)
def test_silent_server_fails_within_the_timeout(
    capsys: pytest.CaptureFixture[str], silent_target: str, argv: list[str], service: str
) -> None:
    """Each command gives up on a silent server after --timeout, exit 1 with a one-line error."""
    targets = ["--time-target", silent_target, "--date-target", silent_target]
    status, elapsed, lines, err = run(capsys, *targets, "--timeout", str(TIMEOUT), *argv)
    assert (status, lines) == (1, [])
    assert err.count("\n") == 1, err
    assert err.startswith(
        f"chrono: the {service} service at {silent_target} did not answer in time "
        "(DEADLINE_EXCEEDED)"
    ), err
    assert elapsed < TIMEOUT + SLACK, elapsed


def test_silent_server_health_fails_within_the_timeout(
    capsys: pytest.CaptureFixture[str], silent_target: str
) -> None:
    """`chrono health` reports DEADLINE_EXCEEDED for each silent service, each within --timeout."""
    targets = ["--time-target", silent_target, "--date-target", silent_target]
    status, elapsed, lines, err = run(capsys, *targets, "--timeout", str(TIMEOUT), "health")
    assert (status, err) == (1, "")
    assert [line.split(" (")[0] for line in lines] == [
        f"time-service {silent_target}: DEADLINE_EXCEEDED",
        f"date-service {silent_target}: DEADLINE_EXCEEDED",
    ]
    assert elapsed < 2 * TIMEOUT + SLACK, elapsed
