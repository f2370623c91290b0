"""The default equivalence, chosen per request from the task."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from confidence_router.embeddings import Embedder
from confidence_router.uncertainty.equivalence.answer import AnswerEquivalence
from confidence_router.uncertainty.equivalence.base import Equivalence
from confidence_router.uncertainty.equivalence.embedding import EmbeddingEquivalence
from confidence_router.uncertainty.equivalence.llm import LLMEntailment

if TYPE_CHECKING:
    from confidence_router.models.base import ChatBackend


class AutoEquivalence:
    """Picks an equivalence for each request:

    1. `AnswerEquivalence` of the detected kind when a final answer can be extracted (a lettered
       multiple-choice question, or a quantity question / explicitly stated numbers; see
       `AnswerEquivalence.detect_kind`): exact, free, and what "the same answer" means there;
    2. else `LLMEntailment` with `judge`, when one is given (the reference's alternative to NLI);
    3. else `EmbeddingEquivalence` (all-MiniLM-L6-v2 by default, or `embedder`): no extra model
       calls, but similarity is only a proxy for entailment.

    The judge and embedding equivalences are created once, so their caches live across requests.
    """

    def __init__(self, judge: ChatBackend | None = None, embedder: Embedder | None = None) -> None:
        self.judge = judge
        self.embedder = embedder
        self._answers = {
            "number": AnswerEquivalence("number"),
            "choice": AnswerEquivalence("choice"),
        }
        self._fallback: Equivalence | None = None

    @property
    def fallback(self) -> Equivalence:
        """The equivalence for answers with no extractable final answer."""
        if self._fallback is None:
            self._fallback = (
                LLMEntailment(self.judge)
                if self.judge is not None
                else EmbeddingEquivalence(self.embedder)
            )
        return self._fallback

    def choose(self, question: str, answers: Sequence[str]) -> Equivalence:
        """The equivalence for one request's answers."""
        kind = AnswerEquivalence.detect_kind(question, answers)
        return self._answers[kind] if kind is not None else self.fallback

    def __repr__(self) -> str:
        judge = self.judge.model_name if self.judge is not None else None
        return f"AutoEquivalence(judge={judge!r})"
