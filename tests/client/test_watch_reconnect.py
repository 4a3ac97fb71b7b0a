"""Watches that outlive their stream: reopened across a restart or a lost replica, or not."""

from __future__ import annotations

import io
import itertools
import sys
import threading
import time
from datetime import UTC, timedelta

import grpc
import pytest

import client.__main__ as cli
from client import AsyncTimeClient, TimeClient
from client._watch import MAX_FAILED_REOPENS
from tests.client.replicas import Replica, counted_servers, list_target
from tests.servers import ServerThread

INTERVAL = timedelta(milliseconds=200)
DRAINED = "reconnect to continue the watch"
# With no grace, stopping cancels every call at once, racing the servicer that ends the
# watch with the drain message.
GRACE = 1.0


def seconds(update: object) -> float:
    """The update's current_time as seconds since the epoch."""
    return update.current_time.ToDatetime(tzinfo=UTC).timestamp()  # type: ignore[attr-defined, no-any-return]


def largest_gap(instants: list[float]) -> float:
    """The longest time between two consecutive updates."""
    return max(later - earlier for earlier, later in itertools.pairwise(instants))


def restart_bound(downtime: float) -> float:
    """The largest gap a watch may show across a restart during which no server listened.

    The client first tries the port again 0.1 s after losing it, then 1.6 times longer
    each time, each wait jittered by up to 20%: when the server is back after
    ``downtime``, the next attempt comes within 1.2 * (0.6 * downtime + 0.1) s. The
    reopened stream's first update may fall in the last delivered interval and be
    dropped, so the next one can be up to one interval later still. 0.3 s covers the
    connection, its health check and a loaded machine.
    """
    return INTERVAL.total_seconds() + downtime + 1.2 * (0.6 * downtime + 0.1) + 0.3


def test_watch_continues_across_a_server_restart_on_the_same_port() -> None:
    """A watch carries on when its only server is restarted on its port, every update in order."""
    replicas = [Replica()]
    downtimes: list[float] = []

    def restart() -> None:
        stopped = time.monotonic()
        replicas[0].terminate()
        replicas.append(Replica(replicas[0].port))
        downtimes.append(replicas[-1].ready_at - stopped)

    restarter = threading.Thread(target=restart)
    instants: list[float] = []
    try:
        with TimeClient(replicas[0].target) as client:
            for update in client.watch_time("UTC", INTERVAL, max_updates=25):
                instants.append(seconds(update))
                if len(instants) == 5:
                    restarter.start()
        restarter.join(30)
        replicas[-1].terminate()
    finally:
        for replica in replicas:
            replica.kill()
    (downtime,) = downtimes
    assert len(instants) == 25
    assert instants == sorted(set(instants)), "updates repeated or out of order"
    gap, bound = largest_gap(instants), restart_bound(downtime)
    assert gap <= bound, (
        f"largest gap {gap:.3f}s > bound {bound:.3f}s (server down {downtime:.3f}s from "
        "SIGTERM to the new ready line)"
    )
    # The new server's access log shows the watch came back to it.
    assert any("/WatchTime " in line for line in replicas[-1].lines)


def test_no_reconnect_raises_when_the_server_drains(time_server: ServerThread) -> None:
    """With reconnect=False, a watch whose server drains raises UNAVAILABLE, as before."""
    with TimeClient(time_server.target) as client:
        updates = client.watch_time("UTC", INTERVAL, reconnect=False)
        next(updates)
        time_server.stop(GRACE)
        with pytest.raises(grpc.RpcError) as caught:
            for _ in updates:
                pass
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
    assert DRAINED in (caught.value.details() or "")


def test_watch_gives_up_when_no_server_comes_back(time_server: ServerThread) -> None:
    """A watch whose server never returns fails after the bounded reopens, with the drain error."""
    timeout = 0.3
    with TimeClient(time_server.target, timeout=timeout) as client:
        updates = client.watch_time("UTC", INTERVAL)
        next(updates)
        time_server.stop(GRACE)
        started = time.monotonic()
        with pytest.raises(grpc.RpcError) as caught:
            for _ in updates:
                pass
        elapsed = time.monotonic() - started
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
    assert DRAINED in (caught.value.details() or "")
    # Each reopen waits up to the client's timeout for a server; back-offs 0.1-0.8 s.
    bound = MAX_FAILED_REOPENS * timeout + 1.2 * (0.1 + 0.2 + 0.4 + 0.8) + 1.0
    assert MAX_FAILED_REOPENS * timeout <= elapsed <= bound, elapsed


async def test_async_watch_gives_up_when_no_server_comes_back(time_server: ServerThread) -> None:
    """The asyncio watch gives up after the bounded reopens too, raising the drain error."""
    async with AsyncTimeClient(time_server.target, timeout=0.3) as client:
        updates = client.watch_time("UTC", INTERVAL)
        await anext(updates)
        time_server.stop(GRACE)
        with pytest.raises(grpc.RpcError) as caught:
            async for _ in updates:
                pass
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
    assert DRAINED in (caught.value.details() or "")


async def test_async_no_reconnect_raises(time_server: ServerThread) -> None:
    """The asyncio watch with reconnect=False raises UNAVAILABLE when its server drains."""
    async with AsyncTimeClient(time_server.target) as client:
        updates = client.watch_time("UTC", INTERVAL, reconnect=False)
        await anext(updates)
        time_server.stop(GRACE)
        with pytest.raises(grpc.RpcError) as caught:
            async for _ in updates:
                pass
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE


class _StopAfterFirstLine(io.StringIO):
    """A stdout that stops ``server`` (as SIGTERM would) once the first line is written."""

    def __init__(self, server: ServerThread) -> None:
        super().__init__()
        self.stopper = threading.Thread(target=server.stop, args=(GRACE,))

    def write(self, text: str) -> int:
        written = super().write(text)
        if "\n" in text and self.stopper.ident is None:
            self.stopper.start()
        return written


def test_cli_no_reconnect_fails_on_one_line(
    capsys: pytest.CaptureFixture[str], time_server: ServerThread, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`chrono watch --no-reconnect` exits 1 with one error line when its server drains."""
    stdout = _StopAfterFirstLine(time_server)
    monkeypatch.setattr(sys, "stdout", stdout)
    argv = ["--time-target", time_server.target, "watch", "--interval", "0.2", "--no-reconnect"]
    try:
        assert cli.main(argv) == 1
    finally:
        if stdout.stopper.ident is not None:
            stdout.stopper.join(10)
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert err.startswith(f"chrono: cannot reach the time service at {time_server.target}")
    assert DRAINED in err
    assert stdout.getvalue().count("\n") >= 1


def test_cli_watch_moves_to_another_replica(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`chrono watch` over a list keeps printing, on the other replica, when its replica drains."""
    with counted_servers(2) as servers:
        stdout = io.StringIO()
        monkeypatch.setattr(sys, "stdout", stdout)
        stopped: list[threading.Thread] = []

        def stop_the_watched_one() -> None:
            (watched,) = (s for s in servers if s.servicer.open_watches == 1)
            stopped.append(threading.Thread(target=watched.server.stop, args=(GRACE,)))
            stopped[0].start()

        original = stdout.write

        def write(text: str) -> int:
            if "\n" in text and not stopped:
                stop_the_watched_one()
            return original(text)

        monkeypatch.setattr(stdout, "write", write)
        argv = ["--time-target", list_target(servers), "watch", "--interval", "0.2", "--count", "6"]
        status = cli.main(argv)
        stopped[0].join(10)
    assert (status, capsys.readouterr().err) == (0, "")
    assert len(stdout.getvalue().splitlines()) == 6
