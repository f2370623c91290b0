"""Phase 3: train a predictive router on battles (query embeddings -> P(cloud wins))."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from confidence_router.errors import ConfigurationError, InvalidInputError
from confidence_router.routers.base import ROUTERS, EmbeddingRouter, Provenance
from confidence_router.training.labels import Battle

Embed = Callable[[Sequence[str]], Any]


def train_router(
    battles: Sequence[Battle],
    kind: str,
    embed: Embed,
    *,
    embedding_model: str,
    tau: float | None = None,
    labels: str = "semantic_entropy",
    **settings: Any,
) -> EmbeddingRouter:
    """Embed each battle's prompt (the text a `PredictiveRouter` embeds at inference: the last
    user message) and fit a router of `kind` (a registered one: "knn", "sw_ranking", "mlp",
    "matrix_factorization", "random", ...; see `routers.register`) on the winners."""
    if not battles:
        raise InvalidInputError("no battles to train on")
    cls = ROUTERS.get(kind)
    if cls is None:
        raise ConfigurationError("kind", f"unknown router {kind!r}; allowed: {sorted(ROUTERS)}")
    pairs = {(b.model_a, b.model_b) for b in battles}
    if len(pairs) != 1:
        raise InvalidInputError(f"battles must be between one edge and one cloud, got {pairs}")
    ((edge, cloud),) = pairs
    x = np.asarray(embed([b.prompt for b in battles]), dtype=np.float64)
    provenance = Provenance(edge, cloud, embedding_model, tau, labels)
    return cls(**settings).fit(x, [b.winner for b in battles], provenance)
