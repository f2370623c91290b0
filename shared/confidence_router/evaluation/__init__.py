"""Evaluation: the result store and runner every long job shares, and router curves/metrics."""

from confidence_router.evaluation.curves import Curve, oracle_curve, random_curve, router_curve
from confidence_router.evaluation.runner import Stage, run_stages
from confidence_router.evaluation.store import ResultStore, Run

__all__ = [
    "Curve",
    "ResultStore",
    "Run",
    "Stage",
    "oracle_curve",
    "random_curve",
    "router_curve",
    "run_stages",
]
