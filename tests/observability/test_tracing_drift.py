"""Spans per pipeline step when an exporter is configured (none when off); drift metrics."""

from __future__ import annotations

import logging

import numpy as np
import pytest
from genai_rt.observability import DriftMonitor, Metrics, configure_tracing, span
from genai_rt.observability.tracing import tracing_enabled
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter


def test_spans_are_free_when_off_and_exported_when_on() -> None:
    assert not tracing_enabled()
    assert span("frame") is span("ground")  # one shared no-op, nothing allocated
    exporter = InMemorySpanExporter()
    configure_tracing(exporter, batch=False)
    try:
        with span("pipeline", tenant="acme"):
            for step in ("frame", "ground", "generate", "validate", "record"):
                with span(step):
                    pass
        spans = exporter.get_finished_spans()
        assert [s.name for s in spans] == ["frame", "ground", "generate", "validate", "record",
                                           "pipeline"]
        parent = spans[-1]
        assert parent.attributes["tenant"] == "acme"
        assert all(s.parent is not None and s.parent.span_id == parent.context.span_id
                   for s in spans[:-1])
    finally:
        configure_tracing(None)
    assert not tracing_enabled()
    with pytest.raises(ValueError, match="trace exporter must be"):
        configure_tracing("otlp")


def test_drift_rises_with_a_topic_shift_and_warns_once(caplog: pytest.LogCaptureFixture) -> None:
    rng = np.random.default_rng(0)
    metrics = Metrics()
    monitor = DriftMonitor(window=50, centroid_threshold=0.2, intent_threshold=0.3,
                           metrics=metrics)
    hr = np.array([1.0, 0.0, 0.0, 0.0])
    finance = np.array([0.0, 1.0, 0.0, 0.0])
    for _ in range(50):  # the first window becomes the reference
        monitor.observe(hr + 0.1 * rng.standard_normal(4), "hr_policy")
    for _ in range(50):
        d = monitor.observe(hr + 0.1 * rng.standard_normal(4), "hr_policy")
    assert d["centroid"] < 0.05 and d["intent_mix"] == 0.0
    with caplog.at_level(logging.WARNING, logger="genai_rt.observability.drift"):
        for _ in range(50):
            d = monitor.observe(finance + 0.1 * rng.standard_normal(4), "expenses")
    assert d["centroid"] > 0.8 and d["intent_mix"] == 1.0
    warnings = [r.getMessage() for r in caplog.records]
    assert sum("centroid distance" in w for w in warnings) == 1
    assert sum("intent_mix distance" in w for w in warnings) == 1
    value = metrics.registry.get_sample_value("genai_rt:drift_embedding_centroid_distance")
    assert value == pytest.approx(d["centroid"])
    assert metrics.registry.get_sample_value("genai_rt:drift_intent_mix_distance") == 1.0
