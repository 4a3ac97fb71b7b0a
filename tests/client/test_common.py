"""What the clients compute before a call: deadlines and channel options."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from client import TimeClient
from client._common import TIME_SERVICE, CallPolicy, channel_options, service_config


def test_unary_calls_get_the_default_or_their_own_deadline() -> None:
    """A unary call gets the client's timeout unless it passes one, and the wait_for_ready flag."""
    policy = CallPolicy(timeout=5, wait_for_ready=True)
    assert policy.unary(None) == {"timeout": 5, "wait_for_ready": True}
    assert policy.unary(0.5) == {"timeout": 0.5, "wait_for_ready": True}


def test_bounded_watch_deadline_covers_every_update() -> None:
    """A bounded watch's deadline is interval * max_updates plus the client's timeout."""
    policy = CallPolicy(timeout=5)
    assert policy.watch(timedelta(seconds=2), 3, None)["timeout"] == 11
    assert policy.watch(None, 3, None)["timeout"] == 8  # the server's default 1 s pace


def test_unbounded_watch_has_no_deadline_unless_given() -> None:
    """An unbounded watch gets no deadline, and any watch keeps a deadline the caller passes."""
    policy = CallPolicy(timeout=5)
    assert policy.watch(timedelta(seconds=1), 0, None)["timeout"] is None
    assert policy.watch(timedelta(seconds=1), 0, 30)["timeout"] == 30
    assert policy.watch(timedelta(seconds=1), 3, 30)["timeout"] == 30


@pytest.mark.parametrize("timeout", [0, -1, float("inf"), float("nan")])
def test_unusable_timeouts_are_refused(timeout: float) -> None:
    """A deadline that is not a positive, finite number of seconds raises ValueError."""
    with pytest.raises(ValueError, match="timeout"):
        TimeClient("127.0.0.1:1", timeout=timeout)
    with pytest.raises(ValueError, match="timeout"):
        CallPolicy().unary(timeout)


def test_channel_options_balance_and_retry() -> None:
    """The service config asks for round_robin and bounded, backed-off retries of failed tries."""
    options = dict(channel_options(TIME_SERVICE))
    assert options["grpc.enable_retries"] == 1
    config = json.loads(options["grpc.service_config"])
    assert config["loadBalancingConfig"] == [{"round_robin": {}}]
    service, reads = config["methodConfig"]
    assert service == {"name": [{"service": "chrono.time.v1.TimeService"}]}
    # Every TimeService method is a read (NO_SIDE_EFFECTS in the contract): all retried.
    assert reads["name"] == [
        {"service": "chrono.time.v1.TimeService", "method": method.name}
        for method in TIME_SERVICE.methods
    ]
    retry = reads["retryPolicy"]
    assert retry["retryableStatusCodes"] == ["UNAVAILABLE", "CANCELLED"]
    assert 2 <= retry["maxAttempts"] <= 5
    assert retry["backoffMultiplier"] > 1


def test_extra_channel_options_win() -> None:
    """Options the caller passes come before the client's own: gRPC uses the first of a name."""
    options = channel_options(TIME_SERVICE, [("grpc.enable_retries", 0)])
    assert options[0] == ("grpc.enable_retries", 0)


def test_service_config_checks_each_servers_health_for_the_service() -> None:
    """round_robin watches each server's health for the client's own service."""
    config = json.loads(service_config(TIME_SERVICE))
    assert config["healthCheckConfig"] == {"serviceName": "chrono.time.v1.TimeService"}
    unchecked = json.loads(service_config(TIME_SERVICE, health_check=False))
    assert "healthCheckConfig" not in unchecked
    assert unchecked["methodConfig"] == config["methodConfig"]


def test_channel_options_keep_links_alive_and_reconnect_soon() -> None:
    """Keepalive pings every 20 s (10 s to answer), even with no data; reconnects from 0.1 s."""
    options = dict(channel_options(TIME_SERVICE))
    assert options["grpc.keepalive_time_ms"] == 20_000
    assert options["grpc.keepalive_timeout_ms"] == 10_000
    assert options["grpc.http2.max_pings_without_data"] == 0
    assert options["grpc.initial_reconnect_backoff_ms"] == 100
    assert options["grpc.max_reconnect_backoff_ms"] == 5_000
    assert "grpc.default_authority" not in options


def test_keepalive_can_be_overridden() -> None:
    """A caller's keepalive option comes first, so gRPC uses it rather than the client's."""
    options = channel_options(TIME_SERVICE, [("grpc.keepalive_time_ms", 60_000)])
    first = next(value for name, value in options if name == "grpc.keepalive_time_ms")
    assert first == 60_000


def test_list_targets_get_their_first_entry_as_authority() -> None:
    """A channel to a list names its first entry as authority, for TLS; others name none."""
    options = dict(channel_options(TIME_SERVICE, authority="127.0.0.1:1"))
    assert options["grpc.default_authority"] == "127.0.0.1:1"
