"""Prometheus metrics of the routing server, in the text exposition format (no dependency).

Requests by route and reason, the cloud share, latency per tier (histograms), tokens per tier,
estimated cost, refused or failed requests by status, and the circuit breaker's state."""

from __future__ import annotations

import math
import threading
from collections import Counter

from confidence_router.routing.decision import RoutedResponse

BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, math.inf)
_STATES = ("closed", "open", "half_open")


class Histogram:
    def __init__(self) -> None:
        self.counts = [0] * len(BUCKETS)
        self.total = 0.0
        self.n = 0

    def observe(self, value: float) -> None:
        self.total += value
        self.n += 1
        for i, bound in enumerate(BUCKETS):
            if value <= bound:
                self.counts[i] += 1

    def lines(self, name: str, labels: str) -> list[str]:
        out = []
        for bound, count in zip(BUCKETS, self.counts, strict=True):
            le = "+Inf" if bound == math.inf else f"{bound}"
            out.append(f'{name}_bucket{{{labels},le="{le}"}} {count}')
        out.append(f"{name}_sum{{{labels}}} {self.total}")
        out.append(f"{name}_count{{{labels}}} {self.n}")
        return out


class Metrics:
    """Thread-safe counters the app updates per request and renders on `GET /metrics`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests: Counter[tuple[str, str]] = Counter()
        self.degraded: Counter[str] = Counter()
        self.refused: Counter[str] = Counter()
        self.tokens: Counter[tuple[str, str]] = Counter()
        self.cost = 0.0
        self.latency = {tier: Histogram() for tier in ("edge", "cloud", "total")}

    def observe(self, response: RoutedResponse) -> None:
        with self._lock:
            self.requests[(response.route, response.reason.value)] += 1
            if response.degraded:
                self.degraded[response.degraded_reason or "unknown"] += 1
            for tier, usage in response.usage.items():
                self.tokens[(tier, "input")] += usage.input_tokens
                self.tokens[(tier, "output")] += usage.output_tokens
            self.cost += response.cost
            if response.latency.edge_s:
                self.latency["edge"].observe(response.latency.edge_s)
            if response.latency.cloud_s:
                self.latency["cloud"].observe(response.latency.cloud_s)
            self.latency["total"].observe(response.latency.total_s)

    def observe_refusal(self, status: int) -> None:
        with self._lock:
            self.refused[str(status)] += 1

    def render(self, breaker_state: str, threshold: float | None = None) -> str:
        with self._lock:
            lines = [
                "# HELP confidence_router_requests_total Answered requests by route and reason.",
                "# TYPE confidence_router_requests_total counter",
            ]
            for (route, reason), n in sorted(self.requests.items()):
                lines.append(
                    f'confidence_router_requests_total{{route="{route}",reason="{reason}"}} {n}'
                )
            answered = sum(self.requests.values())
            cloud = sum(n for (route, _), n in self.requests.items() if route == "cloud")
            lines += [
                "# HELP confidence_router_cloud_share Share of answered requests the cloud took.",
                "# TYPE confidence_router_cloud_share gauge",
                f"confidence_router_cloud_share {cloud / answered if answered else 0.0}",
                "# HELP confidence_router_degraded_total Edge answers given as the cloud failed.",
                "# TYPE confidence_router_degraded_total counter",
            ]
            lines += [
                f'confidence_router_degraded_total{{reason="{r}"}} {n}'
                for r, n in sorted(self.degraded.items())
            ]
            lines += [
                "# HELP confidence_router_refused_total Requests refused or failed, by status.",
                "# TYPE confidence_router_refused_total counter",
            ]
            lines += [
                f'confidence_router_refused_total{{status="{s}"}} {n}'
                for s, n in sorted(self.refused.items())
            ]
            lines += [
                "# HELP confidence_router_tokens_total Tokens by tier and direction.",
                "# TYPE confidence_router_tokens_total counter",
            ]
            lines += [
                f'confidence_router_tokens_total{{tier="{t}",direction="{d}"}} {n}'
                for (t, d), n in sorted(self.tokens.items())
            ]
            lines += [
                "# HELP confidence_router_cost_total Estimated cost (the router's prices).",
                "# TYPE confidence_router_cost_total counter",
                f"confidence_router_cost_total {self.cost}",
                "# HELP confidence_router_latency_seconds Wall time per tier and end to end.",
                "# TYPE confidence_router_latency_seconds histogram",
            ]
            for tier, histogram in self.latency.items():
                lines += histogram.lines("confidence_router_latency_seconds", f'tier="{tier}"')
            lines += [
                "# HELP confidence_router_circuit_breaker_state 1 for the breaker's state.",
                "# TYPE confidence_router_circuit_breaker_state gauge",
            ]
            lines += [
                f'confidence_router_circuit_breaker_state{{state="{s}"}} {int(s == breaker_state)}'
                for s in _STATES
            ]
            if threshold is not None:
                lines += [
                    "# HELP confidence_router_threshold The decision rule's threshold now.",
                    "# TYPE confidence_router_threshold gauge",
                    f"confidence_router_threshold {threshold}",
                ]
        return "\n".join(lines) + "\n"
