"""Hand-made sampled generations and deterministic equivalences for the sample-estimator tests."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from confidence_router.generation import Answer, Generation
from confidence_router.messages import ChatMessage
from confidence_router.uncertainty import Equivalence, RequestStatistics


def sample_stats(
    texts: Sequence[str],
    logprobs: Sequence[Sequence[float]] | None = None,
    *,
    question: str = "q",
    greedy: str = "greedy answer",
) -> RequestStatistics:
    """A request whose edge generation has `texts` as samples (with `logprobs` when given)."""
    per_sample = logprobs or [()] * len(texts)
    samples = tuple(
        Answer(text=t, token_ids=tuple(range(len(lp))), token_logprobs=tuple(lp))
        for t, lp in zip(texts, per_sample, strict=True)
    )
    generation = Generation(greedy=Answer(text=greedy, token_ids=(1,)), samples=samples)
    return RequestStatistics([ChatMessage(role="user", content=question)], generation)


class FirstLetter(Equivalence):
    """Texts entail each other when they start with the same letter; records every question."""

    def __init__(self) -> None:
        self.asked: list[tuple[str, str]] = []

    def entails(self, question: str, premise: str, hypothesis: str) -> bool:
        self.asked.append((premise, hypothesis))
        return premise[:1] == hypothesis[:1]


class Relation(Equivalence):
    """Entailment from an explicit set of ordered (premise, hypothesis) pairs (plus identity)."""

    def __init__(self, pairs: set[tuple[str, str]]) -> None:
        self.pairs = pairs
        self.asked: list[tuple[str, str]] = []

    def entails(self, question: str, premise: str, hypothesis: str) -> bool:
        self.asked.append((premise, hypothesis))
        return premise == hypothesis or (premise, hypothesis) in self.pairs


class BatchedFirstLetter(FirstLetter):
    """`FirstLetter` that wants batches; records each batch."""

    batched: ClassVar[bool] = True

    def __init__(self) -> None:
        super().__init__()
        self.batches: list[list[tuple[str, str]]] = []

    def entails_batch(self, question: str, pairs: Sequence[tuple[str, str]]) -> list[bool]:
        self.batches.append(list(pairs))
        return [self.entails(question, p, h) for p, h in pairs]


class SymmetricFirstLetter(FirstLetter):
    symmetric: ClassVar[bool] = True
