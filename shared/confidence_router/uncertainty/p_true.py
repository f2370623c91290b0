"""P(True): the model judges its own answer (Kadavath et al. 2022; a Farquhar et al. baseline)."""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, ClassVar, Protocol, cast, runtime_checkable

from confidence_router.errors import (
    BackendError,
    CapabilityError,
    ConfigurationError,
    InvalidInputError,
)
from confidence_router.messages import ChatMessage
from confidence_router.statistics import Statistic
from confidence_router.uncertainty.base import Estimator
from confidence_router.uncertainty.registry import register_estimator
from confidence_router.uncertainty.sample_based import MAX_SAMPLES, answer_text, question_of
from confidence_router.uncertainty.statistics import RequestStatistics

if TYPE_CHECKING:
    from confidence_router.models.base import ChatBackend

DEFAULT_PROMPT = (
    "Question: {question}\n{ideas}Proposed answer: {answer}\n"
    "Is the proposed answer True or False? Reply with one word: True or False."
)
IDEAS_HEADER = "Here are some brainstormed ideas:\n"
_FLOOR = 1e-12  # P(True) below this is scored as this, so that -log stays finite


@runtime_checkable
class TokenProbabilityScorer(Protocol):
    """A model that can score a fixed reply: the probability that, answering `messages`, its
    reply starts with `continuation` (the product of the continuation's token probabilities at
    temperature 1, right after the assistant turn opens)."""

    def probability_of(self, messages: Sequence[ChatMessage], continuation: str) -> float: ...


@register_estimator
class PTrue(Estimator):
    """The probability the model gives to "True" when asked whether its greedy answer is right.

    `scorer` is usually the edge model itself (any `TokenProbabilityScorer`). Left None, a
    `CascadeRouter` binds its edge as the scorer (`bind`; the edge must declare
    `Capabilities.token_scoring`, as `TransformersModel` does), so `PTrue()` and the registered
    name "p_true" work in a router; used on its own, an unbound `PTrue` raises
    `CapabilityError`. The prompt holds the
    question (the last user message), optionally `num_samples` sampled answers as "brainstormed
    ideas" (as in the reference; 0 by default, so no samples are needed), and the greedy answer.
    With `normalize` (default) the score is P(True) / (P(True) + P(False)), which discounts the
    mass the model puts on other first tokens (0 when both are 0); otherwise the raw P(True).
    Uncertainty: −log score; confidence: the score.
    """

    name: ClassVar[str] = "p_true"
    requires: ClassVar[frozenset[Statistic]] = frozenset()

    def __init__(
        self,
        scorer: TokenProbabilityScorer | None = None,
        *,
        num_samples: int = 0,
        normalize: bool = True,
        prompt: str = DEFAULT_PROMPT,
        true_text: str = "True",
        false_text: str = "False",
    ) -> None:
        if scorer is not None and not isinstance(scorer, TokenProbabilityScorer):
            raise ConfigurationError("scorer", "must have a probability_of(messages, text) method")
        if not 0 <= num_samples <= MAX_SAMPLES:
            raise ConfigurationError(
                "num_samples", f"must be between 0 and {MAX_SAMPLES}, got {num_samples}"
            )
        for name in ("{question}", "{ideas}", "{answer}"):
            if name not in prompt:
                raise ConfigurationError("prompt", f"must contain the placeholder {name}")
        self.scorer = scorer
        self.num_samples = num_samples
        self.normalize = normalize
        self.prompt = prompt
        self.true_text = true_text
        self.false_text = false_text
        if num_samples:
            self.requires = frozenset({Statistic.SAMPLES})  # type: ignore[misc]

    def bind(self, edge: ChatBackend) -> PTrue:
        """Itself when it has a scorer, else a copy scoring with `edge`."""
        if self.scorer is not None:
            return self
        if not edge.capabilities.token_scoring or not isinstance(edge, TokenProbabilityScorer):
            raise CapabilityError(
                f"{self.name}: the edge model {edge.model_name!r} cannot score a fixed reply "
                "(probability_of); pass PTrue(scorer=...) with a model that can"
            )
        bound = copy.copy(self)
        bound.scorer = edge
        return bound

    def messages(self, stats: RequestStatistics) -> list[ChatMessage]:
        """The conversation the scorer continues with "True" / "False"."""
        ideas = ""
        if self.num_samples:
            samples = stats.generation.samples[: self.num_samples]
            ideas = IDEAS_HEADER + "".join(f"{answer_text(a)}\n" for a in samples)
        content = self.prompt.format(
            question=question_of(stats.messages),
            ideas=ideas,
            answer=answer_text(stats.generation.greedy),
        )
        return [ChatMessage(role="user", content=content)]

    def _probability(self, messages: list[ChatMessage], text: str) -> float:
        if self.scorer is None:
            raise CapabilityError(
                f"{self.name} has no scorer: pass PTrue(scorer=...) or use it in a CascadeRouter, "
                "which binds the edge model"
            )
        value = float(self.scorer.probability_of(messages, text))
        if not 0.0 <= value <= 1.0:  # also catches NaN
            raise BackendError(
                f"{self.name}: the scorer returned {value} for P({text!r})",
                tier=str(getattr(self.scorer, "tier", "edge")),
            )
        return value

    def p_true(self, stats: RequestStatistics) -> float:
        """The (normalised) probability of "True", computed once per request."""

        def compute() -> float:
            if not stats.generation.greedy.text.strip() and not stats.generation.tool_calls:
                raise InvalidInputError(f"{self.name}: the edge answer is empty")
            messages = self.messages(stats)
            p_true = self._probability(messages, self.true_text)
            if not self.normalize:
                return p_true
            p_false = self._probability(messages, self.false_text)
            total = p_true + p_false
            return p_true / total if total > 0 else 0.0

        key = f"p_true:{id(self.scorer):x}:{self.normalize}:{self.num_samples}:{hash(self.prompt)}"
        return cast(float, stats.get(key, compute))

    def uncertainty(self, stats: RequestStatistics) -> float:
        return -math.log(max(self.p_true(stats), _FLOOR))

    def to_confidence(self, uncertainty: float) -> float:
        return math.exp(-uncertainty)

    def __repr__(self) -> str:
        return f"PTrue(num_samples={self.num_samples}, normalize={self.normalize})"
