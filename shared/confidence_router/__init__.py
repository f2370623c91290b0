"""confidence-router: answer with a small edge LLM first, escalate to a cloud LLM when unsure.

from confidence_router import CascadeRouter, OpenAIChatModel, TransformersModel
"""

from typing import TYPE_CHECKING

from confidence_router.errors import (
    BackendError,
    CapabilityError,
    CircuitOpenError,
    CloudRequestError,
    CloudUnavailableError,
    ConfidenceRouterError,
    ConfigurationError,
    DeadlineExceededError,
    InvalidInputError,
    ModelLoadError,
    PromptTooLongError,
    StreamInterruptedError,
)
from confidence_router.generation import Answer, Generation, GenerationOptions, Usage
from confidence_router.messages import ChatMessage, ToolCall
from confidence_router.models import OpenAIChatModel, load_edge
from confidence_router.routing import (
    BandCalibration,
    BudgetController,
    Calibration,
    CascadeRouter,
    CircuitBreaker,
    DecisionRule,
    FailurePolicy,
    HybridRouter,
    PredictiveRouter,
    Pricing,
    Reason,
    RouteChunk,
    RoutedResponse,
    StickyRouting,
    calibrate_band,
    calibrate_risk,
    calibrate_threshold,
    calibrate_tiers,
    tiered,
)

if TYPE_CHECKING:
    from confidence_router.models.llama_cpp import LlamaCppModel
    from confidence_router.models.transformers import TransformersModel

__version__ = "0.1.0"


def __getattr__(name: str) -> object:
    # Importing torch/transformers costs seconds: only when the edge backend is used.
    if name == "TransformersModel":
        from confidence_router.models.transformers import TransformersModel

        return TransformersModel
    if name == "LlamaCppModel":
        from confidence_router.models.llama_cpp import LlamaCppModel

        return LlamaCppModel
    raise AttributeError(f"module 'confidence_router' has no attribute {name!r}")


__all__ = [
    "Answer",
    "BackendError",
    "BandCalibration",
    "BudgetController",
    "Calibration",
    "CapabilityError",
    "CascadeRouter",
    "ChatMessage",
    "CircuitBreaker",
    "CircuitOpenError",
    "CloudRequestError",
    "CloudUnavailableError",
    "ConfidenceRouterError",
    "ConfigurationError",
    "DeadlineExceededError",
    "DecisionRule",
    "FailurePolicy",
    "Generation",
    "GenerationOptions",
    "HybridRouter",
    "InvalidInputError",
    "LlamaCppModel",
    "ModelLoadError",
    "OpenAIChatModel",
    "PredictiveRouter",
    "Pricing",
    "PromptTooLongError",
    "Reason",
    "RouteChunk",
    "RoutedResponse",
    "StickyRouting",
    "StreamInterruptedError",
    "ToolCall",
    "TransformersModel",
    "Usage",
    "__version__",
    "calibrate_band",
    "calibrate_risk",
    "calibrate_threshold",
    "calibrate_tiers",
    "load_edge",
    "tiered",
]
