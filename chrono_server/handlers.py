"""Registers a servicer's methods from its service descriptor, checked at start.

Every RPC of the service must be an ``async def`` of the servicer (an async generator for
a server stream): a missing one, or a plain ``def``, stops the server at start with a
message naming it, instead of failing each call. A method the servicer inherits
unchanged from the generated base class is served as UNIMPLEMENTED.
"""

from __future__ import annotations

import inspect
from typing import Any

import grpc
from google.protobuf.descriptor import MethodDescriptor, ServiceDescriptor
from google.protobuf.message_factory import GetMessageClass

from chrono_server import errors


class RegistrationError(Exception):
    """A servicer does not fit its service: the server cannot start."""


def _unimplemented(method: MethodDescriptor) -> Any:
    status = errors.rich_status(
        grpc.StatusCode.UNIMPLEMENTED,
        f"{method.full_name} is not implemented by this server",
        errors.METHOD_NOT_IMPLEMENTED,
        method.containing_service.full_name,
    )

    async def unary(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
        await context.abort_with_status(status)

    async def stream(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
        await context.abort_with_status(status)
        yield  # pragma: no cover - an async generator that never yields

    return stream if method.server_streaming else unary


def _behavior(method: MethodDescriptor, servicer: object) -> Any:
    """The servicer's coroutine for ``method``; RegistrationError if it cannot serve it."""
    where = f"{type(servicer).__name__}.{method.name}"
    found = inspect.getattr_static(servicer, method.name, None)
    if found is None:
        raise RegistrationError(
            f"{where} is missing: {method.full_name} must be an async def of the servicer"
        )
    if getattr(found, "__module__", "").endswith("_pb2_grpc"):
        # Inherited unchanged from the generated servicer class.
        return _unimplemented(method)
    behavior = getattr(servicer, method.name)
    if method.server_streaming:
        if not inspect.isasyncgenfunction(behavior):
            raise RegistrationError(
                f"{where} must be an async generator (async def with yield): "
                f"{method.full_name} streams its responses"
            )
    elif not inspect.iscoroutinefunction(behavior):
        raise RegistrationError(
            f"{where} must be an async def: the server runs on asyncio (grpc.aio)"
        )
    return behavior


def _handler(method: MethodDescriptor, servicer: object) -> grpc.RpcMethodHandler[Any, Any]:
    if method.client_streaming:
        raise RegistrationError(f"{method.full_name}: client-streaming methods are not supported")
    behavior = _behavior(method, servicer)
    parse = GetMessageClass(method.input_type).FromString
    serialize = GetMessageClass(method.output_type).SerializeToString
    if method.server_streaming:
        return grpc.unary_stream_rpc_method_handler(
            behavior, request_deserializer=parse, response_serializer=serialize
        )
    return grpc.unary_unary_rpc_method_handler(
        behavior, request_deserializer=parse, response_serializer=serialize
    )


def add_servicer(server: grpc.aio.Server, service: ServiceDescriptor, servicer: object) -> None:
    """Serve every method of ``service`` from the same-named method of ``servicer``.

    Raises RegistrationError, naming the method, if the servicer cannot serve one.
    """
    handlers = {method.name: _handler(method, servicer) for method in service.methods}
    server.add_generic_rpc_handlers(
        (grpc.method_handlers_generic_handler(service.full_name, handlers),)
    )
    server.add_registered_method_handlers(service.full_name, handlers)
