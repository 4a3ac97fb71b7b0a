"""Exit statuses, and the one-line explanation of a failed call.

Every failure the command reports is a :class:`CommandError`: its message is the one
line printed after ``chrono: `` on stderr, its status the exit status. :func:`explain`
makes one of a failed call to a :class:`Service`, named as its flag and variable are.
"""

from __future__ import annotations

from dataclasses import dataclass

import grpc
from google.protobuf import any_pb2
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130
EXIT_BROKEN_PIPE = 141

# The flag that sets each request field the services may refuse.
_FIELD_FLAGS = {
    "interval": "--interval",
    "max_updates": "--count",
    "time_zone": "--tz",
    "local_time.time_zone.id": "--from",
    "local_time.utc_offset": "--from",
    "time_zones": "--to",
    "start_time": "--from",
    "end_time": "--to",
    "token": "--token-file",
}


def _flag(field: str | None) -> str:
    """The option a request field came from; "argument" for positional ones."""
    if field is None:
        return "argument"
    # time_zones[2] came from the third --to.
    return _FIELD_FLAGS.get(field, _FIELD_FLAGS.get(field.partition("[")[0], "argument"))


# The ErrorInfo reason of a chrono server refusing a request over its --max-request-bytes.
_REQUEST_TOO_LARGE = "REQUEST_TOO_LARGE"
# ... and of a server going away: like one that cannot be reached, the caller goes elsewhere.
_SHUTTING_DOWN = "SERVER_SHUTTING_DOWN"


@dataclass(frozen=True)
class Service:
    """One of the two services, as the messages about it name it."""

    name: str
    target: str
    flag: str
    env: str

    @property
    def prog(self) -> str:
        """The service's command name, as health lines and its logs call it."""
        return f"{self.name}-service"


class CommandError(Exception):
    """A failure to report on one line, with the exit status it calls for."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


def explain(
    error: grpc.RpcError, service: Service, zone: str, zone_given: bool, tls: str = "off"
) -> CommandError:
    """Say what failed and what to do about it, on one line.

    ``zone`` is the zone the request carried and ``zone_given`` whether --tz named it;
    ``tls`` is how the client connected: ``off``, ``on`` or ``mtls`` (with a certificate).
    """
    code = error.code()
    details = " ".join((error.details() or "").split())
    if code == grpc.StatusCode.INVALID_ARGUMENT:
        field = _bad_field(error)
        if field == "time_zone" and zone:
            where = "" if zone_given else " (this machine's zone; pass --tz)"
            return CommandError(f"invalid time zone {zone!r}{where}: {details}", EXIT_BAD_INPUT)
        flag = _flag(field)
        return CommandError(f"invalid {flag}: {details}", EXIT_BAD_INPUT)
    where = f"the {service.name} service at {service.target}"
    if code == grpc.StatusCode.RESOURCE_EXHAUSTED and _is_request_too_large(error, details):
        return CommandError(
            f"{where} refused the request as too large: a value given is too long ({details})",
            EXIT_BAD_INPUT,
        )
    if code == grpc.StatusCode.UNAVAILABLE and _is_tls_failure(details):
        message = (
            f"cannot reach {where}: the TLS handshake failed; check --ca (and --cert, "
            f"--key for mutual TLS). ({details})"
        )
    elif code == grpc.StatusCode.UNAVAILABLE and _reason(error) not in (None, _SHUTTING_DOWN):
        # The service itself answered: something behind it (its database) is down.
        message = f"{where} failed ({code.name}): {details}"
    elif code == grpc.StatusCode.UNAVAILABLE:
        message = (
            f"cannot reach {where} ({code.name}); is it running? Check {service.flag} or "
            f"{service.env}{_closed_hint(details, tls)}. ({details})"
        )
    elif code == grpc.StatusCode.DEADLINE_EXCEEDED:
        message = f"{where} did not answer in time ({code.name}); raise --timeout or check it"
    else:
        message = f"{where} failed ({code.name}): {details}"
    return CommandError(message, EXIT_FAILED)


def _details(error: grpc.RpcError) -> list[any_pb2.Any]:
    """The google.rpc details the status of ``error`` carries, packed; none if unreadable."""
    if not isinstance(error, grpc.Call):
        return []
    try:
        status: status_pb2.Status | None = rpc_status.from_call(error)
    except ValueError:
        return []
    return list(status.details) if status else []


def _bad_field(error: grpc.RpcError) -> str | None:
    """The request field a google.rpc.BadRequest detail of ``error`` names, if any."""
    for detail in _details(error):
        bad_request = error_details_pb2.BadRequest()
        if detail.Unpack(bad_request) and bad_request.field_violations:
            return bad_request.field_violations[0].field
    return None


def _reason(error: grpc.RpcError) -> str | None:
    """The ErrorInfo reason a chrono server gave; None for a status without one."""
    for detail in _details(error):
        info = error_details_pb2.ErrorInfo()
        if detail.Unpack(info):
            return info.reason
    return None


def _is_request_too_large(error: grpc.RpcError, details: str) -> bool:
    """Whether a RESOURCE_EXHAUSTED refused the request for its size, not for load.

    A chrono server over its --max-request-bytes says so with the ErrorInfo reason
    REQUEST_TOO_LARGE. grpc itself, where it enforces the limit, answers "Received
    message larger than max" (grpcio servers prefix "SERVER: "), and a client refusing
    to send one "CLIENT: Sent message larger than max"; the same words after "CLIENT:
    Received" are about the response, which is not the caller's doing. Other
    RESOURCE_EXHAUSTED, such as a server's watch limit, are conditions of the service.
    """
    for detail in _details(error):
        info = error_details_pb2.ErrorInfo()
        if detail.Unpack(info) and info.reason == _REQUEST_TOO_LARGE:
            return True
    return "larger than max" in details and "CLIENT: Received" not in details


def _is_tls_failure(details: str) -> bool:
    """Whether an UNAVAILABLE's message says the TLS handshake or certificate check failed."""
    lowered = details.lower()
    return any(word in lowered for word in ("ssl", "tls", "handshake", "certificate"))


def _closed_hint(details: str, tls: str) -> str:
    """What to try when the server closed the connection at once.

    A TLS server does so to a plaintext client, an mTLS one to a client without a
    certificate.
    """
    if "socket closed" not in details.lower():
        return ""
    if tls == "off":
        return "; if it serves TLS, pass --ca"
    if tls == "on":
        return "; if it requires client certificates, pass --cert and --key"
    return ""
