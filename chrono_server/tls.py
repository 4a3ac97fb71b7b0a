"""TLS and mTLS server credentials that pick up renewed certificate files without a restart."""

from __future__ import annotations

import logging
import os
import threading
import time
from pathlib import Path

import grpc

from chrono_server.config import ServerSettings, check_tls_files

logger = logging.getLogger(__name__)

# What the files looked like: (mtime, size, inode) per file; empty when one cannot be stat'ed.
Signature = tuple[tuple[int, int, int], ...]
UNREADABLE: Signature = ()

# How long files that were refused are left alone while they stay as they are. Looking
# again at all is for what fixes itself without a write: a certificate issued a moment
# ahead of this host's clock becomes valid, a file made readable by chmod (which leaves
# its mtime alone) can be read.
RETRY_SECONDS = 60.0


class TlsFilesError(Exception):
    """The TLS files given at start-up cannot be used."""


class CertificateFiles:
    """The PEM files a TLS server reads, re-read whenever one of them changes.

    grpc asks :meth:`fetch` before every TLS handshake; comparing the files' stat
    signatures there costs a few microseconds per new connection, never per call.
    Files that cannot serve (half written, unreadable, expired, not yet valid) are
    refused with a warning, repeated at most every ``retry_seconds`` while they stay
    as they are, and the last good ones go on serving.
    """

    def __init__(
        self,
        cert: Path,
        key: Path,
        client_ca: Path | None,
        *,
        retry_seconds: float = RETRY_SECONDS,
    ) -> None:
        """Read the files once; a missing, bad or out-of-date file fails here, at start-up.

        Refused files left as they are get looked at again after ``retry_seconds``.
        """
        self._paths = [path for path in (cert, key, client_ca) if path is not None]
        self._cert, self._key, self._client_ca = cert, key, client_ca
        self._retry_seconds = retry_seconds
        self._lock = threading.Lock()
        self._refused: Signature | None = None
        self._retry_at = 0.0
        try:
            self._signature = self._stat()
            self.initial = self._load()
        except (OSError, ValueError) as error:
            raise TlsFilesError(
                f"cannot use --tls-cert {cert}, --tls-key {key}"
                + (f", --tls-client-ca {client_ca}" if client_ca else "")
                + f": {error}"
            ) from error

    def _stat(self) -> Signature:
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

    def _refused_lately(self, signature: Signature) -> bool:
        return signature == self._refused and time.monotonic() < self._retry_at

    def _refuse(self, signature: Signature, error: Exception) -> None:
        if self._refused_lately(signature):
            return
        self._refused, self._retry_at = signature, time.monotonic() + self._retry_seconds
        logger.warning(
            "TLS files changed but cannot be used (%s); new connections keep the old ones", error
        )

    def fetch(self) -> grpc.ServerCertificateConfiguration | None:
        """The new configuration once the files have changed into usable ones, else None."""
        # Any exception here would fail this handshake, and an expired certificate
        # returned here would fail all the later ones: keep serving the last good pair
        # and say why, so that a bad renewal or a half-written file does no harm. Once
        # said, the same files are neither re-read nor reported again on each handshake.
        with self._lock:
            try:
                signature = self._stat()
            except OSError as error:
                self._refuse(UNREADABLE, error)
                return None
            if signature == self._signature or self._refused_lately(signature):
                return None
            try:
                configuration = self._load()
            except (OSError, ValueError) as error:
                self._refuse(signature, error)
                return None
            self._signature, self._refused = signature, None
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
