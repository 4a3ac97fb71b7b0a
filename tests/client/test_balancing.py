"""Comma-list targets against in-process servers: round_robin and client-side health checks."""

from __future__ import annotations

import asyncio
import itertools
import socket
from datetime import UTC, timedelta

import pytest

from client import AsyncTimeClient, TimeClient
from tests.client.replicas import CountedServer, counted_servers, list_target

# A reopened watch lands on the other replica at once; this covers the one retry
# (0.1 s back-off, jittered up to 0.12 s) a reopen may need when it races the drain,
# plus scheduling on a busy machine.
REPLICA_LOSS_SLACK = 0.25


def counts(servers: list[CountedServer]) -> list[int]:
    """The GetTime calls each server has answered so far."""
    return [counted.servicer.get_time_calls for counted in servers]


def test_list_target_spreads_calls_over_both_servers() -> None:
    """Calls through a two-address list go to both servers, evenly once both are connected."""
    with counted_servers(2) as servers, TimeClient(list_target(servers)) as client:
        # Both connections come up within milliseconds; until then calls go to one.
        for _ in range(200):
            client.get_time()
            if all(counts(servers)):
                break
        assert all(counts(servers)), counts(servers)
        before = counts(servers)
        for _ in range(40):
            client.get_time()
        spread = [after - earlier for after, earlier in zip(counts(servers), before, strict=True)]
        assert spread == [20, 20], spread


def ipv6_loopback() -> bool:
    """Whether this machine can listen on ::1."""
    try:
        with socket.socket(socket.AF_INET6) as sock:
            sock.bind(("::1", 0))
    except OSError:
        return False
    return True


@pytest.mark.skipif(not ipv6_loopback(), reason="no IPv6 loopback here")
def test_mixed_ipv4_and_ipv6_list_reaches_both() -> None:
    """A list of an IPv4 and an IPv6 server is dialled as one ipv6: list; both get calls."""
    with counted_servers(2, hosts=["127.0.0.1", "::1"]) as servers:
        target = list_target(servers)
        assert target.count("[::1]:") == 1
        with TimeClient(target) as client:
            for _ in range(200):
                client.get_time()
                if all(counts(servers)):
                    break
    assert all(counts(servers)), counts(servers)


async def test_async_client_balances_a_list_too() -> None:
    """The asyncio client spreads calls over a list target as the blocking one does."""
    with counted_servers(2) as servers:
        async with AsyncTimeClient(list_target(servers)) as client:
            for _ in range(200):
                await client.get_time()
                if all(counts(servers)):
                    break
    assert all(counts(servers)), counts(servers)


def test_not_serving_server_gets_no_calls() -> None:
    """A server whose health is NOT_SERVING (draining) gets no calls; the other gets them all."""
    with counted_servers(2) as servers:
        servers[0].set_not_serving()
        with TimeClient(list_target(servers)) as client:
            for _ in range(30):
                client.get_time()
        assert counts(servers) == [0, 30]


def test_server_turning_not_serving_stops_getting_calls() -> None:
    """Once a server reports NOT_SERVING, the client stops sending it calls."""
    with counted_servers(2) as servers, TimeClient(list_target(servers)) as client:
        for _ in range(200):
            client.get_time()
            if all(counts(servers)):
                break
        servers[0].set_not_serving()
        # The health update travels on its own stream: a call or two may still race it.
        for _ in range(20):
            client.get_time()
        drained = servers[0].servicer.get_time_calls
        for _ in range(20):
            client.get_time()
        assert servers[0].servicer.get_time_calls == drained


async def test_watch_survives_the_loss_of_its_replica() -> None:
    """A watch whose replica drains goes on on the other, no gap over one interval (+slack)."""
    interval = timedelta(milliseconds=200)
    instants: list[float] = []
    moved: list[int] = []
    with counted_servers(2) as servers:
        async with AsyncTimeClient(list_target(servers)) as client:
            async for update in client.watch_time("UTC", interval, max_updates=12):
                instants.append(update.current_time.ToDatetime(tzinfo=UTC).timestamp())
                if len(instants) == 3:
                    (lost,) = (s for s in servers if s.servicer.open_watches == 1)
                    (other,) = (s for s in servers if s is not lost)
                    # In the background: the watch must be read on while the server stops.
                    stopping = asyncio.create_task(asyncio.to_thread(lost.server.stop, 1.0))
                if len(instants) == 6:
                    moved.append(other.servicer.open_watches)
            await stopping
    assert moved == [1], "the watch did not move to the other replica"
    assert len(instants) == 12
    gaps = [later - earlier for earlier, later in itertools.pairwise(instants)]
    bound = interval.total_seconds() + REPLICA_LOSS_SLACK
    assert max(gaps) <= bound, f"largest gap {max(gaps):.3f}s > {bound:.3f}s; gaps {gaps}"
