"""Mean per-step entropy of the edge model's next-token distribution along the greedy answer."""

from __future__ import annotations

import math
from typing import ClassVar

from confidence_router.errors import InvalidInputError
from confidence_router.statistics import Statistic
from confidence_router.uncertainty.base import Estimator
from confidence_router.uncertainty.registry import register_estimator
from confidence_router.uncertainty.statistics import RequestStatistics


@register_estimator
class MeanTokenEntropy(Estimator):
    """Mean entropy H̄ (nats) of the next-token distributions; confidence = exp(-H̄).

    exp(H) is the effective number of tokens the model hesitated between, so the confidence is its
    inverse: 1.0 for a certain model, 0.5 when it was on average split between two tokens. With an
    OpenAI-compatible edge the entropy is computed over the renormalised top-k log-probs the server
    returns, which underestimates the full-vocabulary entropy (see `OpenAIChatModel`).
    """

    name: ClassVar[str] = "mean_token_entropy"
    requires: ClassVar[frozenset[Statistic]] = frozenset({Statistic.GREEDY_ENTROPY})

    def uncertainty(self, stats: RequestStatistics) -> float:
        entropies = stats.generation.greedy.token_entropies
        if not entropies:
            raise InvalidInputError(f"{self.name}: the edge answer has no tokens to score")
        return math.fsum(entropies) / len(entropies)

    def to_confidence(self, uncertainty: float) -> float:
        return 0.0 if math.isnan(uncertainty) else math.exp(-max(0.0, uncertainty))
