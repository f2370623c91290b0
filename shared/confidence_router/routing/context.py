"""What one request's plan works with: the tiers, the policy, the failure policy and breaker,
prices and the optional pre-generation step. A router builds one per request."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from confidence_router.messages import ChatMessage
from confidence_router.models.base import ChatBackend
from confidence_router.routing.circuit_breaker import CircuitBreaker
from confidence_router.routing.decision import Pricing, Reason
from confidence_router.routing.failure import FailurePolicy
from confidence_router.routing.policy import RoutingPolicy
from confidence_router.routing.pregeneration import PreGeneration
from confidence_router.routing.sticky import StickyRouting


@dataclass(frozen=True)
class RouterContext:
    edge: ChatBackend
    cloud: ChatBackend
    policy: RoutingPolicy
    failure_policy: FailurePolicy
    breaker: CircuitBreaker
    prices: Mapping[str, Pricing]
    pre: PreGeneration | None = None
    sticky: StickyRouting | None = None

    @property
    def secrets(self) -> list[str]:
        """Every key the tiers hold (masked in records and errors)."""
        return [*self.edge.secret_values(), *self.cloud.secret_values()]

    def skip_edge(self, msgs: list[ChatMessage], tools: list[dict[str, object]]) -> Reason | None:
        """Why the edge cannot take this request at all (None: it can)."""
        caps = self.edge.capabilities
        if not caps.multimodal and any(m.has_media for m in msgs):
            return Reason.UNSUPPORTED_CONTENT
        if tools and not caps.tools:
            return Reason.EDGE_NO_TOOLS
        return None
