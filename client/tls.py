"""TLS for the clients: channel credentials from PEM files.

gRPC checks a server's certificate against the host of the target: a name in its DNS
subject alternative names, or an address in its IP ones (``127.0.0.1:50051`` needs an
IP SAN of 127.0.0.1). For a list of servers (``a:p,b:p``) every server is checked
against the first entry's host.
"""

from __future__ import annotations

import re
from pathlib import Path

import grpc

_CERTIFICATE = re.compile(rb"-----BEGIN CERTIFICATE-----")
_PRIVATE_KEY = re.compile(rb"-----BEGIN [A-Z ]*PRIVATE KEY-----")


def tls_credentials(
    ca: Path | None, cert: Path | None = None, key: Path | None = None
) -> grpc.ChannelCredentials:
    """Credentials for a TLS channel, read now from PEM files.

    ``ca`` holds the certificates of the authorities the server's certificate must chain
    to; None trusts the roots gRPC ships with. ``cert`` and ``key``, given together, are
    the client's certificate chain and private key, for servers that require mutual TLS.

    Raises ValueError when only one of ``cert`` and ``key`` is given or a file holds no
    PEM block of the kind expected, and OSError, naming the file, when one cannot be read.
    gRPC itself would only find out at the first connection, as an UNAVAILABLE whose
    message seldom names the file.
    """
    if cert is not None and key is None:
        raise ValueError(f"the client certificate {cert} needs its private key too")
    if key is not None and cert is None:
        raise ValueError(f"the private key {key} needs its client certificate too")
    return grpc.ssl_channel_credentials(
        root_certificates=_read(ca, "CA certificate", _CERTIFICATE),
        private_key=_read(key, "private key", _PRIVATE_KEY),
        certificate_chain=_read(cert, "client certificate", _CERTIFICATE),
    )


def _read(path: Path | None, what: str, marker: re.Pattern[bytes]) -> bytes | None:
    if path is None:
        return None
    try:
        data = path.read_bytes()
    except OSError as error:
        raise OSError(f"cannot read the {what} {path}: {error.strerror or error}") from error
    if not marker.search(data):
        raise ValueError(f"{path} is not a PEM {what}: it has no {marker.pattern.decode()} line")
    return data
