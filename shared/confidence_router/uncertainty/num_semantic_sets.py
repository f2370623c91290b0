"""The number of distinct meanings among the sampled answers (Kuhn et al. 2023; Lin et al. 2023)."""

from __future__ import annotations

from typing import ClassVar

from confidence_router.statistics import Statistic
from confidence_router.uncertainty.registry import register_estimator
from confidence_router.uncertainty.sample_based import SemanticSetEstimator
from confidence_router.uncertainty.statistics import RequestStatistics


@register_estimator
class NumSemanticSets(SemanticSetEstimator):
    """K, the number of semantic clusters among `num_samples` = N samples (default 5).

    Same clustering and default equivalence as `SemanticEntropy` (shared per request when both
    use the same equivalence). Confidence: 1 − (K − 1) / (N − 1): one meaning → 1, N different
    ones → 0; N = 1 → 1.
    """

    name: ClassVar[str] = "num_semantic_sets"
    requires: ClassVar[frozenset[Statistic]] = frozenset({Statistic.SAMPLES})

    def uncertainty(self, stats: RequestStatistics) -> float:
        return float(len(set(self.cluster_ids(stats))))

    def to_confidence(self, uncertainty: float) -> float:
        if self.num_samples <= 1:
            return 1.0
        return 1.0 - (uncertainty - 1.0) / (self.num_samples - 1)

    def __repr__(self) -> str:
        return f"NumSemanticSets({self._describe()}, num_samples={self.num_samples})"
