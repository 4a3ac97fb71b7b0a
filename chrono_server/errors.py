"""Client errors as canonical gRPC statuses with google.rpc details (AIP-193)."""

from __future__ import annotations

import grpc
from google.protobuf import any_pb2
from google.protobuf.message import Message
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

ERROR_DOMAIN = "chrono"


def _pack(*details: Message) -> list[any_pb2.Any]:
    packed = []
    for detail in details:
        item = any_pb2.Any()
        item.Pack(detail)
        packed.append(item)
    return packed


class ChronoError(Exception):
    """A failure the caller should see as a canonical status with google.rpc details."""

    def to_status(self) -> grpc.Status:
        """The rich status to abort the call with."""
        raise NotImplementedError


class InvalidArgumentError(ChronoError):
    """A request field the caller must fix; becomes INVALID_ARGUMENT with a BadRequest detail."""

    def __init__(self, field: str, description: str, reason: str) -> None:
        """Name the offending ``field``, say what is wrong in ``description``.

        ``reason`` is an UPPER_SNAKE_CASE constant for google.rpc.ErrorInfo.
        """
        super().__init__(description)
        self.field = field
        self.description = description
        self.reason = reason

    def to_status(self) -> grpc.Status:
        """INVALID_ARGUMENT with BadRequest and ErrorInfo details."""
        bad_request = error_details_pb2.BadRequest(
            field_violations=[
                error_details_pb2.BadRequest.FieldViolation(
                    field=self.field, description=self.description
                )
            ]
        )
        info = error_details_pb2.ErrorInfo(
            reason=self.reason, domain=ERROR_DOMAIN, metadata={"field": self.field}
        )
        status = status_pb2.Status(
            code=code_pb2.INVALID_ARGUMENT,
            message=self.description,
            details=_pack(bad_request, info),
        )
        return rpc_status.to_status(status)


class ResourceExhaustedError(ChronoError):
    """A server limit the call would exceed; becomes RESOURCE_EXHAUSTED with a QuotaFailure."""

    def __init__(self, subject: str, description: str, reason: str) -> None:
        """Say which limit (``subject``) and what to do (``description``)."""
        super().__init__(description)
        self.subject = subject
        self.description = description
        self.reason = reason

    def to_status(self) -> grpc.Status:
        """RESOURCE_EXHAUSTED with QuotaFailure and ErrorInfo details."""
        quota = error_details_pb2.QuotaFailure(
            violations=[
                error_details_pb2.QuotaFailure.Violation(
                    subject=self.subject, description=self.description
                )
            ]
        )
        info = error_details_pb2.ErrorInfo(reason=self.reason, domain=ERROR_DOMAIN)
        status = status_pb2.Status(
            code=code_pb2.RESOURCE_EXHAUSTED,
            message=self.description,
            details=_pack(quota, info),
        )
        return rpc_status.to_status(status)


def shorten(text: str, limit: int = 40) -> str:
    """Quote caller input for an error message without echoing kilobytes of it back."""
    if len(text) <= limit:
        return repr(text)
    return f"{text[:limit]!r}... ({len(text)} characters)"
