"""Development certificates: a CA, a server certificate and a client certificate.

For trying TLS and mTLS on one machine, and for the tests; never for production, where
certificates come from the platform's own CA. ``scripts/dev-certs DIR`` writes them.
Development only, so it lives with the tests and stays out of the wheel.
"""

from __future__ import annotations

import argparse
import ipaddress
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

Key = ec.EllipticCurvePrivateKey


@dataclass(frozen=True)
class Issued:
    """A private key and the certificate for it."""

    key: Key
    cert: x509.Certificate

    @property
    def key_pem(self) -> bytes:
        """The key as unencrypted PKCS#8 PEM."""
        return self.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    @property
    def cert_pem(self) -> bytes:
        """The certificate as PEM."""
        return self.cert.public_bytes(serialization.Encoding.PEM)


@dataclass(frozen=True)
class DevCerts:
    """Where :func:`write_dev_certs` put each file."""

    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def make_ca(common_name: str = "chrono development CA", days: int = 365) -> Issued:
    """A self-signed CA that may sign leaf certificates only."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(_name(common_name))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(key, hashes.SHA256())
    )
    return Issued(key, cert)


def issue(
    ca: Issued,
    common_name: str,
    *,
    hosts: Sequence[str] = (),
    client: bool = False,
    not_before: datetime | None = None,
    not_after: datetime | None = None,
) -> Issued:
    """A leaf certificate signed by ``ca``: for a server at ``hosts``, or for a client.

    ``not_before``/``not_after`` default to five minutes ago and 90 days on, or to 90
    days either side of the other one where that is further out; tests pass past or
    future dates to make an expired or a not yet valid certificate.
    """
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.now(UTC)
    lifetime = timedelta(days=90)
    if not_before is None:
        not_before = now - timedelta(minutes=5)
        if not_after is not None:
            not_before = min(not_before, not_after - lifetime)
    if not_after is None:
        not_after = max(now, not_before) + lifetime
    usage = ExtendedKeyUsageOID.CLIENT_AUTH if client else ExtendedKeyUsageOID.SERVER_AUTH
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(ca.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    )
    if hosts:
        names: list[x509.GeneralName] = []
        for host in hosts:
            try:
                names.append(x509.IPAddress(ipaddress.ip_address(host)))
            except ValueError:
                names.append(x509.DNSName(host))
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    return Issued(key, builder.sign(ca.key, hashes.SHA256()))


DEFAULT_HOSTS = ("localhost", "127.0.0.1", "::1")


def write_dev_certs(
    directory: Path,
    hosts: Sequence[str] = DEFAULT_HOSTS,
    *,
    server_not_before: datetime | None = None,
    server_not_after: datetime | None = None,
) -> DevCerts:
    """Write a new CA, a server certificate for ``hosts`` and a client certificate.

    The server certificate is valid from ``server_not_before`` to ``server_not_after``
    (by default from five minutes ago for 90 days): past or future dates make one that
    a server must refuse.
    """
    directory.mkdir(parents=True, exist_ok=True)
    ca = make_ca()
    server = issue(
        ca,
        "chrono server",
        hosts=hosts,
        not_before=server_not_before,
        not_after=server_not_after,
    )
    client = issue(ca, "chrono client", client=True)
    files = DevCerts(
        ca=directory / "ca.pem",
        server_cert=directory / "server.pem",
        server_key=directory / "server.key",
        client_cert=directory / "client.pem",
        client_key=directory / "client.key",
    )
    files.ca.write_bytes(ca.cert_pem)
    files.server_cert.write_bytes(server.cert_pem)
    files.client_cert.write_bytes(client.cert_pem)
    for path, issued in ((files.server_key, server), (files.client_key, client)):
        path.touch(mode=0o600)
        path.write_bytes(issued.key_pem)
    return files


def _instant(text: str) -> datetime:
    """An ISO 8601 date or date and time, in UTC unless it names its offset."""
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"not an ISO 8601 date or time: {text!r} (e.g. 2026-01-01 or 2026-01-01T12:00)"
        ) from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def main(argv: Sequence[str] | None = None) -> int:
    """Write development certificates into the folder given on the command line."""
    parser = argparse.ArgumentParser(
        prog="dev-certs", description="Write a development CA, server and client certificate."
    )
    parser.add_argument("directory", type=Path, help="folder to write the PEM files into")
    parser.add_argument(
        "--host",
        action="append",
        dest="hosts",
        help="a name or IP the server certificate is for (repeatable; "
        "default localhost, 127.0.0.1, ::1)",
    )
    parser.add_argument(
        "--not-before",
        type=_instant,
        metavar="WHEN",
        help="the server certificate is valid from then (default five minutes ago)",
    )
    parser.add_argument(
        "--not-after",
        type=_instant,
        metavar="WHEN",
        help="the server certificate expires then (default in 90 days)",
    )
    args = parser.parse_args(argv)
    if args.not_before and args.not_after and args.not_after <= args.not_before:
        parser.error("--not-after must be later than --not-before")
    files = write_dev_certs(
        args.directory,
        args.hosts or DEFAULT_HOSTS,
        server_not_before=args.not_before,
        server_not_after=args.not_after,
    )
    for label, path in vars(files).items():
        sys.stdout.write(f"{label}: {path}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
