"""TLS and mutual TLS from the client library and the CLI, against real TLS servers."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

import client.__main__ as cli
from client import AsyncTimeClient, TimeClient, tls_credentials
from tests.chrono_server.helpers import running
from tests.client.checks import check_time
from tests.devcerts import DevCerts, write_dev_certs
from tests.servers import ServerThread, tls_settings
from time_service.server import SPEC as TIME_SPEC


@pytest.fixture
def tls_server(certs: DevCerts) -> Iterator[ServerThread]:
    """A TimeService server speaking TLS."""
    with running(TIME_SPEC, tls_settings(certs)) as server:
        yield server


@pytest.fixture
def mtls_server(certs: DevCerts) -> Iterator[ServerThread]:
    """A TimeService server that requires a client certificate signed by the dev CA."""
    with running(TIME_SPEC, tls_settings(certs, mutual=True)) as server:
        yield server


def chrono(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """Run ``chrono argv``; its exit status, stdout and stderr."""
    status = cli.main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def check_one_line_error(err: str, start: str) -> None:
    """Assert ``err`` is one line starting with ``start``."""
    assert err.count("\n") == 1, err
    assert err.startswith(start), err


def test_library_call_over_tls_verifies_the_server(
    tls_server: ServerThread, certs: DevCerts
) -> None:
    """With the CA's credentials, a call to 127.0.0.1 succeeds: the certificate's IP SAN matches."""
    with TimeClient(tls_server.target, credentials=tls_credentials(certs.ca)) as client:
        check_time(client.get_time("Asia/Tokyo"), "Asia/Tokyo")


async def test_async_library_call_over_tls(tls_server: ServerThread, certs: DevCerts) -> None:
    """The asyncio client speaks TLS with the same credentials."""
    async with AsyncTimeClient(tls_server.target, credentials=tls_credentials(certs.ca)) as client:
        check_time(await client.get_time(), "UTC")


def test_tls_by_host_name_and_over_a_list(certs: DevCerts) -> None:
    """A host name matches the DNS SAN; a list of TLS servers is verified against its first."""
    with (
        running(TIME_SPEC, tls_settings(certs)) as one,
        running(TIME_SPEC, tls_settings(certs)) as two,
    ):
        credentials = tls_credentials(certs.ca)
        with TimeClient(f"localhost:{one.port}", credentials=credentials) as client:
            client.get_time()
        with TimeClient(f"{one.target},{two.target}", credentials=credentials) as client:
            for _ in range(4):
                client.get_time()


def test_cli_with_ca_succeeds(
    capsys: pytest.CaptureFixture[str], tls_server: ServerThread, certs: DevCerts
) -> None:
    """`chrono --ca FILE time` prints the time from a TLS server."""
    status, out, err = chrono(
        capsys, "--ca", str(certs.ca), "--time-target", tls_server.target, "--tz", "UTC", "time"
    )
    assert (status, err) == (0, "")
    assert out.startswith("Current time: ")


def test_cli_reads_the_tls_files_from_the_environment(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    mtls_server: ServerThread,
    certs: DevCerts,
) -> None:
    """CHRONO_CA, CHRONO_CERT and CHRONO_KEY stand for --ca, --cert and --key."""
    monkeypatch.setenv("CHRONO_CA", str(certs.ca))
    monkeypatch.setenv("CHRONO_CERT", str(certs.client_cert))
    monkeypatch.setenv("CHRONO_KEY", str(certs.client_key))
    status, out, err = chrono(capsys, "--time-target", mtls_server.target, "time")
    assert (status, err) == (0, "")
    assert out.startswith("Current time: ")


def test_cli_without_ca_fails_cleanly(
    capsys: pytest.CaptureFixture[str], tls_server: ServerThread
) -> None:
    """A plaintext call to a TLS server exits 1 with one line suggesting --ca."""
    status, out, err = chrono(capsys, "--time-target", tls_server.target, "--timeout", "2", "time")
    assert (status, out) == (1, "")
    check_one_line_error(err, f"chrono: cannot reach the time service at {tls_server.target}")
    assert "pass --ca" in err


def test_cli_with_another_ca_fails_the_handshake(
    capsys: pytest.CaptureFixture[str], tls_server: ServerThread, tmp_path: Path
) -> None:
    """A server certificate from a CA other than --ca's is refused: exit 1, one line on TLS."""
    other = write_dev_certs(tmp_path)
    argv = ["--ca", str(other.ca), "--time-target", tls_server.target, "--timeout", "2", "time"]
    status, out, err = chrono(capsys, *argv)
    assert (status, out) == (1, "")
    check_one_line_error(err, "chrono: cannot reach the time service at ")
    assert "TLS handshake failed" in err


