"""When two sampled answers mean the same thing: the relation semantic clustering is built on.

Importing this package imports every module in it, so each equivalence registers itself
(`@register_equivalence`, a new module here included); `get_equivalence(name)` and
`EQUIVALENCES` read that registry.
"""

from confidence_router.registry import import_submodules
from confidence_router.uncertainty.equivalence.answer import AnswerEquivalence, AnswerKind
from confidence_router.uncertainty.equivalence.auto import AutoEquivalence
from confidence_router.uncertainty.equivalence.base import Equivalence
from confidence_router.uncertainty.equivalence.embedding import EmbeddingEquivalence
from confidence_router.uncertainty.equivalence.llm import LLMEntailment
from confidence_router.uncertainty.equivalence.nli import NLIEntailment
from confidence_router.uncertainty.equivalence.registry import (
    EQUIVALENCES,
    get_equivalence,
    register_equivalence,
)

import_submodules(__name__, __path__)  # any other equivalence module here registers too

__all__ = [
    "EQUIVALENCES",
    "AnswerEquivalence",
    "AnswerKind",
    "AutoEquivalence",
    "EmbeddingEquivalence",
    "Equivalence",
    "LLMEntailment",
    "NLIEntailment",
    "get_equivalence",
    "register_equivalence",
]
