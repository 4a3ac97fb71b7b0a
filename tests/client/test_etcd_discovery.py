"""etcd:// targets: the clients follow the endpoints registered in a real etcd.

Replicas are time-service processes registering with ``--etcd`` (TTL 2 s); load is
GetTime calls from 4 threads through one client, bounded in time and count.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import grpc
import pytest

import client.__main__ as cli
from client import AsyncDateClient, AsyncTimeClient, TimeClient
from client._etcd import endpoint_value
from client._targets import parse_etcd_target, parse_target
from tests.chrono_server.helpers import eventually
from tests.client.replicas import Load, Replica
from tests.etcd import Etcd, running_etcd

SERVICE = "chrono.time.v1.TimeService"
DATE = "chrono.date.v1.DateService"
PREFIX = f"chrono/services/{SERVICE}/"
TTL = 2
TIMEOUT = 2.0

logger = logging.getLogger(__name__)


@pytest.fixture
def etcd(tmp_path: Path) -> Iterator[Etcd]:
    """A running etcd of the test's own."""
    with running_etcd(tmp_path / "etcd") as server:
        yield server


def registering(etcd: Etcd) -> Replica:
    """A started time-service replica that registers in ``etcd``."""
    return Replica(0, "--etcd", etcd.url, "--etcd-ttl", str(TTL))


@contextlib.contextmanager
def replicas_in(etcd: Etcd, count: int) -> Iterator[list[Replica]]:
    """``count`` replicas registered in ``etcd``; every one (and any added) killed at the end."""
    started: list[Replica] = []
    try:
        for _ in range(count):
            started.append(registering(etcd))
        assert eventually(lambda: len(etcd.get_prefix(PREFIX)) == count, timeout=10)
        yield started
    finally:
        for replica in started:
            replica.kill()


def key_of(replica: Replica) -> bytes:
    """The key ``replica`` registers under."""
    return f"{PREFIX}{replica.target}".encode()


class Background:
    """GetTime from 4 threads until stopped, for at most 60 s and 20,000 calls each."""

    def __init__(self, client: TimeClient) -> None:
        """Call through ``client``."""
        self._client = client
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self.load = Load()
        self._threads = [threading.Thread(target=self._work, daemon=True) for _ in range(4)]

    def _work(self) -> None:
        end = time.monotonic() + 60
        for _ in range(20_000):
            if self._stop.is_set() or time.monotonic() > end:
                return
            started = time.monotonic()
            try:
                self._client.get_time("UTC", timeout=TIMEOUT)
                failure = None
            except grpc.RpcError as error:
                failure = (error.code().name, time.monotonic() - started, error.details() or "")
            with self._lock:
                self.load.calls += 1
                if failure is not None:
                    self.load.failures.append(failure)

    def __enter__(self) -> Background:
        """Start calling."""
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        """Stop calling; wait for the threads."""
        self._stop.set()
        for thread in self._threads:
            thread.join(TIMEOUT + 30)
        assert not any(thread.is_alive() for thread in self._threads), "a load thread hung"


def summary(load: Load) -> str:
    """The failures of a load run, for an assert message."""
    first = load.failures[0] if load.failures else None
    return f"{len(load.failures)} of {load.calls} calls failed; first: {first}"


def test_drain_kill_and_new_replica_under_load_lose_no_call(etcd: Etcd) -> None:
    """Through etcd: a drained and a killed replica cost no call, a new one gets calls."""
    with (
        replicas_in(etcd, 3) as cluster,
        TimeClient(f"etcd://{etcd.endpoint}", timeout=TIMEOUT) as client,
        Background(client) as background,
    ):
        drained, killed, kept = cluster
        assert eventually(lambda: all(r.served() > 0 for r in cluster), timeout=15)
        assert drained.terminate() == 0
        assert key_of(drained) not in etcd.get_prefix(PREFIX)
        killed.sigkill()
        died = time.monotonic()
        assert eventually(lambda: key_of(killed) not in etcd.get_prefix(PREFIX), timeout=TTL + 5)
        vanished = time.monotonic() - died
        added = registering(etcd)
        cluster.append(added)
        assert eventually(lambda: added.served() >= 50, timeout=15)
        served_by_kept = kept.served()
        assert eventually(lambda: kept.served() > served_by_kept, timeout=5)
    load = background.load
    logger.info(
        "%d calls, %d failed; served: drained %d, killed %d, kept %d, added %d; "
        "killed replica's key gone after %.2f s",
        load.calls,
        len(load.failures),
        *(replica.served() for replica in cluster),
        vanished,
    )
    assert load.failures == [], summary(load)
    assert any("removed chrono/" in line for line in drained.lines)


