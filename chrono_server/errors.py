"""Client errors as canonical gRPC statuses with google.rpc details (AIP-193)."""

from __future__ import annotations

import grpc
from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

ERROR_DOMAIN = "chrono"


class InvalidArgumentError(Exception):
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
        """The rich status to abort the call with."""
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
        details = []
        for detail in (bad_request, info):
            packed = any_pb2.Any()
            packed.Pack(detail)
            details.append(packed)
        status = status_pb2.Status(
            code=code_pb2.INVALID_ARGUMENT, message=self.description, details=details
        )
        return rpc_status.to_status(status)


def shorten(text: str, limit: int = 40) -> str:
    """Quote caller input for an error message without echoing kilobytes of it back."""
    if len(text) <= limit:
        return repr(text)
    return f"{text[:limit]!r}... ({len(text)} characters)"
