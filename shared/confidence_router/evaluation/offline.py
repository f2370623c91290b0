"""Predictive and hybrid routers scored on a stored run, without generating anything again.

A predictive router's escalation score is its P(cloud wins | query). A `HybridRouter` with
band (low, high) sends P >= high straight to the cloud, keeps P < low at the edge and cascades
the middle on an estimator's confidence; its offline score orders the items the way its
settings do when they are swept: the clear-cloud items first (by P), then the middle by falling
confidence, then the clear-edge items (by P). Score = 2 + P, 2 - confidence, or P (in [0, low)).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from confidence_router.errors import ConfigurationError, InvalidInputError
from confidence_router.evaluation.report import ExtraRouter
from confidence_router.routers.base import EmbeddingRouter
from confidence_router.routing.pregeneration import pre_decision


def predictive(router: EmbeddingRouter, ids: Sequence[str], embeddings: Any) -> ExtraRouter:
    """The router's P(cloud wins) for each item (`embeddings` aligned with `ids`)."""
    p = router.predict(np.asarray(embeddings, dtype=np.float64))
    if len(p) != len(ids):
        raise InvalidInputError(f"{len(ids)} ids but {len(p)} embeddings")
    return ExtraRouter(dict(zip(ids, map(float, p), strict=True)))


def hybrid(
    p_cloud: Mapping[str, float],
    confidence: Mapping[str, float],
    band: tuple[float, float],
) -> ExtraRouter:
    """A hybrid's offline scores from its predictor's P and the cascade's confidence per item;
    the middle band runs the edge first (it pays the edge's time)."""
    low, high = band
    if not 0.0 <= low <= high <= 1.0:
        raise ConfigurationError("band", f"need 0 <= low <= high <= 1, got {band}")
    scores, edge_first = {}, {}
    for item, p in p_cloud.items():
        decided = pre_decision(p, (low, high))  # the online router's rule
        if decided == "cloud":
            scores[item] = 2.0 + p
        elif decided == "edge":
            scores[item] = p
        else:
            if item not in confidence:
                raise InvalidInputError(f"no confidence for {item!r} in the hybrid's middle band")
            scores[item] = 2.0 - float(np.clip(confidence[item], 0.0, 1.0))
            edge_first[item] = True
    return ExtraRouter(scores, edge_first)
