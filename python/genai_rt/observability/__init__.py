"""Observability: Prometheus metrics, OpenTelemetry spans (off by default), drift."""

from __future__ import annotations

from genai_rt.observability.drift import DriftMonitor
from genai_rt.observability.metrics import Metrics
from genai_rt.observability.tracing import configure_tracing, span

__all__ = ["DriftMonitor", "Metrics", "configure_tracing", "span"]
