"""TLS and mTLS server credentials that pick up renewed certificate files without a restart."""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path

import grpc

from chrono_server.config import ServerSettings, check_tls_files

logger = logging.getLogger(__name__)


class TlsFilesError(Exception):
    """The TLS files given at start-up cannot be used."""


class CertificateFiles:
    """The PEM files a TLS server reads, re-read whenever one of them changes.

    grpc asks :meth:`fetch` before every TLS handshake; comparing the files' stat
    signatures there costs a few microseconds per new connection, never per call.
    """

    def __init__(self, cert: Path, key: Path, client_ca: Path | None) -> None:
        """Read the files once; a missing or bad file fails here, at start-up."""
        self._paths = [path for path in (cert, key, client_ca) if path is not None]
        self._cert, self._key, self._client_ca = cert, key, client_ca
        self._lock = threading.Lock()
        try:
            self._signature = self._stat()
            self.initial = self._load()
        except (OSError, ValueError) as error:
            raise TlsFilesError(
                f"cannot use --tls-cert {cert}, --tls-key {key}"
                + (f", --tls-client-ca {client_ca}" if client_ca else "")
                + f": {error}"
            ) from error

    def _stat(self) -> tuple[tuple[int, int, int], ...]:
        signature = []
        for path in self._paths:
            info = os.stat(path)
            signature.append((info.st_mtime_ns, info.st_size, info.st_ino))
        return tuple(signature)

    def _load(self) -> grpc.ServerCertificateConfiguration:
        check_tls_files(self._cert, self._key, self._client_ca)
        client_ca = self._client_ca.read_bytes() if self._client_ca else None
        pair = (self._key.read_bytes(), self._cert.read_bytes())
        return grpc.ssl_server_certificate_configuration([pair], root_certificates=client_ca)

    def fetch(self) -> grpc.ServerCertificateConfiguration | None:
        """The new configuration if a file changed since the last look, else None."""
        # Any exception here would fail the handshake: keep serving the last good
        # certificate and say why, so that a half-written file does no harm.
        try:
            with self._lock:
                signature = self._stat()
                if signature == self._signature:
                    return None
                configuration = self._load()
                self._signature = signature
        except (OSError, ValueError) as error:
            logger.warning(
                "TLS files changed but could not be read (%s); keeping the old ones", error
            )
            return None
        logger.info("TLS certificate files changed; new connections use the new ones")
        return configuration


def server_credentials(settings: ServerSettings) -> grpc.ServerCredentials:
    """Credentials for ``settings``' TLS files; client certificates required with a client CA."""
    if settings.tls_cert is None or settings.tls_key is None:
        raise ValueError("TLS needs both a certificate and a key")
    files = CertificateFiles(settings.tls_cert, settings.tls_key, settings.tls_client_ca)
    return grpc.dynamic_ssl_server_credentials(
        files.initial,
        files.fetch,  # type: ignore[arg-type]  # grpc documents None as "no change"
        require_client_authentication=settings.tls_client_ca is not None,
    )
