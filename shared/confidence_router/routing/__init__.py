"""Routing: the decision record, the cascade router, threshold calibration."""

from confidence_router.routing.calibration import (
    Calibration,
    calibrate_threshold,
    threshold_for_share,
)
from confidence_router.routing.cascade import CascadeRouter, EdgeAssessment, RouteChunk
from confidence_router.routing.decision import Latency, Pricing, Reason, RoutedResponse

__all__ = [
    "Calibration",
    "CascadeRouter",
    "EdgeAssessment",
    "Latency",
    "Pricing",
    "Reason",
    "RouteChunk",
    "RoutedResponse",
    "calibrate_threshold",
    "threshold_for_share",
]
