"""Routing: the decision record, the cascade router, threshold calibration."""

from confidence_router.routing.calibration import (
    BandCalibration,
    Calibration,
    band_for_share,
    calibrate_band,
    calibrate_threshold,
    threshold_for_share,
)
from confidence_router.routing.cascade import CascadeRouter, EdgeAssessment, RouteChunk
from confidence_router.routing.circuit_breaker import CircuitBreaker
from confidence_router.routing.decision import Latency, Pricing, Reason, RoutedResponse
from confidence_router.routing.failure import FailurePolicy
from confidence_router.routing.predictive import HybridRouter, PredictiveRouter

__all__ = [
    "BandCalibration",
    "Calibration",
    "CascadeRouter",
    "CircuitBreaker",
    "EdgeAssessment",
    "FailurePolicy",
    "HybridRouter",
    "Latency",
    "PredictiveRouter",
    "Pricing",
    "Reason",
    "RouteChunk",
    "RoutedResponse",
    "band_for_share",
    "calibrate_band",
    "calibrate_threshold",
    "threshold_for_share",
]
