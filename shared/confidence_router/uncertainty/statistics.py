"""The per-request cache of the statistics an estimator asks for (`Statistic` is re-exported from
`confidence_router.statistics`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from confidence_router.generation import Generation
from confidence_router.messages import ChatMessage
from confidence_router.statistics import Statistic

__all__ = ["RequestStatistics", "Statistic"]


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
