"""Registering servicers: one wrapper per method that does what every call needs.

Each call, in order: a request that does not parse is INVALID_ARGUMENT (grpc's own deserializer
would make it INTERNAL); a draining or still-loading server answers UNAVAILABLE; the API key
becomes a ``Principal`` (UNAUTHENTICATED otherwise); exceptions become status codes through
``errors.to_service_error``. Handlers are ``async def method(request, context, principal)``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any, Protocol

import grpc
from google.protobuf.descriptor import ServiceDescriptor
from google.protobuf.message import DecodeError
from google.protobuf.message_factory import GetMessageClass

from genai_rt.principal import Principal
from genai_rt.server.auth import ANONYMOUS, ApiKeyStore, bearer_token
from genai_rt.server.errors import ServiceError, to_service_error, unavailable

logger = logging.getLogger(__name__)


@dataclass
class _Malformed:
    type_name: str
    error: str


class Gate(Protocol):
    """What every call passes before its handler (the server implements it)."""

    keys: ApiKeyStore | None
    ready: bool
    draining: bool


def principal_of(gate: Gate, context: grpc.aio.ServicerContext) -> Principal:
    if gate.draining:
        raise unavailable("server is draining: retry on another replica")
    if not gate.ready:
        raise unavailable("server is loading the model")
    if gate.keys is None:
        return ANONYMOUS
    header = dict(context.invocation_metadata() or ()).get("authorization")
    return gate.keys.authenticate(bearer_token(header))


async def _abort(context: grpc.aio.ServicerContext, exc: BaseException) -> None:
    err = to_service_error(exc)
    if err.code == grpc.StatusCode.INTERNAL:
        logger.error("internal error serving a call", exc_info=exc)
    await context.abort(err.code, str(err))


def check_message(request: Any) -> None:
    """INVALID_ARGUMENT for a message that did not parse (client-streamed items too)."""
    if isinstance(request, _Malformed):
        raise ServiceError(grpc.StatusCode.INVALID_ARGUMENT,
                           f"request is not a valid {request.type_name}: {request.error}")


@contextlib.asynccontextmanager
async def _status_codes(context: grpc.aio.ServicerContext) -> AsyncIterator[None]:
    """Any error of a handler becomes its gRPC status (cancels and aborts pass through)."""
    try:
        yield
    except (asyncio.CancelledError, grpc.aio.AbortError):
        raise
    except Exception as exc:
        await _abort(context, exc)


def _unary(gate: Gate, fn: Callable[..., Any]) -> Callable[..., Any]:
    async def handler(request: Any, context: grpc.aio.ServicerContext) -> Any:
        async with _status_codes(context):
            check_message(request)
            return await fn(request, context, principal_of(gate, context))

    return handler


def _streaming(gate: Gate, fn: Callable[..., AsyncIterator[Any]]) -> Callable[..., Any]:
    async def handler(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
        async with _status_codes(context):
            check_message(request)
            async for item in fn(request, context, principal_of(gate, context)):
                yield item

    return handler


def _client_streaming(gate: Gate, fn: Callable[..., Any]) -> Callable[..., Any]:
    async def handler(requests: AsyncIterator[Any], context: grpc.aio.ServicerContext) -> Any:
        async with _status_codes(context):
            return await fn(requests, context, principal_of(gate, context))

    return handler


def _deserializer(cls: Any) -> Callable[[bytes], Any]:
    def parse(data: bytes) -> Any:
        try:
            return cls.FromString(data)
        except (DecodeError, RuntimeError, ValueError) as err:
            return _Malformed(cls.DESCRIPTOR.full_name, str(err) or type(err).__name__)

    return parse


def add_servicer(server: grpc.aio.Server, gate: Gate, service: ServiceDescriptor,
                 servicer: Any) -> str:
    """Register ``servicer``'s methods (named as in the proto) on ``server``; returns the
    service's full name. Client-streaming handlers get the request iterator (each item
    checked by ``check_message``); bidirectional streaming is not used."""
    handlers = {}
    for method in service.methods:
        fn = getattr(servicer, method.name)
        request_cls = GetMessageClass(method.input_type)
        response_cls = GetMessageClass(method.output_type)
        kwargs = dict(request_deserializer=_deserializer(request_cls),
                      response_serializer=response_cls.SerializeToString)
        if method.client_streaming:
            handlers[method.name] = grpc.stream_unary_rpc_method_handler(
                _client_streaming(gate, fn), **kwargs)
        elif method.server_streaming:
            handlers[method.name] = grpc.unary_stream_rpc_method_handler(
                _streaming(gate, fn), **kwargs)
        else:
            handlers[method.name] = grpc.unary_unary_rpc_method_handler(_unary(gate, fn), **kwargs)
    server.add_generic_rpc_handlers(
        (grpc.method_handlers_generic_handler(service.full_name, handlers),))
    return service.full_name
