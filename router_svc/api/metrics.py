"""Prometheus metrics of one app, on a registry of its own (tests create many apps).

router_svc_requests_total{endpoint,method,status}   counter
router_svc_request_seconds{endpoint}                histogram, until the last byte is sent
router_svc_stage_seconds{stage}                     histogram: tag, route, experts, aggregate
router_svc_expert_selections_total{expert}          counter: the recruiter chose the expert
router_svc_tokens_total{expert,kind}                counter: prompt or completion tokens
                                                    generated (cache hits generate none)
router_svc_cache_hits_total{source}                 counter: source is direct or pipeline
router_svc_cache_misses_total{source}               counter: generated, not from the cache
router_svc_queue_depth                              gauge: batch items not finished yet
router_svc_requests_in_flight                       gauge: HTTP requests being served now
router_svc_expert_requests{expert}                  gauge: API requests an expert holds now
                                                    (running or waiting; 429 past max_queue)
router_svc_model_loads{expert}                      gauge: model loads since the start
router_svc_models_resident                          gauge: models loaded now
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from router_svc.types import Completion

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)


class Metrics:
    """The collectors, registered on ``self.registry``."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "router_svc_requests",
            "HTTP requests answered.",
            ["endpoint", "method", "status"],
            registry=r,
        )
        self.latency = Histogram(
            "router_svc_request_seconds",
            "Time from request to last response byte.",
            ["endpoint"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.stages = Histogram(
            "router_svc_stage_seconds",
            "Time spent in each pipeline stage.",
            ["stage"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.selections = Counter(
            "router_svc_expert_selections",
            "Times the recruiter chose an expert.",
            ["expert"],
            registry=r,
        )
        self.tokens = Counter(
            "router_svc_tokens", "Tokens spent, by expert.", ["expert", "kind"], registry=r
        )
        self.cache_hits = Counter(
            "router_svc_cache_hits", "Generation cache hits.", ["source"], registry=r
        )
        self.cache_misses = Counter(
            "router_svc_cache_misses", "Generation cache misses.", ["source"], registry=r
        )
        self.queue_depth = Gauge(
            "router_svc_queue_depth", "Batch items not finished yet.", registry=r
        )
        self.in_flight = Gauge(
            "router_svc_requests_in_flight", "HTTP requests being served now.", registry=r
        )
        self.expert_requests = Gauge(
            "router_svc_expert_requests",
            "API requests an expert holds now, running or waiting.",
            ["expert"],
            registry=r,
        )
        self.model_loads = Gauge(
            "router_svc_model_loads",
            "Model loads since the server started.",
            ["expert"],
            registry=r,
        )
        self.models_resident = Gauge(
            "router_svc_models_resident", "Expert models loaded now.", registry=r
        )
        self.microbatch_size = Histogram(
            "router_svc_microbatch_size",
            "Direct expert requests sent to the engine together.",
            buckets=(1, 2, 4, 8, 16, 32, 64),
            registry=r,
        )
        self._batches_seen = 0

    def observe_stages(self, timings: Mapping[str, float]) -> None:
        for stage, seconds in timings.items():
            self.stages.labels(stage=stage).observe(seconds)

    def count_selections(self, experts: Iterable[str]) -> None:
        for expert in experts:
            self.selections.labels(expert=expert).inc()

    def count_tokens(self, expert: str, prompt: int, completion: int) -> None:
        self.tokens.labels(expert=expert, kind="prompt").inc(prompt)
        self.tokens.labels(expert=expert, kind="completion").inc(completion)

    def count_spent(self, completion: Completion) -> None:
        """The tokens of a generation nobody waited for any more (its client left)."""
        self.count_tokens(completion.expert, completion.prompt_tokens, completion.completion_tokens)

    def count_completion(self, completion: Completion, source: str) -> None:
        """A cache hit for a cached completion; else a miss and the tokens it generated."""
        if completion.cached:
            self.cache_hits.labels(source=source).inc()
            return
        self.cache_misses.labels(source=source).inc()
        self.count_tokens(completion.expert, completion.prompt_tokens, completion.completion_tokens)

    def set_models(self, loads_by_expert: Mapping[str, int], resident: int) -> None:
        for expert, loads in loads_by_expert.items():
            self.model_loads.labels(expert=expert).set(loads)
        self.models_resident.set(resident)

    def set_expert_requests(self, held: Mapping[str, int]) -> None:
        for expert, count in held.items():
            self.expert_requests.labels(expert=expert).set(count)

    def observe_batches(self, sizes: Sequence[int]) -> None:
        """Observe the micro-batches sent since the last call (``sizes``: all, in order)."""
        for size in sizes[self._batches_seen :]:
            self.microbatch_size.observe(size)
        self._batches_seen = len(sizes)

    def render(self) -> bytes:
        return generate_latest(self.registry)
