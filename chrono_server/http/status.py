"""gRPC statuses as HTTP answers, the way Google's HTTP/JSON APIs give them.

The HTTP status is the one ``google/rpc/code.proto`` gives each canonical code, and the
body is ``{"error": {"code": <HTTP status>, "message": ..., "status": "<CODE NAME>",
"details": [...]}}``, the details being the ``google.rpc`` messages the gRPC status
carries (``BadRequest``, ``ErrorInfo``, ``QuotaFailure``) in their JSON form, each with
its ``@type``.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import grpc
from google.protobuf import any_pb2, json_format
from google.rpc import error_details_pb2, status_pb2

from chrono_server import errors

DETAILS_KEY = "grpc-status-details-bin"
"""The trailing metadata key of a rich status (``google.rpc.Status``, serialized)."""

HTTP_STATUS = {
    grpc.StatusCode.OK: 200,
    grpc.StatusCode.CANCELLED: 499,
    grpc.StatusCode.UNKNOWN: 500,
    grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.DEADLINE_EXCEEDED: 504,
    grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.ALREADY_EXISTS: 409,
    grpc.StatusCode.PERMISSION_DENIED: 403,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
    grpc.StatusCode.FAILED_PRECONDITION: 400,
    grpc.StatusCode.ABORTED: 409,
    grpc.StatusCode.OUT_OF_RANGE: 400,
    grpc.StatusCode.UNIMPLEMENTED: 501,
    grpc.StatusCode.INTERNAL: 500,
    grpc.StatusCode.UNAVAILABLE: 503,
    grpc.StatusCode.DATA_LOSS: 500,
    grpc.StatusCode.UNAUTHENTICATED: 401,
}
"""The HTTP status of each gRPC code, as google/rpc/code.proto maps them."""


@dataclass(frozen=True)
class HttpError:
    """An error answer: the gRPC code, its message and details, and the HTTP status.

    ``http_status`` is the code's own unless the error is HTTP's alone (405, say).
    """

    code: grpc.StatusCode
    message: str
    details: Sequence[any_pb2.Any] = ()
    http_status: int = 0
    headers: tuple[tuple[str, str], ...] = field(default=())

    @property
    def status(self) -> int:
        """The HTTP status to answer with."""
        return self.http_status or HTTP_STATUS.get(self.code, 500)

    def body(self) -> bytes:
        """The error as Google's JSON error body."""
        return json.dumps({"error": self.as_dict()}, ensure_ascii=False).encode()

    def as_dict(self) -> dict[str, object]:
        """The ``error`` object of the body."""
        return {
            "code": self.status,
            "message": self.message,
            "status": self.code.name,
            "details": [_detail(item) for item in self.details],
        }


def _detail(item: any_pb2.Any) -> dict[str, object]:
    """One detail in its JSON form; one of a type this process cannot read stays packed."""
    try:
        found: dict[str, object] = json_format.MessageToDict(item)
    except (json_format.Error, TypeError, KeyError):
        return {"@type": item.type_url, "value": base64.b64encode(item.value).decode()}
    return found


def from_status(
    code: grpc.StatusCode,
    message: str,
    trailing_metadata: Iterable[tuple[str, str | bytes]] = (),
) -> HttpError:
    """The HTTP error for a status aborted with ``code``, ``message`` and trailing metadata.

    The details come from the rich status in the metadata, when there is one.
    """
    details: Sequence[any_pb2.Any] = ()
    for key, value in trailing_metadata:
        if key == DETAILS_KEY and isinstance(value, bytes):
            rich = status_pb2.Status.FromString(value)
            details = tuple(rich.details)
            message = rich.message or message
    return HttpError(code, message, details)


def from_grpc_status(status: grpc.Status) -> HttpError:
    """The HTTP error for a ``grpc.Status`` (as :func:`chrono_server.errors.rich_status` makes)."""
    return from_status(status.code, status.details, status.trailing_metadata)


def rich(
    code: grpc.StatusCode,
    message: str,
    reason: str,
    domain: str,
    *,
    field_name: str | None = None,
    http_status: int = 0,
    headers: tuple[tuple[str, str], ...] = (),
) -> HttpError:
    """An error the HTTP side itself sends, with an ErrorInfo and, for a field, a BadRequest."""
    violations: tuple[error_details_pb2.BadRequest, ...] = ()
    if field_name is not None:
        violation = error_details_pb2.BadRequest.FieldViolation(
            field=field_name, description=message
        )
        violations = (error_details_pb2.BadRequest(field_violations=[violation]),)
    status = errors.rich_status(
        code,
        message,
        reason,
        domain,
        metadata={"field": field_name} if field_name is not None else None,
        details=violations,
    )
    error = from_grpc_status(status)
    return HttpError(error.code, error.message, error.details, http_status, headers)
