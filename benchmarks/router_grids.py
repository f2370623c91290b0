"""The hyper-parameter grids of the routers `paper_table1.py` trains (both parts): each
router's setting is picked from its grid inside the training data only."""

from __future__ import annotations

from collections.abc import Callable

from confidence_router.routers import (
    EmbeddingRouter,
    KNNRouter,
    MatrixFactorizationRouter,
    MLPRouter,
    SWRankingRouter,
)

GRIDS: dict[str, list[Callable[[], EmbeddingRouter]]] = {
    "knn": [lambda: KNNRouter(k=1), lambda: KNNRouter(k=10), lambda: KNNRouter(k=50)],
    "mlp": [
        lambda: MLPRouter(hidden=32, epochs=150, lr=3e-3),
        lambda: MLPRouter(hidden=128, epochs=150, lr=3e-3),
    ],
    "sw_ranking": [lambda: SWRankingRouter(gamma=10.0)],
    "matrix_factorization": [
        lambda: MatrixFactorizationRouter(rank=16, epochs=150, lr=3e-3),
        lambda: MatrixFactorizationRouter(rank=64, epochs=150, lr=3e-3),
    ],
}
