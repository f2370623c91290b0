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
from confidence_router.models import OpenAIChatModel
from confidence_router.routing import (
    BandCalibration,
    Calibration,
    CascadeRouter,
    CircuitBreaker,
    FailurePolicy,
    HybridRouter,
    PredictiveRouter,
    Pricing,
    Reason,
    RouteChunk,
    RoutedResponse,
    calibrate_band,
    calibrate_threshold,
)

if TYPE_CHECKING:
    from confidence_router.models.transformers import TransformersModel

__version__ = "0.1.0"


def __getattr__(name: str) -> object:
    # Importing torch/transformers costs seconds: only when the edge backend is used.
    if name == "TransformersModel":
        from confidence_router.models.transformers import TransformersModel

        return TransformersModel
    raise AttributeError(f"module 'confidence_router' has no attribute {name!r}")


__all__ = [
    "Answer",
    "BackendError",
    "BandCalibration",
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
    "FailurePolicy",
    "Generation",
    "GenerationOptions",
    "HybridRouter",
    "InvalidInputError",
    "ModelLoadError",
    "OpenAIChatModel",
    "PredictiveRouter",
    "Pricing",
    "PromptTooLongError",
    "Reason",
    "RouteChunk",
    "RoutedResponse",
    "StreamInterruptedError",
    "ToolCall",
    "TransformersModel",
    "Usage",
    "__version__",
    "calibrate_band",
    "calibrate_threshold",
]
