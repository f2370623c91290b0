"""Re-export: `RunningConfidence` and `exit_point` live in `confidence_router.running_confidence`
(backends use them for early exit, below the estimators' layer)."""

from confidence_router.running_confidence import RunningConfidence, exit_point

__all__ = ["RunningConfidence", "exit_point"]
