"""Maximum sequence probability of the greedy answer."""

from __future__ import annotations

import math
from typing import ClassVar

from confidence_router.statistics import Statistic
from confidence_router.uncertainty.base import Estimator, greedy_logprobs
from confidence_router.uncertainty.registry import register_estimator
from confidence_router.uncertainty.statistics import RequestStatistics


@register_estimator
class MaxSequenceProbability(Estimator):
    """Probability of the greedy answer under the edge model.

    Uncertainty: the negative log-likelihood, -Σ log p(y_t), divided by the answer length when
    `normalize` (the default). Confidence: exp(-uncertainty), i.e. the geometric mean of the token
    probabilities when normalised, the whole sequence's probability otherwise. Normalised, it ranks
    answers exactly as `Perplexity` does (confidence = 1 / perplexity); unnormalised it punishes
    long answers.
    """

    name: ClassVar[str] = "max_sequence_probability"
    requires: ClassVar[frozenset[Statistic]] = frozenset({Statistic.GREEDY_LOGPROBS})

    def __init__(self, normalize: bool = True) -> None:
        self.normalize = normalize

    def uncertainty(self, stats: RequestStatistics) -> float:
        logprobs = greedy_logprobs(stats, self.name)
        nll = -math.fsum(logprobs)
        return nll / len(logprobs) if self.normalize else nll

    def to_confidence(self, uncertainty: float) -> float:
        return math.exp(-uncertainty)

    def __repr__(self) -> str:
        return f"MaxSequenceProbability(normalize={self.normalize})"
