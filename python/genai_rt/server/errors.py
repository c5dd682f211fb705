"""One mapping from what went wrong to a gRPC status (and, for HTTP, a status code).

Messages name the field: SamplingParams' own checks already say ``temperature must be >= 0``,
and the request converters prefix the message path (``params.temperature ...``).
"""

from __future__ import annotations

import grpc

from genai_rt.server.auth import AuthError


class ServiceError(Exception):
    """An error with its status; ``str(err)`` names the field or the cause."""

    def __init__(self, code: grpc.StatusCode, message: str, retry_after_s: float | None = None):
        super().__init__(message)
        self.code = code
        self.retry_after_s = retry_after_s


def invalid(message: str) -> ServiceError:
    return ServiceError(grpc.StatusCode.INVALID_ARGUMENT, message)


def denied(message: str) -> ServiceError:
    return ServiceError(grpc.StatusCode.PERMISSION_DENIED, message)


def exhausted(message: str, retry_after_s: float | None = None) -> ServiceError:
    return ServiceError(grpc.StatusCode.RESOURCE_EXHAUSTED, message, retry_after_s)


def unavailable(message: str) -> ServiceError:
    return ServiceError(grpc.StatusCode.UNAVAILABLE, message)


def to_service_error(exc: BaseException) -> ServiceError:
    """Classify an exception raised while serving a request."""
    if isinstance(exc, ServiceError):
        return exc
    if isinstance(exc, AuthError):
        return ServiceError(grpc.StatusCode.UNAUTHENTICATED, str(exc))
    if isinstance(exc, (ValueError, TypeError)):  # bad parameters, schemas, prompts
        return invalid(str(exc))
    return ServiceError(grpc.StatusCode.INTERNAL, f"{type(exc).__name__}: {exc}")


HTTP_STATUS = {
    grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.UNAUTHENTICATED: 401,
    grpc.StatusCode.PERMISSION_DENIED: 403,
    grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
    grpc.StatusCode.UNAVAILABLE: 503,
    grpc.StatusCode.DEADLINE_EXCEEDED: 504,
    grpc.StatusCode.CANCELLED: 499,
    grpc.StatusCode.INTERNAL: 500,
}
