"""Prometheus metrics (prometheus-client), named the way vLLM names them, ``genai_rt:`` prefix.

A vLLM dashboard works after replacing ``vllm:`` with ``genai_rt:``. Units are in the names
(seconds, USD, ratios in [0, 1]); tenant labels where the issue asks "by tenant".

=============================================  ========  =========================================
metric                                         type      meaning
=============================================  ========  =========================================
time_to_first_token_seconds                    hist      arrival -> first output token (TTFT)
time_per_output_token_seconds                  hist      decode time / (output tokens - 1) (TPOT)
e2e_request_latency_seconds                    hist      arrival -> finish
pipeline_step_latency_seconds{step}            hist      one pipeline step (frame, ground, ...)
prompt_tokens_total{tenant}                    counter   tokens in
generation_tokens_total{tenant}                counter   tokens out
request_cost_usd_total{tenant}                 counter   cost from the price table
request_success_total{finished_reason}         counter   finished requests by reason (vLLM's)
requests_total{tenant,status}                  counter   audited requests by final status
gate_failures_total{gate}                      counter   validation gate failures
retries_total / escalations_total              counter   pipeline retries / escalations
retrieval_hits_total                           counter   passages returned by retrieval
retrieval_completeness                         hist      returned / asked, per retrieval
num_requests_running / num_requests_waiting    gauge     engine scheduler queues (at scrape)
kv_cache_usage_perc                            gauge     KV blocks used / total, in [0, 1]
prefix_cache_hit_rate                          gauge     prefix-cache hits / lookups, in [0, 1]
audit_queue_depth                              gauge     records waiting for the audit writer
budget_refusals_total{tenant}                  counter   requests refused by their budget
drift_embedding_centroid_distance              gauge     see ``observability.drift``
drift_intent_mix_distance                      gauge     see ``observability.drift``
=============================================  ========  =========================================
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

PREFIX = "genai_rt:"
# vLLM's buckets for TTFT / TPOT / e2e (seconds).
TTFT_BUCKETS = (0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0,
                7.5, 10.0)
TPOT_BUCKETS = (0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5)
E2E_BUCKETS = (0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0, 40.0, 50.0, 60.0)
RATIO_BUCKETS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.99, 1.0)


class Metrics:
    """All genai_rt metrics in one registry (its own, so several can coexist in tests)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r, p = self.registry, PREFIX
        self.ttft = Histogram(p + "time_to_first_token_seconds", "Time to first token (s)",
                              buckets=TTFT_BUCKETS, registry=r)
        self.tpot = Histogram(p + "time_per_output_token_seconds", "Time per output token (s)",
                              buckets=TPOT_BUCKETS, registry=r)
        self.e2e = Histogram(p + "e2e_request_latency_seconds", "End-to-end request latency (s)",
                             buckets=E2E_BUCKETS, registry=r)
        self.step_latency = Histogram(p + "pipeline_step_latency_seconds",
                                      "Latency of one pipeline step (s)", ["step"],
                                      buckets=E2E_BUCKETS, registry=r)
        self.prompt_tokens = Counter(p + "prompt_tokens", "Prompt tokens processed", ["tenant"],
                                     registry=r)
        self.generation_tokens = Counter(p + "generation_tokens", "Tokens generated",
                                         ["tenant"], registry=r)
        self.cost = Counter(p + "request_cost_usd", "Cost of requests (USD)", ["tenant"],
                            registry=r)
        self.success = Counter(p + "request_success", "Finished requests by finish reason",
                               ["finished_reason"], registry=r)
        self.requests = Counter(p + "requests", "Audited requests by final status",
                                ["tenant", "status"], registry=r)
        self.gate_failures = Counter(p + "gate_failures", "Validation gate failures", ["gate"],
                                     registry=r)
        self.retries = Counter(p + "retries", "Pipeline generation retries", registry=r)
        self.escalations = Counter(p + "escalations", "Requests escalated to a human",
                                   registry=r)
        self.retrieval_hits = Counter(p + "retrieval_hits", "Passages returned by retrieval",
                                      registry=r)
        self.retrieval_completeness = Histogram(p + "retrieval_completeness",
                                                "Passages returned / asked, per retrieval",
                                                buckets=RATIO_BUCKETS, registry=r)
        self.budget_refusals = Counter(p + "budget_refusals", "Requests refused by budget",
                                       ["tenant"], registry=r)
        self.running = Gauge(p + "num_requests_running", "Requests running", registry=r)
        self.waiting = Gauge(p + "num_requests_waiting", "Requests waiting", registry=r)
        self.kv_usage = Gauge(p + "kv_cache_usage_perc", "KV cache usage in [0, 1]", registry=r)
        self.prefix_hit_rate = Gauge(p + "prefix_cache_hit_rate",
                                     "Prefix cache hit rate in [0, 1]", registry=r)
        self.audit_queue = Gauge(p + "audit_queue_depth", "Records waiting for the audit writer",
                                 registry=r)
        self.drift_centroid = Gauge(p + "drift_embedding_centroid_distance",
                                    "Cosine distance of recent vs reference embedding centroid",
                                    registry=r)
        self.drift_intents = Gauge(p + "drift_intent_mix_distance",
                                   "Total variation distance of recent vs reference intent mix",
                                   registry=r)

    # ------------------------------------------------------------------------- observations
    def observe_request(self, tenant: str, metrics: Any, finish_reasons: list[str | None],
                        status: str, cost: float = 0.0) -> None:
        """Record one finished engine request (``metrics`` is its ``RequestMetrics``)."""
        arrival, first, done = metrics.arrival_time, metrics.first_token_time, (
            metrics.finished_time)
        if first is not None:
            self.ttft.observe(first - arrival)
            if done is not None and metrics.num_generated_tokens > 1:
                self.tpot.observe((done - first) / (metrics.num_generated_tokens - 1))
        if done is not None:
            self.e2e.observe(done - arrival)
        self.prompt_tokens.labels(tenant).inc(metrics.num_prompt_tokens)
        self.generation_tokens.labels(tenant).inc(metrics.num_generated_tokens)
        if cost:
            self.cost.labels(tenant).inc(cost)
        for reason in finish_reasons:
            if reason is not None:
                self.success.labels(reason).inc()
        self.requests.labels(tenant, status).inc()

    def observe_steps(self, timings: Mapping[str, float]) -> None:
        for step, seconds in timings.items():
            self.step_latency.labels(step).observe(seconds)

    def observe_gates(self, verdicts: list[Mapping[str, Any]], retries: int,
                      escalated: bool) -> None:
        for verdict in verdicts:
            if not verdict.get("passed", True):
                self.gate_failures.labels(str(verdict.get("gate", "unknown"))).inc()
        if retries:
            self.retries.inc(retries)
        if escalated:
            self.escalations.inc()

    def observe_retrieval(self, returned: int, asked: int) -> None:
        self.retrieval_hits.inc(returned)
        if asked > 0:
            self.retrieval_completeness.observe(min(1.0, returned / asked))

    def watch_engine(self, stats: Callable[[], Mapping[str, float | int]]) -> None:
        """Read the engine's gauges from ``stats()`` (``Engine.stats``) at scrape time only."""
        for gauge, key in ((self.running, "running"), (self.waiting, "waiting"),
                           (self.kv_usage, "kv_usage"),
                           (self.prefix_hit_rate, "prefix_cache_hit_rate")):
            gauge.set_function(_reader(stats, key))

    def watch_audit(self, pending: Callable[[], int]) -> None:
        self.audit_queue.set_function(lambda: float(pending()))

    def serve(self, port: int, addr: str = "0.0.0.0") -> Any:
        """Serve ``/metrics`` on ``addr:port`` from a daemon thread; returns the server."""
        server, _thread = start_http_server(port, addr=addr, registry=self.registry)
        return server


def _reader(stats: Callable[[], Mapping[str, float | int]], key: str) -> Callable[[], float]:
    return lambda: float(stats().get(key, 0.0))
