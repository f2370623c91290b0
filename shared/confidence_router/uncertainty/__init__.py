"""Confidence estimators: each declares the statistics it needs, returns a confidence in [0, 1].

Importing this package imports every module in it, so each estimator registers itself
(`@register_estimator`, a new module here included); `get_estimator(name)` and `ESTIMATORS`
read that registry.
"""

from confidence_router.registry import import_submodules
from confidence_router.running_confidence import RunningConfidence, exit_point
from confidence_router.statistics import Statistic
from confidence_router.uncertainty.base import Estimator
from confidence_router.uncertainty.clustering import cluster_answers
from confidence_router.uncertainty.equivalence import (
    EQUIVALENCES,
    AnswerEquivalence,
    AutoEquivalence,
    EmbeddingEquivalence,
    Equivalence,
    LLMEntailment,
    NLIEntailment,
    get_equivalence,
    register_equivalence,
)
from confidence_router.uncertainty.lexical_similarity import LexicalSimilarity
from confidence_router.uncertainty.max_sequence_probability import MaxSequenceProbability
from confidence_router.uncertainty.mean_token_entropy import MeanTokenEntropy
from confidence_router.uncertainty.num_semantic_sets import NumSemanticSets
from confidence_router.uncertainty.p_true import PTrue, TokenProbabilityScorer
from confidence_router.uncertainty.perplexity import Perplexity
from confidence_router.uncertainty.probe import Probe, ProbeConfidence, load_probe, save_probe
from confidence_router.uncertainty.registry import ESTIMATORS, get_estimator, register_estimator
from confidence_router.uncertainty.semantic_entropy import SemanticEntropy
from confidence_router.uncertainty.statistics import RequestStatistics

import_submodules(__name__, __path__)  # any other estimator module here registers too

__all__ = [
    "EQUIVALENCES",
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
    "Probe",
    "ProbeConfidence",
    "RequestStatistics",
    "RunningConfidence",
    "SemanticEntropy",
    "Statistic",
    "TokenProbabilityScorer",
    "cluster_answers",
    "exit_point",
    "get_equivalence",
    "get_estimator",
    "load_probe",
    "register_equivalence",
    "register_estimator",
    "save_probe",
]
