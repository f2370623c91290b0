"""Lexical similarity: how much the sampled answers share their wording (ROUGE-L)."""

from __future__ import annotations

import re
from itertools import combinations
from typing import ClassVar

from confidence_router.statistics import Statistic
from confidence_router.uncertainty.registry import register_estimator
from confidence_router.uncertainty.sample_based import SampleEstimator
from confidence_router.uncertainty.statistics import RequestStatistics

_WORD = re.compile(r"\w+")


def tokens(text: str) -> list[str]:
    """Lower-cased word tokens (runs of letters, digits and underscores; punctuation dropped)."""
    return _WORD.findall(text.lower())


def lcs_length(a: list[str], b: list[str]) -> int:
    """Length of the longest common subsequence of two token lists."""
    if len(a) < len(b):
        a, b = b, a
    previous = [0] * (len(b) + 1)
    for token in a:
        current = [0]
        for j, other in enumerate(b):
            current.append(previous[j] + 1 if token == other else max(previous[j + 1], current[j]))
        previous = current
    return previous[-1]


def rouge_l(a: str, b: str) -> float:
    """ROUGE-L F1 of two texts: 2·P·R / (P + R) with P, R = LCS / length. Two empty texts → 1."""
    first, second = tokens(a), tokens(b)
    if not first and not second:
        return 1.0
    common = lcs_length(first, second)
    if common == 0:
        return 0.0
    precision, recall = common / len(second), common / len(first)
    return 2 * precision * recall / (precision + recall)


@register_estimator
class LexicalSimilarity(SampleEstimator):
    """Mean pairwise ROUGE-L F1 among `num_samples` sampled answers (default 5), in [0, 1].

    Uncertainty: 1 − similarity; confidence: the similarity itself. One sample → 1. Tokens are
    lower-cased words (see `tokens`), implemented here without the `rouge-score` package (whose
    tokenizer also lower-cases and drops punctuation, but keeps only ASCII letters and digits).
    """

    name: ClassVar[str] = "lexical_similarity"
    requires: ClassVar[frozenset[Statistic]] = frozenset({Statistic.SAMPLES})

    def __init__(self, num_samples: int = 5) -> None:
        super().__init__(num_samples)

    def similarity(self, stats: RequestStatistics) -> float:
        texts = self.sample_texts(stats)
        pairs = list(combinations(texts, 2))
        if not pairs:
            return 1.0
        return sum(rouge_l(a, b) for a, b in pairs) / len(pairs)

    def uncertainty(self, stats: RequestStatistics) -> float:
        return 1.0 - self.similarity(stats)

    def to_confidence(self, uncertainty: float) -> float:
        return 1.0 - uncertainty

    def __repr__(self) -> str:
        return f"LexicalSimilarity(num_samples={self.num_samples})"
