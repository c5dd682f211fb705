"""The /metrics endpoint, scraped over HTTP and parsed with prometheus-client's parser."""

from __future__ import annotations

import urllib.request

import pytest
from genai_rt.engine.outputs import RequestMetrics
from genai_rt.observability import Metrics
from prometheus_client.parser import text_string_to_metric_families


def _scrape(port: int) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        text = response.read().decode()
    samples: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            samples.setdefault(s.name, {})[tuple(sorted(s.labels.items()))] = s.value
    return samples


def test_metrics_endpoint_is_scraped_and_parsed() -> None:
    metrics = Metrics()
    stats = {"running": 3, "waiting": 2, "kv_usage": 0.25, "prefix_cache_hit_rate": 0.5}
    metrics.watch_engine(lambda: stats)
    metrics.watch_audit(lambda: 7)
    m = RequestMetrics(arrival_time=10.0, first_scheduled_time=10.01, first_token_time=10.05,
                       finished_time=10.45, num_prompt_tokens=12, num_generated_tokens=5)
    metrics.observe_request("acme", m, ["length"], "ok", cost=0.002)
    metrics.observe_steps({"frame": 0.01, "ground": 0.02})
    metrics.observe_gates([{"gate": "grounding", "passed": False}, {"gate": "format",
                                                                    "passed": True}], 1, True)
    metrics.observe_retrieval(returned=3, asked=4)
    server = metrics.serve(0, addr="127.0.0.1")
    try:
        port = server.server_port
        samples = _scrape(port)
        stats["running"] = 1  # gauges are read at scrape time
        again = _scrape(port)
    finally:
        server.shutdown()
    p = "genai_rt:"
    assert samples[p + "time_to_first_token_seconds_count"][()] == 1
    assert samples[p + "time_to_first_token_seconds_sum"][()] == approx(0.05)
    assert samples[p + "time_per_output_token_seconds_sum"][()] == approx(0.1)
    assert samples[p + "e2e_request_latency_seconds_sum"][()] == approx(0.45)
    assert samples[p + "prompt_tokens_total"][(("tenant", "acme"),)] == 12
    assert samples[p + "generation_tokens_total"][(("tenant", "acme"),)] == 5
    assert samples[p + "request_cost_usd_total"][(("tenant", "acme"),)] == approx(0.002)
    assert samples[p + "request_success_total"][(("finished_reason", "length"),)] == 1
    assert samples[p + "gate_failures_total"] == {(("gate", "grounding"),): 1}
    assert samples[p + "retries_total"][()] == 1 and samples[p + "escalations_total"][()] == 1
    assert samples[p + "retrieval_hits_total"][()] == 3
    assert samples[p + "pipeline_step_latency_seconds_count"][(("step", "ground"),)] == 1
    assert samples[p + "kv_cache_usage_perc"][()] == 0.25
    assert samples[p + "num_requests_waiting"][()] == 2
    assert samples[p + "prefix_cache_hit_rate"][()] == 0.5
    assert samples[p + "audit_queue_depth"][()] == 7
    assert samples[p + "num_requests_running"][()] == 3 and again[p + "num_requests_running"][
        ()] == 1


def approx(value: float) -> object:
    return pytest.approx(value, rel=1e-9, abs=1e-12)
