"""kNN: the (mean) label of the most similar training queries (cosine); k=1 as in the paper."""

from __future__ import annotations

from typing import Any

import numpy as np

from confidence_router.errors import ConfigurationError
from confidence_router.routers.base import EmbeddingRouter, Floats, normalize, register


@register
class KNNRouter(EmbeddingRouter):
    kind = "knn"
    grid = ({"k": 1}, {"k": 10}, {"k": 50})

    def __init__(self, k: int = 1) -> None:
        super().__init__()
        if k < 1:
            raise ConfigurationError("k", f"must be >= 1, got {k}")
        self.k = k

    def _fit(self, x: Floats, y: Floats) -> None:
        self._x, self._y = normalize(x), y

    def _predict(self, x: Floats) -> Floats:
        sims = normalize(x) @ self._x.T
        k = min(self.k, self._x.shape[0])
        nearest = np.argsort(-sims, axis=1, kind="stable")[:, :k]
        return np.asarray(self._y[nearest].mean(axis=1), dtype=np.float64)

    def settings(self) -> dict[str, Any]:
        return {"k": self.k}

    def arrays(self) -> dict[str, Floats]:
        return {"x": self._x, "y": self._y}

    def load_arrays(self, arrays: dict[str, Floats]) -> None:
        self._x, self._y = arrays["x"], arrays["y"]
