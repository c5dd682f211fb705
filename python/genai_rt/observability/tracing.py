"""OpenTelemetry spans per pipeline step, off by default and free when off.

``span("ground", tenant=…)`` is a context manager. Until ``configure_tracing`` installs an
exporter it returns one shared ``nullcontext``: no OpenTelemetry import, no allocation.
"""

from __future__ import annotations

import contextlib
from typing import Any

_NOOP = contextlib.nullcontext()
_tracer: Any = None
_provider: Any = None


def configure_tracing(exporter: Any = None, service_name: str = "genai_rt",
                      batch: bool = True) -> Any:
    """Turn spans on, exported by ``exporter`` ("console", or any SpanExporter instance);
    ``None`` turns them off again. Returns the TracerProvider (None when off)."""
    global _tracer, _provider
    if _provider is not None:
        _provider.shutdown()
    if exporter is None:
        _tracer = _provider = None
        return None
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import (
        BatchSpanProcessor,
        ConsoleSpanExporter,
        SimpleSpanProcessor,
    )

    if exporter == "console":
        exporter = ConsoleSpanExporter()
    elif isinstance(exporter, str):
        raise ValueError(f"trace exporter must be 'console' or a SpanExporter, got {exporter!r}")
    provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
    processor = BatchSpanProcessor(exporter) if batch else SimpleSpanProcessor(exporter)
    provider.add_span_processor(processor)
    _provider = provider
    _tracer = provider.get_tracer("genai_rt")
    return provider


def tracing_enabled() -> bool:
    return _tracer is not None


def span(name: str, **attributes: Any) -> Any:
    """A span named ``name`` (a context manager); a shared no-op when tracing is off."""
    if _tracer is None:
        return _NOOP
    return _tracer.start_as_current_span(name, attributes=attributes)
