"""A prebuilt core router (here a HybridRouter) behind the LlamaIndex adapter."""

from __future__ import annotations

import math

import numpy as np

from confidence_router import HybridRouter
from confidence_router.routers import KNNRouter
from llamaindex_confidence_router import ConfidenceRouterLLM
from tests.unit.helpers import ScriptedBackend, generation


def embed(texts: list[str]) -> np.ndarray:
    return np.array([[1.0, 0.0] if "hard" in t else [0.0, 1.0] for t in texts])


def test_hybrid_router_through_llamaindex() -> None:
    predictor = KNNRouter().fit([[1.0, 0.0], [0.0, 1.0]], ["cloud", "edge"])
    edge = ScriptedBackend([generation([math.log(0.9)] * 2, text="edge answer")], name="e")
    cloud = ScriptedBackend([generation([], text="cloud answer")], name="c")
    llm = ConfidenceRouterLLM(router=HybridRouter(edge, cloud, predictor, embed))
    hard = llm.complete("a hard question")
    assert hard.text == "cloud answer" and hard.raw["routing"]["reason"] == "predicted_cloud"
    easy = llm.complete("easy")
    assert easy.text == "edge answer" and easy.raw["routing"]["scores"]["p_cloud"] == 0.0
