"""Perplexity of the greedy answer."""

from __future__ import annotations

import math
from typing import ClassVar

from confidence_router.statistics import Statistic
from confidence_router.uncertainty.base import Estimator, greedy_logprobs
from confidence_router.uncertainty.registry import register_estimator
from confidence_router.uncertainty.statistics import RequestStatistics


@register_estimator
class Perplexity(Estimator):
    """Perplexity exp(-mean log p(y_t)) of the greedy answer; confidence = 1 / perplexity.

    1 / perplexity is the geometric-mean token probability: 1.0 when every token was certain,
    0.5 when the model was on average choosing between two tokens.
    """

    name: ClassVar[str] = "perplexity"
    requires: ClassVar[frozenset[Statistic]] = frozenset({Statistic.GREEDY_LOGPROBS})

    def uncertainty(self, stats: RequestStatistics) -> float:
        logprobs = greedy_logprobs(stats, self.name)
        return math.exp(-math.fsum(logprobs) / len(logprobs))

    def to_confidence(self, uncertainty: float) -> float:
        return 1.0 / uncertainty if uncertainty > 0 else 0.0
