"""What estimators built on sampled answers share: the samples, the question, the clusters."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, ClassVar, cast

from confidence_router.embeddings import Embedder
from confidence_router.errors import CapabilityError, ConfigurationError
from confidence_router.generation import Answer
from confidence_router.messages import ChatMessage
from confidence_router.statistics import Statistic
from confidence_router.uncertainty.base import Estimator
from confidence_router.uncertainty.clustering import cluster_answers
from confidence_router.uncertainty.equivalence.auto import AutoEquivalence
from confidence_router.uncertainty.equivalence.base import Equivalence
from confidence_router.uncertainty.equivalence.registry import get_equivalence
from confidence_router.uncertainty.statistics import RequestStatistics

if TYPE_CHECKING:
    from confidence_router.models.base import ChatBackend

MAX_SAMPLES = 64  # GenerationOptions.num_samples' bound


def question_of(messages: Sequence[ChatMessage]) -> str:
    """The question the answers reply to: the last user message ("" when there is none)."""
    return next((m.content for m in reversed(messages) if m.role == "user"), "")


def answer_text(answer: Answer) -> str:
    """An answer as text to compare: its text, plus its tool calls as canonical JSON."""
    if not answer.tool_calls:
        return answer.text
    calls = [{"name": c.name, "arguments": c.arguments} for c in answer.tool_calls]
    return f"{answer.text}\n{json.dumps(calls, sort_keys=True)}".strip()


class SampleEstimator(Estimator):
    """An estimator over the first `num_samples` sampled answers of the edge model.

    The greedy answer is not one of them (as in the reference implementation, which scores the
    high-temperature samples only). A generation with fewer samples than `num_samples` raises
    `CapabilityError`: the router asks for the largest `num_samples` of its estimators.
    """

    requires: ClassVar[frozenset[Statistic]] = frozenset({Statistic.SAMPLES})

    def __init__(self, num_samples: int) -> None:
        if not 1 <= num_samples <= MAX_SAMPLES:
            raise ConfigurationError(
                "num_samples", f"must be between 1 and {MAX_SAMPLES}, got {num_samples}"
            )
        self.num_samples = num_samples

    def samples(self, stats: RequestStatistics) -> tuple[Answer, ...]:
        got = stats.generation.samples
        if len(got) < self.num_samples:
            raise CapabilityError(
                f"{self.name} needs {self.num_samples} sampled answers, the edge returned "
                f"{len(got)} (generate with num_samples >= {self.num_samples})"
            )
        return got[: self.num_samples]

    def sample_texts(self, stats: RequestStatistics) -> list[str]:
        return [answer_text(a) for a in self.samples(stats)]


class SemanticSetEstimator(SampleEstimator):
    """A sample estimator over semantic clusters (see `cluster_answers`).

    `equivalence`: the relation to cluster with, or its registered name (`"answer"`,
    `"embedding"`, ...; built with its defaults, see `register_equivalence`); None (the
    default) chooses per request with `AutoEquivalence(judge, embedder)`: extracted final
    answers where the task has them, else `judge` asked for entailment, else sentence-embedding
    similarity. Clusters are cached in the request's statistics under the equivalence's `key`
    and the number of samples, so estimators that cluster the same samples the same way compute
    the clusters once.
    """

    def __init__(
        self,
        equivalence: Equivalence | str | None = None,
        *,
        judge: ChatBackend | None = None,
        embedder: Embedder | None = None,
        num_samples: int = 5,
    ) -> None:
        super().__init__(num_samples)
        if equivalence is not None and (judge is not None or embedder is not None):
            raise ConfigurationError(
                "judge", "judge and embedder choose the default equivalence; pass no equivalence"
            )
        if isinstance(equivalence, str):
            equivalence = get_equivalence(equivalence)
        self.equivalence = equivalence
        self.auto = AutoEquivalence(judge, embedder) if equivalence is None else None

    def equivalence_for(self, question: str, answers: Sequence[str]) -> Equivalence:
        """The equivalence used for one request."""
        if self.equivalence is not None:
            return self.equivalence
        assert self.auto is not None
        return self.auto.choose(question, answers)

    def cluster_ids(self, stats: RequestStatistics) -> tuple[int, ...]:
        """One cluster id per sample (0, 1, ... in order of first appearance)."""
        answers = self.sample_texts(stats)
        question = question_of(stats.messages)
        equivalence = self.equivalence_for(question, answers)
        key = f"semantic_ids:{equivalence.key}:n={len(answers)}"
        ids = stats.get(key, lambda: cluster_answers(question, answers, equivalence))
        return cast(tuple[int, ...], ids)

    def _describe(self) -> str:
        if self.equivalence is not None:
            return f"equivalence={self.equivalence!r}"
        return f"equivalence={self.auto!r}"