def test_cli_process_prints_only_its_own_line_on_a_failed_handshake(
    tls_server: ServerThread, tmp_path: Path
) -> None:
    """`python -m client` with the wrong CA writes one line to stderr; grpc's logs stay quiet."""
    other = write_dev_certs(tmp_path)
    env = {key: value for key, value in os.environ.items() if not key.startswith("GRPC_")}
    argv = ["--ca", str(other.ca), "--time-target", tls_server.target, "--timeout", "2", "time"]
    done = subprocess.run(
        [sys.executable, "-m", "client", *argv],
        env=env,
        cwd=Path(__file__).parents[2],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert (done.returncode, done.stdout) == (1, "")
    check_one_line_error(done.stderr, "chrono: cannot reach the time service at ")


def test_cli_mutual_tls(
    capsys: pytest.CaptureFixture[str], mtls_server: ServerThread, certs: DevCerts
) -> None:
    """An mTLS server answers with --cert and --key; without them, exit 1 suggesting them."""
    base = ["--ca", str(certs.ca), "--time-target", mtls_server.target, "--timeout", "2"]
    mutual = ["--cert", str(certs.client_cert), "--key", str(certs.client_key)]
    status, out, err = chrono(capsys, *base, *mutual, "time")
    assert (status, err) == (0, "")
    status, out, err = chrono(capsys, *base, "time")
    assert (status, out) == (1, "")
    check_one_line_error(err, "chrono: cannot reach the time service at ")
    assert "--cert and --key" in err


def test_library_mutual_tls(mtls_server: ServerThread, certs: DevCerts) -> None:
    """The library's client certificate gets it through an mTLS server; without one it fails."""
    mutual = tls_credentials(certs.ca, certs.client_cert, certs.client_key)
    with TimeClient(mtls_server.target, credentials=mutual) as client:
        client.get_time()
    plain = tls_credentials(certs.ca)
    with (
        TimeClient(mtls_server.target, credentials=plain, timeout=2) as client,
        pytest.raises(grpc.RpcError) as caught,
    ):
        client.get_time()
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--ca", "{missing}"], "chrono: cannot read the CA certificate {missing}: "),
        (["--ca", "{key}"], "chrono: {key} is not a PEM CA certificate"),
        (["--cert", "{cert}"], "chrono: --cert needs --key too"),
        (["--key", "{key}"], "chrono: --key needs --cert too"),
        (["--cert", "{cert}", "--key", "{missing}"], "chrono: cannot read the private key "),
    ],
)
def test_cli_unusable_tls_files_exit_2(
    capsys: pytest.CaptureFixture[str],
    certs: DevCerts,
    tmp_path: Path,
    argv: list[str],
    message: str,
) -> None:
    """An unreadable, non-PEM or unpaired TLS file exits 2 with one line naming it."""
    names = {"missing": str(tmp_path / "missing.pem"), "key": str(certs.client_key)}
    names["cert"] = str(certs.client_cert)
    status, out, err = chrono(capsys, *(arg.format(**names) for arg in argv), "time")
    assert (status, out) == (2, "")
    check_one_line_error(err, message.format(**names))


def test_tls_credentials_refuse_unusable_files(certs: DevCerts, tmp_path: Path) -> None:
    """tls_credentials: ValueError for a lone cert or key or non-PEM, OSError naming a file."""
    with pytest.raises(ValueError, match="needs its private key"):
        tls_credentials(certs.ca, cert=certs.client_cert)
    with pytest.raises(ValueError, match="needs its client certificate"):
        tls_credentials(certs.ca, key=certs.client_key)
    with pytest.raises(ValueError, match="not a PEM private key"):
        tls_credentials(certs.ca, certs.client_cert, certs.client_cert)
    with pytest.raises(OSError, match=r"missing\.pem"):
        tls_credentials(tmp_path / "missing.pem")
    with pytest.raises(OSError, match="cannot read the CA certificate"):
        tls_credentials(tmp_path)
    assert isinstance(tls_credentials(None), grpc.ChannelCredentials)
