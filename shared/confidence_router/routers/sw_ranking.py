"""Similarity-weighted (SW) ranking, RouteLLM's: a Bradley-Terry fit over the training battles,
each weighted by w_i = gamma^(1 + S(q, q_i)), S the cosine similarity divided by the largest
similarity to q, fitted per query at inference time. With two models the weighted
Bradley-Terry maximum-likelihood estimate has a closed form: P(cloud wins | q) is the weighted
share of battles the cloud won (a tie counting half)."""

from __future__ import annotations

from typing import Any

import numpy as np

from confidence_router.errors import ConfigurationError
from confidence_router.routers.base import EmbeddingRouter, Floats, normalize, register


@register
class SWRankingRouter(EmbeddingRouter):
    kind = "sw_ranking"
    grid = ({"gamma": 10.0},)

    def __init__(self, gamma: float = 10.0) -> None:
        super().__init__()
        if not gamma > 1.0:
            raise ConfigurationError("gamma", f"must be > 1, got {gamma}")
        self.gamma = gamma

    def _fit(self, x: Floats, y: Floats) -> None:
        self._x, self._y = normalize(x), y

    def _predict(self, x: Floats) -> Floats:
        sims = normalize(x) @ self._x.T
        top = np.max(np.abs(sims), axis=1, keepdims=True)
        scaled = sims / np.where(top == 0, 1.0, top)
        weights = self.gamma ** (1.0 + scaled)
        return np.asarray((weights @ self._y) / weights.sum(axis=1), dtype=np.float64)

    def settings(self) -> dict[str, Any]:
        return {"gamma": self.gamma}

    def arrays(self) -> dict[str, Floats]:
        return {"x": self._x, "y": self._y}

    def load_arrays(self, arrays: dict[str, Floats]) -> None:
        self._x, self._y = arrays["x"], arrays["y"]
