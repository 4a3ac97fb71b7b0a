"""--etcd: a serving server registers in a real etcd, keeps its lease, and leaves on drain."""

from __future__ import annotations

import json
import os
import re
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from chrono_server.config import ServerSettings, parse_settings
from chrono_server.registration import Registration
from client import TimeClient
from client._etcd import endpoint_value
from tests.chrono_server.helpers import ServiceProcess, eventually, health_status
from tests.chrono_server.test_workers import worker_pids
from tests.etcd import Etcd, running_etcd
from time_service import ENTRY

SERVICE = "chrono.time.v1.TimeService"
PREFIX = f"chrono/services/{SERVICE}/"
TTL = 2


@pytest.fixture
def etcd(tmp_path: Path) -> Iterator[Etcd]:
    """A running etcd of the test's own."""
    with running_etcd(tmp_path / "etcd") as server:
        yield server


def registered(etcd: Etcd) -> dict[bytes, bytes]:
    """The keys under the time service's prefix, as etcdctl reads them."""
    return etcd.get_prefix(PREFIX)


def expected(port: int) -> dict[bytes, bytes]:
    """The one key and value a time service on 127.0.0.1:``port`` registers."""
    address = f"127.0.0.1:{port}"
    value = '{"Op":0,"Addr":"' + address + '","Metadata":null}'
    return {f"{PREFIX}{address}".encode(): value.encode()}


def service(etcd: Etcd, *flags: str) -> ServiceProcess:
    """A time service registering in ``etcd`` with a TTL of 2 s."""
    args = ["-m", "time_service", "--port", "0", "--etcd", etcd.url, "--etcd-ttl", str(TTL)]
    return ServiceProcess([*args, *flags])


def lines_matching(process: ServiceProcess, pattern: str) -> list[str]:
    """The stderr lines read so far that match ``pattern``."""
    return [line for line in process.lines if re.search(pattern, line)]


def test_serving_server_registers_in_the_naming_format_and_leaves_before_not_serving(
    etcd: Etcd,
) -> None:
    """The key is etcd's naming format on a lease of --etcd-ttl, deleted before NOT_SERVING."""
    with service(etcd) as process:
        port = process.wait_for_port()
        assert eventually(lambda: registered(etcd) == expected(port), timeout=10), registered(etcd)
        listing = json.loads(etcd.etcdctl("get", "--prefix", PREFIX, "-w", "json").stdout)
        lease = listing["kvs"][0]["lease"]
        alive = etcd.etcdctl("lease", "timetolive", format(lease, "x")).stdout.decode()
        assert f"granted with TTL({TTL}s)" in alive
        process.wait_for_line(r"registered chrono/services/.* in etcd at .*\(lease TTL 2 s\)")
        process.process.send_signal(signal.SIGTERM)
        assert process.finish() == 0
    assert registered(etcd) == {}
    removed = next(i for i, line in enumerate(process.lines) if "removed chrono/" in line)
    not_serving = next(i for i, line in enumerate(process.lines) if "NOT_SERVING" in line)
    assert removed < not_serving


def test_killed_server_leaves_etcd_when_its_lease_ends(etcd: Etcd) -> None:
    """SIGKILL leaves the key to its lease: it is gone once the TTL runs out."""
    with service(etcd) as process:
        port = process.wait_for_port()
        assert eventually(lambda: registered(etcd) == expected(port), timeout=10)
        process.kill()
    # Bounded by the TTL plus the time etcd takes to expire leases (it checks every 0.5 s).
    assert eventually(lambda: registered(etcd) == {}, timeout=TTL + 5)


def test_unreachable_etcd_at_start_is_logged_once_and_registration_follows(
    tmp_path: Path,
) -> None:
    """With etcd down the server serves, says so once, and registers when etcd comes up."""
    etcd = Etcd(tmp_path / "etcd")
    try:
        with service(etcd) as process:
            port = process.wait_for_port()
            process.wait_for_line(r"etcd at .* is unreachable")
            with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
                assert health_status(channel, SERVICE) == "SERVING"
            # Let several retries go by (with back-off from 0.2 s), none of them logged.
            time.sleep(1.5)
            etcd.start()
            assert eventually(lambda: registered(etcd) == expected(port), timeout=15)
            process.wait_for_line(r"etcd at .* is reachable again")
            assert len(lines_matching(process, r"unreachable")) == 1, process.lines
    finally:
        etcd.stop()


