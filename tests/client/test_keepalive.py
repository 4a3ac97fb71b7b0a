"""Keepalive: a watch over a link that died silently fails instead of waiting forever."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import grpc
import pytest

from client import TimeClient
from tests.client.proxy import BlackHoleProxy
from tests.client.replicas import Replica

# The client's own 20 s / 10 s would make these tests take 30 s each.
FAST_KEEPALIVE = [
    ("grpc.keepalive_time_ms", 500),
    ("grpc.keepalive_timeout_ms", 500),
    ("grpc.http2.ping_timeout_ms", 500),
]
# A ping half a second after the last news, half a second for its answer; and a loaded
# machine.
NOTICED_WITHIN = 0.5 + 0.5 + 1.0


def watch_until_the_link_dies(interval: timedelta, updates_first: int, quiet: float) -> float:
    """Watch through a proxy, cut the link, and return how long until the watch failed.

    ``updates_first`` updates are read, then ``quiet`` seconds pass, before the cut.
    """
    with (
        # On grpcio in both test passes: the native engine enforces no ping limit at all.
        Replica(0, "--engine", "grpcio", "--keepalive-min-interval", "0.25") as replica,
        BlackHoleProxy(replica.port) as proxy,
        TimeClient(proxy.target, options=FAST_KEEPALIVE) as client,
    ):
        updates = client.watch_time("UTC", interval, reconnect=False, timeout=30)
        for _ in range(updates_first):
            next(updates)
        # Pacing: time for the client to ping a few times with nothing to say itself.
        threading.Event().wait(quiet)
        proxy.cut()
        cut_at = time.monotonic()
        with pytest.raises(grpc.RpcError) as caught:
            for _ in updates:
                pass
        noticed = time.monotonic() - cut_at
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE, caught.value
    assert "too many pings" not in (caught.value.details() or "").lower(), caught.value
    return noticed


def test_busy_watch_on_a_dead_link_fails_within_keepalive() -> None:
    """A watch ticking every 0.2 s whose link goes silent fails UNAVAILABLE within ping+timeout."""
    noticed = watch_until_the_link_dies(timedelta(milliseconds=200), 5, 0)
    assert noticed <= NOTICED_WITHIN, f"noticed after {noticed:.2f}s"


def test_quiet_watch_on_a_dead_link_fails_within_keepalive() -> None:
    """A watch quieter than the keepalive time keeps pinging, and fails soon after its link dies."""
    noticed = watch_until_the_link_dies(timedelta(minutes=1), 1, 5.0)
    assert noticed <= NOTICED_WITHIN, f"noticed after {noticed:.2f}s"
