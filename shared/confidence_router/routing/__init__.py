"""Routing: the decision record, the cascade router, decision rules and their calibration."""

from confidence_router.routing.budget_controller import BudgetController
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
from confidence_router.routing.decision_rule import DecisionRule, rule_for_share
from confidence_router.routing.failure import FailurePolicy
from confidence_router.routing.predictive import HybridRouter, PredictiveRouter
from confidence_router.routing.risk import RiskCertificate, calibrate_risk, rule_for_risk
from confidence_router.routing.sticky import StickyRouting
from confidence_router.routing.tier_calibration import TierCalibration, calibrate_tiers
from confidence_router.routing.tiers import RouterTier, tiered

__all__ = [
    "BandCalibration",
    "BudgetController",
    "Calibration",
    "CascadeRouter",
    "CircuitBreaker",
    "DecisionRule",
    "EdgeAssessment",
    "FailurePolicy",
    "HybridRouter",
    "Latency",
    "PredictiveRouter",
    "Pricing",
    "Reason",
    "RiskCertificate",
    "RouteChunk",
    "RoutedResponse",
    "RouterTier",
    "StickyRouting",
    "TierCalibration",
    "band_for_share",
    "calibrate_band",
    "calibrate_risk",
    "calibrate_threshold",
    "calibrate_tiers",
    "rule_for_risk",
    "rule_for_share",
    "threshold_for_share",
    "tiered",
]
