"""Who may call a service's writes: bearer tokens from a file, or mTLS client identities.

Reads stay open to everyone; a service asks :meth:`WriteAuthorizer.check` at the top of
each method that changes what it stores. The token file is read again when it changes
(a rotated secret takes effect without a restart); tokens are compared in constant time
and never logged or echoed.
"""

from __future__ import annotations

import hmac
import logging
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import grpc

from chrono_server.errors import ServiceError

logger = logging.getLogger(__name__)

WRITES_DISABLED = "WRITES_DISABLED"
CREDENTIALS_MISSING = "CREDENTIALS_MISSING"
CREDENTIALS_MALFORMED = "CREDENTIALS_MALFORMED"
PERMISSION_DENIED = "WRITE_NOT_ALLOWED"

# The auth context keys grpc fills from a verified client certificate.
_IDENTITY_KEYS = ("x509_common_name", "x509_subject_alternative_name")


class WriteAuthorizer:
    """Allows a write if it brings a listed bearer token or a listed client identity."""

    def __init__(self, token_file: Path | None, client_ids: Sequence[str], flags: str) -> None:
        """Check tokens from ``token_file`` (one per line) and mTLS ``client_ids``.

        ``flags`` names the options that configure writes, for the message a server with
        neither gives. Raises ValueError if the token file cannot be read or holds none.
        """
        self._file = token_file
        self._client_ids = frozenset(client_ids)
        self._flags = flags
        self._tokens: tuple[bytes, ...] = ()
        self._stamp: tuple[int, int] | None = None
        if token_file is not None:
            self._reload()

    @property
    def enabled(self) -> bool:
        """Whether any caller may write at all."""
        return self._file is not None or bool(self._client_ids)

    def _reload(self) -> None:
        assert self._file is not None
        try:
            info = os.stat(self._file)
            stamp = (info.st_mtime_ns, info.st_size)
            if stamp == self._stamp:
                return
            lines = self._file.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as error:
            if self._stamp is None:
                raise ValueError(f"cannot read the token file {self._file}: {error}") from error
            logger.warning("cannot read the token file %s again, keeping its tokens", self._file)
            return
        tokens = tuple(line.strip().encode() for line in lines if line.strip())
        if not tokens:
            if self._stamp is None:
                raise ValueError(f"the token file {self._file} holds no token")
            logger.warning("the token file %s is empty now, keeping its tokens", self._file)
            return
        self._tokens, self._stamp = tokens, stamp

    def check(self, context: Any) -> None:
        """Return if the caller of ``context`` may write; raise ServiceError if not."""
        if not self.enabled:
            raise ServiceError(
                grpc.StatusCode.PERMISSION_DENIED,
                f"this server accepts no writes: start it with {self._flags}",
                WRITES_DISABLED,
            )
        identities = _identities(context)
        if identities & self._client_ids:
            return
        header = _authorization(context.invocation_metadata() or ())
        if header is None:
            if identities:
                raise self._denied(f"client certificate {sorted(identities)[0]!r} is not allowed")
            raise ServiceError(
                grpc.StatusCode.UNAUTHENTICATED,
                "writes need credentials: send 'authorization: Bearer <token>' or use an "
                "allowed mTLS client certificate",
                CREDENTIALS_MISSING,
            )
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise ServiceError(
                grpc.StatusCode.UNAUTHENTICATED,
                "the authorization header must be 'Bearer <token>'",
                CREDENTIALS_MALFORMED,
            )
        if self._file is not None:
            self._reload()
        given = token.strip().encode()
        # Every token is compared, so the time taken tells nothing about which matched.
        matched = False
        for allowed in self._tokens:
            matched |= hmac.compare_digest(given, allowed)
        if not matched:
            raise self._denied("the bearer token is not allowed")

    def _denied(self, why: str) -> ServiceError:
        return ServiceError(
            grpc.StatusCode.PERMISSION_DENIED, f"{why} to write here", PERMISSION_DENIED
        )


def _authorization(metadata: Iterable[tuple[str, Any]]) -> str | None:
    for key, value in metadata:
        if key == "authorization":
            return value if isinstance(value, str) else bytes(value).decode("latin-1")
    return None


def _identities(context: Any) -> frozenset[str]:
    """The verified names of the caller's client certificate; none without mTLS."""
    try:
        auth = context.auth_context() or {}
    except (AttributeError, ValueError):
        return frozenset()
    found = set()
    for key in _IDENTITY_KEYS:
        for value in auth.get(key, ()):
            found.add(value.decode() if isinstance(value, bytes) else str(value))
    return frozenset(found)
