"""`RoutingDecisionEvent`: each routed call's decision, through LlamaIndex instrumentation."""

from __future__ import annotations

from typing import Any

from llama_index.core.instrumentation.events import BaseEvent


class RoutingDecisionEvent(BaseEvent):
    """Emitted once per routed call, after the decision; `decision` is
    `RoutedResponse.decision()` (route, reason, confidence, scores, threshold, usage, cost,
    latency). Listen with an event handler on `llama_index.core.instrumentation`'s root
    dispatcher."""

    decision: dict[str, Any]

    @classmethod
    def class_name(cls) -> str:
        return "RoutingDecisionEvent"
