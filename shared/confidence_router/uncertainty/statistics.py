"""The statistics an estimator can ask of a request, and the per-request cache that holds them."""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from typing import Any

from confidence_router.generation import Generation
from confidence_router.messages import ChatMessage


class Statistic(StrEnum):
    """A statistic that a backend produces while generating."""

    GREEDY_LOGPROBS = "greedy_logprobs"  # per-token log-probs of the greedy answer
    GREEDY_ENTROPY = "greedy_entropy"  # per-step entropy of the greedy answer's distribution
    SAMPLES = "samples"  # N sampled answers (texts)
    SAMPLE_LOGPROBS = "sample_logprobs"  # per-token log-probs of the samples


class RequestStatistics:
    """One request's generation plus derived statistics, each computed at most once.

    Estimators that need the same derived quantity (clusters, entailment matrices, ...) call
    `get(name, compute)`; the first caller computes it, the others reuse it.
    """

    def __init__(self, messages: list[ChatMessage], generation: Generation) -> None:
        self.messages = messages
        self.generation = generation
        self._cache: dict[str, Any] = {}

    def get(self, name: str, compute: Callable[[], Any]) -> Any:
        if name not in self._cache:
            self._cache[name] = compute()
        return self._cache[name]

    @property
    def computed(self) -> frozenset[str]:
        return frozenset(self._cache)
