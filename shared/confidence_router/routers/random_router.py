"""The random baseline: P(cloud wins) drawn uniformly per query (seeded by the query itself, so
the same query always gets the same score)."""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np

from confidence_router.routers.base import EmbeddingRouter, Floats, register


@register
class RandomRouter(EmbeddingRouter):
    kind = "random"
    grid = ()  # a baseline: the benchmarks report random apart

    def __init__(self, seed: int = 0) -> None:
        super().__init__()
        self.seed = seed

    def _fit(self, x: Floats, y: Floats) -> None:
        pass

    def _predict(self, x: Floats) -> Floats:
        out = np.empty(x.shape[0])
        for i, row in enumerate(np.ascontiguousarray(x, dtype=np.float32)):
            digest = hashlib.sha256(row.tobytes() + self.seed.to_bytes(8, "little")).digest()
            out[i] = int.from_bytes(digest[:8], "little") / 2**64
        return out

    def settings(self) -> dict[str, Any]:
        return {"seed": self.seed}

    def arrays(self) -> dict[str, Floats]:
        return {"seed": np.array([float(self.seed)])}

    def load_arrays(self, arrays: dict[str, Floats]) -> None:
        pass