def test_etcd_stopped_and_started_mid_load_loses_no_call(
    etcd: Etcd, caplog: pytest.LogCaptureFixture
) -> None:
    """An etcd restart mid-load fails no call: the endpoints last listed serve meanwhile."""
    caplog.set_level(logging.INFO, logger="client._etcd")
    with (
        replicas_in(etcd, 2) as cluster,
        TimeClient(f"etcd://{etcd.endpoint}", timeout=TIMEOUT) as client,
        Background(client) as background,
    ):
        assert eventually(lambda: all(r.served() > 0 for r in cluster), timeout=15)
        etcd.stop()
        for replica in cluster:
            replica.wait_for_line(r"etcd at .* is unreachable")
        assert eventually(lambda: "is unreachable" in caplog.text, timeout=10)
        calls_during = background.load.calls
        assert eventually(lambda: background.load.calls > calls_during + 100, timeout=10)
        etcd.start()
        for replica in cluster:
            replica.wait_for_line(r"etcd at .* is reachable again")
        assert eventually(lambda: "is reachable again" in caplog.text, timeout=15)
    load = background.load
    logger.info("%d calls, %d failed across the etcd restart", load.calls, len(load.failures))
    assert load.failures == [], summary(load)
    assert set(etcd.get_prefix(PREFIX)) == {key_of(replica) for replica in cluster}
    warnings = [r for r in caplog.records if "is unreachable" in r.getMessage()]
    assert len(warnings) == 1, caplog.text
    assert warnings[0].levelno == logging.WARNING
    assert "keeping the 2 endpoints" in warnings[0].getMessage()


def test_key_written_by_etcdctl_is_followed(etcd: Etcd) -> None:
    """A key etcdctl writes in the naming format is found; deleting it leaves none."""
    with Replica() as replica:
        key = f"{PREFIX}{replica.target}"
        etcd.put(key, endpoint_value(replica.target).decode())
        with TimeClient(f"etcd://{etcd.endpoint}/{SERVICE}", timeout=TIMEOUT) as client:
            assert client.get_time("UTC").time_zone == "UTC"
        full_name = f"etcd://{etcd.endpoint}/chrono/services/{SERVICE}"
        with TimeClient(full_name, timeout=TIMEOUT) as client:
            assert client.get_time("UTC").time_zone == "UTC"
            etcd.delete(key)
            assert eventually(lambda: unavailable(client) is not None, timeout=10)
            details = unavailable(client)
    assert details is not None
    assert SERVICE in details
    assert etcd.endpoint in details


def unavailable(client: TimeClient) -> str | None:
    """The details of the UNAVAILABLE a GetTime gets now; None if it succeeds."""
    try:
        client.get_time("UTC")
    except grpc.RpcError as error:
        failed = error
    else:
        return None
    assert failed.code() == grpc.StatusCode.UNAVAILABLE
    return failed.details()


