"""LlamaIndex integration: `ConfidenceRouterLLM` (a routed `FunctionCallingLLM`), the offline
`MiniLMEmbedding`, and `RoutingDecisionEvent` for instrumentation."""

from llamaindex_confidence_router.backend import LlamaIndexLLMBackend, as_backend
from llamaindex_confidence_router.embedding import MiniLMEmbedding
from llamaindex_confidence_router.events import RoutingDecisionEvent
from llamaindex_confidence_router.llm import ConfidenceRouterLLM

__all__ = [
    "ConfidenceRouterLLM",
    "LlamaIndexLLMBackend",
    "MiniLMEmbedding",
    "RoutingDecisionEvent",
    "as_backend",
]
