"""PredictiveRouter and HybridRouter decide before generating (scripted tiers, a kNN predictor
on hand-made embeddings)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pytest

from confidence_router import HybridRouter, PredictiveRouter, Reason
from confidence_router.errors import ConfigurationError
from confidence_router.routers import KNNRouter

from .helpers import ScriptedBackend, generation

VECTORS = {"hard": [1.0, 0.0], "easy": [0.0, 1.0], "middle": [1.0, 1.0]}


def embed(texts: Sequence[str]) -> np.ndarray:
    return np.array([VECTORS[t] for t in texts])


PREDICTOR = KNNRouter(k=1).fit([[1.0, 0.0], [0.0, 1.0]], ["cloud", "edge"])
AVERAGING = KNNRouter(k=2).fit([[1.0, 0.0], [0.0, 1.0]], ["cloud", "edge"])  # always 0.5
SURE = generation([math.log(0.95)] * 3, text="edge sure")
UNSURE = generation([math.log(0.2)] * 3, text="edge unsure")
CLOUD = generation([], text="cloud answer")


def test_predictive_router_sends_hard_queries_straight_to_the_cloud() -> None:
    edge = ScriptedBackend([UNSURE], name="edge")
    cloud = ScriptedBackend([CLOUD], name="cloud")
    router = PredictiveRouter(edge, cloud, PREDICTOR, embed, threshold=0.5)
    hard = router.route("hard")
    assert hard.route == "cloud" and hard.reason is Reason.PREDICTED_CLOUD
    assert edge.calls == [] and hard.scores["p_cloud"] == 1.0 and hard.estimator == "knn"
    easy = router.route("easy")  # kept at the edge even though the edge is unsure
    assert easy.route == "edge" and easy.reason is Reason.PREDICTED_EDGE
    assert easy.text == "edge unsure" and easy.scores["p_cloud"] == 0.0
    assert len(cloud.calls) == 1


def test_hybrid_router_cascades_the_uncertain_middle() -> None:
    edge = ScriptedBackend([SURE, UNSURE], name="edge")
    cloud = ScriptedBackend([CLOUD], name="cloud")
    router = HybridRouter(edge, cloud, AVERAGING, embed, predict_band=(0.3, 0.7), threshold=0.5)
    first = router.route("middle")  # p = 0.5: the cascade decides, the edge is sure
    assert first.route == "edge" and first.reason is Reason.CONFIDENT
    assert first.scores["p_cloud"] == pytest.approx(0.5)
    second = router.route("middle")  # the edge is unsure: escalated by the cascade
    assert second.route == "cloud" and second.reason is Reason.LOW_CONFIDENCE


def test_an_unusable_predicted_edge_answer_still_escalates() -> None:
    edge = ScriptedBackend([generation([], text="")], name="edge")
    cloud = ScriptedBackend([CLOUD], name="cloud")
    router = PredictiveRouter(edge, cloud, PREDICTOR, embed)
    response = router.route("easy")
    assert response.route == "cloud" and response.reason is Reason.EMPTY_EDGE_ANSWER


def test_configuration_errors() -> None:
    edge, cloud = ScriptedBackend([]), ScriptedBackend([])
    with pytest.raises(ConfigurationError, match="predictor"):
        PredictiveRouter(edge, cloud, KNNRouter(), embed)  # not fitted
    with pytest.raises(ConfigurationError, match="predict_band"):
        HybridRouter(edge, cloud, PREDICTOR, embed, predict_band=(0.8, 0.2))
