"""A new predictive router in one file: which tier's wins is the query's embedding closer to?

    python examples/extending/router.py   # offline: random embeddings, no model

`@register` is the only wiring: once this module is imported, `train_router(..., "centroid",
...)`, `load_router` (a saved centroid router loads back), `confidence-router train --router
centroid` and the benchmarks' grids (`benchmarks/router_grids.py`, its `grid`) know it.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from confidence_router.metrics import auroc
from confidence_router.routers import EmbeddingRouter, load_router, register
from confidence_router.routers.base import Floats, normalize
from confidence_router.training.labels import Battle, Winner
from confidence_router.training.train import train_router


@register
class CentroidRouter(EmbeddingRouter):
    """P(cloud wins | q) = sigmoid(scale · (cos(q, c_cloud) − cos(q, c_edge))), with c_cloud and
    c_edge the target-weighted means of the normalised training queries (a tie counts half to
    each). A nearest-centroid classifier: one vector per tier, nothing to tune but `scale`."""

    kind = "centroid"
    grid = ({"scale": 5.0}, {"scale": 20.0})  # what the benchmarks choose between

    def __init__(self, scale: float = 10.0) -> None:
        super().__init__()
        self.scale = scale

    def _fit(self, x: Floats, y: Floats) -> None:
        unit = normalize(x)
        cloud = (y[:, None] * unit).sum(axis=0) / max(float(y.sum()), 1e-9)
        edge = ((1 - y)[:, None] * unit).sum(axis=0) / max(float((1 - y).sum()), 1e-9)
        self._centroids = normalize(np.stack([edge, cloud]))

    def _predict(self, x: Floats) -> Floats:
        sims = normalize(x) @ self._centroids.T
        return np.asarray(1.0 / (1.0 + np.exp(-self.scale * (sims[:, 1] - sims[:, 0]))))

    def settings(self) -> dict[str, Any]:
        return {"scale": self.scale}

    def arrays(self) -> dict[str, Floats]:
        return {"centroids": self._centroids}

    def load_arrays(self, arrays: dict[str, Floats]) -> None:
        self._centroids = arrays["centroids"]


def battles(n: int, seed: int) -> tuple[list[Battle], dict[str, Floats]]:
    """n battles on random 16-d "embeddings": the cloud wins the queries near +e0."""
    rng = np.random.default_rng(seed)
    vectors = rng.normal(0.0, 1.0, (n, 16))
    out: list[Battle] = []
    table: dict[str, Floats] = {}
    for i, v in enumerate(vectors):
        prompt = f"query {seed}-{i}"
        table[prompt] = v
        winner: Winner = "cloud" if v[0] + rng.normal(0.0, 0.5) > 0 else "edge"
        out.append(Battle.of(f"{seed}-{i}", prompt, winner, edge_model="edge", cloud_model="cloud"))
    return out, table


def main() -> float:
    """Train by name, save, load back, and return the held-out AUROC (printed)."""
    train, train_vectors = battles(300, seed=0)
    test, test_vectors = battles(200, seed=1)
    vectors = {**train_vectors, **test_vectors}

    def embed(texts: list[str]) -> Floats:
        return np.stack([vectors[t] for t in texts])

    router = train_router(train, "centroid", embed, embedding_model="random-16d", scale=10.0)
    with tempfile.TemporaryDirectory() as folder:
        loaded = load_router(router.save(Path(folder) / "centroid"), embedding_model="random-16d")
    assert isinstance(loaded, CentroidRouter)
    p = loaded.predict(embed([b.prompt for b in test]))
    score = auroc(p, [1.0 if b.winner == "cloud" else 0.0 for b in test])
    print(f"centroid router: held-out AUROC {score:.3f} on {len(test)} battles")
    return score


if __name__ == "__main__":
    main()