def test_etcd_restarted_empty_gets_the_registration_back(etcd: Etcd) -> None:
    """An etcd that lost its data (and so the lease) gets the key again, on a new lease."""
    with service(etcd) as process:
        port = process.wait_for_port()
        assert eventually(lambda: registered(etcd) == expected(port), timeout=10)
        etcd.stop()
        process.wait_for_line(r"etcd at .* is unreachable")
        for path in sorted(etcd.data.rglob("*"), reverse=True):
            path.rmdir() if path.is_dir() else path.unlink()
        etcd.start()
        assert eventually(lambda: registered(etcd) == expected(port), timeout=15)
        process.wait_for_line(r"etcd at .* is reachable again")
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            assert health_status(channel, SERVICE) == "SERVING"
        assert len(lines_matching(process, r"unreachable")) == 1, process.lines


def stays_registered(etcd: Etcd, port: int, seconds: float) -> None:
    """Assert that the key stays as it is, sampled for ``seconds``."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        assert registered(etcd) == expected(port)
        time.sleep(0.2)  # pacing the samples


def test_workers_of_a_host_are_one_endpoint_while_any_serves(etcd: Etcd) -> None:
    """--workers 2 registers one key; it outlives each worker killed in turn, goes on drain."""
    with service(etcd, "--workers", "2", "--grace", "1") as process:
        port = process.wait_for_port()
        assert eventually(lambda: registered(etcd) == expected(port), timeout=15)
        # Whichever worker's lease the key is on, one of these two kills takes it.
        for index, pid in sorted(worker_pids(process).items()):
            os.kill(pid, signal.SIGKILL)
            stays_registered(etcd, port, 2 * TTL)
            process.wait_for_line(rf"worker {index} serving", timeout=30)
        process.process.send_signal(signal.SIGTERM)
        assert process.finish() == 0
    assert registered(etcd) == {}


def test_tls_etcd_through_flags_and_client_variables(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--etcd-ca/--etcd-cert/--etcd-key register in a TLS etcd; CHRONO_ETCD_* find it."""
    with running_etcd(tmp_path / "etcd", tls=True) as etcd:
        assert etcd.certs is not None
        certs = etcd.certs
        flags = ["--etcd-ca", str(certs.ca), "--etcd-cert", str(certs.client_cert)]
        with service(etcd, *flags, "--etcd-key", str(certs.client_key)) as process:
            port = process.wait_for_port()
            assert eventually(lambda: registered(etcd) == expected(port), timeout=10)
            monkeypatch.setenv("CHRONO_ETCD_CA", str(certs.ca))
            monkeypatch.setenv("CHRONO_ETCD_CERT", str(certs.client_cert))
            monkeypatch.setenv("CHRONO_ETCD_KEY", str(certs.client_key))
            with TimeClient(f"etcd://{etcd.endpoint}") as client:
                assert client.get_time("UTC").time_zone == "UTC"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--etcd", "127.0.0.1:2379", "--host", "0.0.0.0"], "--advertise-address is required"),
        (["--etcd", "127.0.0.1:2379", "--host", "::"], "--advertise-address is required"),
        (["--etcd", "127.0.0.1"], "etcd endpoint must be host:port"),
        (["--etcd", "ftp://127.0.0.1:2379"], "http:// or https://"),
        (["--etcd", "https://a:1,http://b:2"], "either all https://"),
        (["--etcd", "127.0.0.1:2379", "--advertise-address", "host"], "advertise address must"),
        (["--etcd", "127.0.0.1:2379", "--etcd-ttl", "1"], "etcd ttl must be between 2"),
    ],
)
def test_bad_etcd_flags_exit_2_naming_the_flag(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Unusable etcd flags stop the server at once with exit 2 and what to fix."""
    with pytest.raises(SystemExit) as exit_:
        parse_settings(ENTRY, argv, environ={})
    assert exit_.value.code == 2
    assert message in capsys.readouterr().err


def test_tls_files_without_etcd_or_half_a_pair_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--etcd-cert needs --etcd-key, and the TLS files need --etcd."""
    pem = tmp_path / "file.pem"
    pem.write_text("x")
    for argv, message in (
        (["--etcd-ca", str(pem)], "are for --etcd"),
        (["--etcd", "127.0.0.1:2379", "--etcd-cert", str(pem)], "go together"),
    ):
        with pytest.raises(SystemExit):
            parse_settings(ENTRY, argv, environ={})
        assert message in capsys.readouterr().err


def test_key_and_value_name_the_advertised_address() -> None:
    """--advertise-address, else --host and the port, is the address registered."""
    given = parse_settings(
        ENTRY,
        ["--etcd", "127.0.0.1:2379", "--host", "0.0.0.0", "--advertise-address", "h.example:7"],
        environ={},
    )
    assert Registration(given, SERVICE, 50051).key == f"{PREFIX}h.example:7"
    settings = ServerSettings(etcd=("127.0.0.1:2379",), host="::1", etcd_prefix="team/")
    registration = Registration(settings, SERVICE, 50051)
    assert registration.key == f"team/{SERVICE}/[::1]:50051"
    assert endpoint_value("[::1]:50051") == b'{"Op":0,"Addr":"[::1]:50051","Metadata":null}'