def test_no_endpoint_is_unavailable_naming_the_service_and_etcd(
    etcd: Etcd, capsys: pytest.CaptureFixture[str]
) -> None:
    """No key: UNAVAILABLE at once, naming the service and etcd, also in the chrono command."""
    with TimeClient(f"etcd://{etcd.endpoint}", timeout=TIMEOUT) as client:
        with pytest.raises(grpc.RpcError) as raised:
            client.get_time("UTC")
        with pytest.raises(grpc.RpcError):
            list(client.watch_time("UTC", max_updates=1, reconnect=False))
    error = raised.value
    assert error.code() == grpc.StatusCode.UNAVAILABLE
    assert f"no endpoint of {SERVICE} is registered in etcd at {etcd.endpoint}" in (
        error.details() or ""
    )
    assert cli.main(["--time-target", f"etcd://{etcd.endpoint}", "time"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert SERVICE in err
    assert etcd.endpoint in err


def test_unreachable_etcd_fails_calls_saying_so(tmp_path: Path) -> None:
    """With etcd down from the start, calls fail UNAVAILABLE, saying etcd is unreachable."""
    etcd = Etcd(tmp_path / "etcd")  # never started: nothing listens on its port
    with (
        TimeClient(f"etcd://{etcd.endpoint}", timeout=TIMEOUT) as client,
        pytest.raises(grpc.RpcError) as raised,
    ):
        client.get_time("UTC")
    assert raised.value.code() == grpc.StatusCode.UNAVAILABLE
    assert f"etcd at {etcd.endpoint}" in (raised.value.details() or "")
    assert "unreachable" in (raised.value.details() or "")


def test_watch_open_on_the_old_channel_outlives_a_change(etcd: Etcd) -> None:
    """A watch keeps its stream when a new replica registers; new calls reach both."""
    with (
        replicas_in(etcd, 1) as cluster,
        TimeClient(f"etcd://{etcd.endpoint}", timeout=TIMEOUT) as client,
    ):
        updates = client.watch_time("UTC", timedelta(milliseconds=200), 15, reconnect=False)
        received = [next(updates)]
        cluster.append(registering(etcd))
        assert eventually(lambda: len(etcd.get_prefix(PREFIX)) == 2, timeout=10)

        def both_serve() -> bool:
            client.get_time("UTC")
            return all(replica.served() > 0 for replica in cluster)

        assert eventually(both_serve, timeout=10)
        received += list(updates)
    assert len(received) == 15


async def test_async_clients_follow_etcd(etcd: Etcd) -> None:
    """The asyncio client balances over what etcd lists, watches, and names what is missing."""
    with replicas_in(etcd, 2) as cluster:
        async with AsyncTimeClient(f"etcd://{etcd.endpoint}", timeout=TIMEOUT) as client:
            for _ in range(100):
                assert (await client.get_time("UTC")).time_zone == "UTC"
            watch = client.watch_time("UTC", timedelta(milliseconds=100), 3)
            updates = [update async for update in watch]
            health = await client.check_health()
        async with AsyncDateClient(f"etcd://{etcd.endpoint}", timeout=TIMEOUT) as dates:
            with pytest.raises(grpc.RpcError) as raised:
                await dates.get_date("UTC")
    assert all(replica.served() > 0 for replica in cluster)
    assert len(updates) == 3
    assert health.status == health.SERVING
    assert raised.value.code() == grpc.StatusCode.UNAVAILABLE
    assert DATE in (raised.value.details() or "")


@pytest.mark.parametrize(
    ("text", "endpoints", "prefix"),
    [
        ("etcd://127.0.0.1:2379", ("127.0.0.1:2379",), PREFIX),
        ("etcd://a:1,[::1]:2/", ("a:1", "[::1]:2"), PREFIX),
        (f"etcd://a:1/{SERVICE}", ("a:1",), PREFIX),
        (f"etcd://a:1/{DATE}", ("a:1",), f"chrono/services/{DATE}/"),
        ("etcd://a:1/team/time", ("a:1",), "team/time/"),
    ],
)  # fmt: skip
def test_etcd_targets_parse(text: str, endpoints: tuple[str, ...], prefix: str) -> None:
    """An etcd target names etcd's endpoints and, optionally, the service or key prefix."""
    target = parse_etcd_target(text)
    assert target.endpoints == endpoints
    assert target.key_prefix(SERVICE) == prefix
    assert parse_target(text).dial == text


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("etcd:///chrono.time.v1.TimeService", "name etcd's endpoints"),
        ("etcd://127.0.0.1/x", "no port"),
        ("etcd://127.0.0.1:0/x", "1 to 65535"),
        ("etcd://a:1,,b:2", "empty entry"),
        ("etcd://a:1/team//time", "empty part"),
    ],
)
def test_bad_etcd_targets_are_refused_saying_why(text: str, message: str) -> None:
    """A malformed etcd target raises ValueError when the client is built."""
    with pytest.raises(ValueError, match=message):
        TimeClient(text)
