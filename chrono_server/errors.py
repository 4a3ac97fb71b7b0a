"""Every error a server sends, as a canonical status with google.rpc details (AIP-193).

Each status carries a ``google.rpc.ErrorInfo`` whose ``domain`` is the full name of the
gRPC service that answered (``chrono.time.v1.TimeService``; ``grpc.health.v1.Health`` for
the health service): proto package names are globally unique, so the pair of domain and
reason is too. Domain errors (:mod:`chrono_domain.errors`) add a ``BadRequest`` naming the
field or a ``QuotaFailure`` naming the limit.
"""

from __future__ import annotations

from collections.abc import Mapping

import grpc
from google.protobuf import any_pb2
from google.protobuf.message import Message
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status

from chrono_domain.errors import DomainError, InvalidArgumentError, ResourceExhaustedError

# Reasons of the errors the shared server itself sends, whatever the service.
MALFORMED_REQUEST = "MALFORMED_REQUEST"
REQUEST_TOO_LARGE = "REQUEST_TOO_LARGE"
INTERNAL_ERROR = "INTERNAL_ERROR"
SERVER_SHUTTING_DOWN = "SERVER_SHUTTING_DOWN"
DEADLINE_EXPIRED = "DEADLINE_EXPIRED"
METHOD_NOT_IMPLEMENTED = "METHOD_NOT_IMPLEMENTED"


def _pack(details: tuple[Message, ...]) -> list[any_pb2.Any]:
    packed = []
    for detail in details:
        item = any_pb2.Any()
        item.Pack(detail)
        packed.append(item)
    return packed


def rich_status(
    code: grpc.StatusCode,
    message: str,
    reason: str,
    domain: str,
    *,
    metadata: Mapping[str, str] | None = None,
    details: tuple[Message, ...] = (),
) -> grpc.Status:
    """A status with ``message``, the given ``details`` and an ErrorInfo with ``reason``."""
    info = error_details_pb2.ErrorInfo(reason=reason, domain=domain, metadata=metadata or {})
    status = status_pb2.Status(code=code.value[0], message=message, details=_pack((*details, info)))
    return rpc_status.to_status(status)


class ServiceError(Exception):
    """A condition of the server (not of the request) to answer with ``code`` and ``reason``."""

    def __init__(self, code: grpc.StatusCode, message: str, reason: str) -> None:
        """Answer with ``code``, ``message`` (what the caller should do) and ``reason``."""
        super().__init__(message)
        self.code = code
        self.message = message
        self.reason = reason


def shutting_down(what: str = "reconnect") -> ServiceError:
    """UNAVAILABLE for a call the server ends because it is draining; ``what`` to do next."""
    return ServiceError(
        grpc.StatusCode.UNAVAILABLE, f"the server is shutting down; {what}", SERVER_SHUTTING_DOWN
    )


def to_status(error: DomainError | ServiceError, domain: str) -> grpc.Status:
    """The status a domain or service error is answered with, for the service ``domain``."""
    if isinstance(error, ServiceError):
        return rich_status(error.code, error.message, error.reason, domain)
    if isinstance(error, InvalidArgumentError):
        field = error_details_pb2.BadRequest.FieldViolation(
            field=error.field, description=error.description
        )
        return rich_status(
            grpc.StatusCode.INVALID_ARGUMENT,
            error.description,
            error.reason,
            domain,
            metadata={"field": error.field},
            details=(error_details_pb2.BadRequest(field_violations=[field]),),
        )
    if isinstance(error, ResourceExhaustedError):
        violation = error_details_pb2.QuotaFailure.Violation(
            subject=error.subject, description=error.description
        )
        return rich_status(
            grpc.StatusCode.RESOURCE_EXHAUSTED,
            error.description,
            error.reason,
            domain,
            details=(error_details_pb2.QuotaFailure(violations=[violation]),),
        )
    return rich_status(grpc.StatusCode.INVALID_ARGUMENT, error.description, error.reason, domain)
