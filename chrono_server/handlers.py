"""Registers a servicer's methods from its service descriptor, with chrono's error handling.

grpc.aio answers UNKNOWN and logs a traceback when a request body does not parse, or
when a servicer raises. Here each method receives the raw bytes and parses them itself,
so that a malformed body is INVALID_ARGUMENT, a ChronoError raised by a
servicer becomes its rich status, and anything else is INTERNAL (logged once, as the
bug it is), never UNKNOWN.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc
from google.protobuf.descriptor import MethodDescriptor, ServiceDescriptor
from google.protobuf.message import DecodeError, Message
from google.protobuf.message_factory import GetMessageClass

from chrono_server.errors import ChronoError

logger = logging.getLogger(__name__)

UnaryBehavior = Callable[[Any, grpc.aio.ServicerContext[Any, Any]], Awaitable[Message]]
StreamBehavior = Callable[[Any, grpc.aio.ServicerContext[Any, Any]], AsyncIterator[Message]]


async def _parse(
    request_class: type[Message], data: bytes, context: grpc.aio.ServicerContext[Any, Any]
) -> Message:
    try:
        return request_class.FromString(data)
    except DecodeError:
        await context.abort(
            grpc.StatusCode.INVALID_ARGUMENT,
            f"the request body is not a valid {request_class.DESCRIPTOR.full_name} message",
        )
        raise  # unreachable: abort raises


async def _fail(method: str, error: Exception, context: grpc.aio.ServicerContext[Any, Any]) -> None:
    if isinstance(error, ChronoError):
        await context.abort_with_status(error.to_status())
    logger.error("%s failed", method, exc_info=error)
    await context.abort(grpc.StatusCode.INTERNAL, "internal error; see the server log")


def _unary(method: str, request_class: type[Message], behavior: UnaryBehavior) -> Any:
    async def handle(data: bytes, context: grpc.aio.ServicerContext[Any, Any]) -> Message:
        request = await _parse(request_class, data, context)
        try:
            return await behavior(request, context)
        except grpc.aio.AbortError:
            raise
        except Exception as error:
            await _fail(method, error, context)
            raise

    return handle


def _stream(method: str, request_class: type[Message], behavior: StreamBehavior) -> Any:
    async def handle(
        data: bytes, context: grpc.aio.ServicerContext[Any, Any]
    ) -> AsyncIterator[Message]:
        request = await _parse(request_class, data, context)
        try:
            async for response in behavior(request, context):
                yield response
        except grpc.aio.AbortError:
            raise
        except Exception as error:
            if context.done():
                # The caller left (cancelled, or its deadline passed) as the stream was
                # failing or being ended: there is nobody to send a status to.
                logger.debug("%s ended after its caller left: %r", method, error)
                return
            await _fail(method, error, context)
            raise

    return handle


def _handler(method: MethodDescriptor, servicer: object) -> grpc.RpcMethodHandler[Any, Any]:
    if method.client_streaming:
        raise ValueError(f"{method.full_name}: client-streaming methods are not supported")
    request_class = GetMessageClass(method.input_type)
    response_class = GetMessageClass(method.output_type)
    behavior = getattr(servicer, method.name)
    serialize = response_class.SerializeToString
    if method.server_streaming:
        return grpc.unary_stream_rpc_method_handler(
            _stream(method.full_name, request_class, behavior), response_serializer=serialize
        )
    return grpc.unary_unary_rpc_method_handler(
        _unary(method.full_name, request_class, behavior), response_serializer=serialize
    )


def add_servicer(server: grpc.aio.Server, service: ServiceDescriptor, servicer: object) -> None:
    """Serve every method of ``service`` from the same-named method of ``servicer``."""
    handlers = {method.name: _handler(method, servicer) for method in service.methods}
    server.add_generic_rpc_handlers(
        (grpc.method_handlers_generic_handler(service.full_name, handlers),)
    )
    server.add_registered_method_handlers(service.full_name, handlers)
