"""Confidence estimators: each declares the statistics it needs, returns a confidence in [0, 1]."""

from confidence_router.uncertainty.base import Estimator
from confidence_router.uncertainty.clustering import cluster_answers
from confidence_router.uncertainty.equivalence import (
    AnswerEquivalence,
    AutoEquivalence,
    EmbeddingEquivalence,
    Equivalence,
    LLMEntailment,
    NLIEntailment,
)
from confidence_router.uncertainty.lexical_similarity import LexicalSimilarity
from confidence_router.uncertainty.max_sequence_probability import MaxSequenceProbability
from confidence_router.uncertainty.mean_token_entropy import MeanTokenEntropy
from confidence_router.uncertainty.num_semantic_sets import NumSemanticSets
from confidence_router.uncertainty.p_true import PTrue, TokenProbabilityScorer
from confidence_router.uncertainty.perplexity import Perplexity
from confidence_router.uncertainty.running_confidence import RunningConfidence, exit_point
from confidence_router.uncertainty.semantic_entropy import SemanticEntropy
from confidence_router.uncertainty.statistics import RequestStatistics, Statistic

# Estimators that can be built with no arguments (`PTrue` then gets the router's edge as its
# scorer, see `Estimator.bind`).
ESTIMATORS: dict[str, type[Estimator]] = {
    cls.name: cls
    for cls in (
        MaxSequenceProbability,
        Perplexity,
        MeanTokenEntropy,
        SemanticEntropy,
        NumSemanticSets,
        LexicalSimilarity,
        PTrue,
    )
}


def get_estimator(name: str) -> Estimator:
    """An estimator by its registered name (`max_sequence_probability`, `perplexity`, ...)."""
    from confidence_router.errors import ConfigurationError

    try:
        return ESTIMATORS[name]()
    except KeyError:
        raise ConfigurationError(
            "estimator", f"unknown estimator {name!r}; allowed: {', '.join(sorted(ESTIMATORS))}"
        ) from None


__all__ = [
    "ESTIMATORS",
    "AnswerEquivalence",
    "AutoEquivalence",
    "EmbeddingEquivalence",
    "Equivalence",
    "Estimator",
    "LLMEntailment",
    "LexicalSimilarity",
    "MaxSequenceProbability",
    "MeanTokenEntropy",
    "NLIEntailment",
    "NumSemanticSets",
    "PTrue",
    "Perplexity",
    "RequestStatistics",
    "RunningConfidence",
    "SemanticEntropy",
    "Statistic",
    "TokenProbabilityScorer",
    "cluster_answers",
    "exit_point",
    "get_estimator",
]
