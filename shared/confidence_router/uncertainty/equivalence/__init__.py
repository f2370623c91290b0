"""When two sampled answers mean the same thing: the relation semantic clustering is built on."""

from confidence_router.uncertainty.equivalence.answer import AnswerEquivalence, AnswerKind
from confidence_router.uncertainty.equivalence.auto import AutoEquivalence
from confidence_router.uncertainty.equivalence.base import Equivalence
from confidence_router.uncertainty.equivalence.embedding import EmbeddingEquivalence
from confidence_router.uncertainty.equivalence.llm import LLMEntailment
from confidence_router.uncertainty.equivalence.nli import NLIEntailment

__all__ = [
    "AnswerEquivalence",
    "AnswerKind",
    "AutoEquivalence",
    "EmbeddingEquivalence",
    "Equivalence",
    "LLMEntailment",
    "NLIEntailment",
]
