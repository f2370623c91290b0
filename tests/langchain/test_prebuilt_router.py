"""A prebuilt core router (here a PredictiveRouter) behind the LangChain adapter."""

from __future__ import annotations

import math

import numpy as np
import pytest

from confidence_router import ConfigurationError, PredictiveRouter
from confidence_router.routers import KNNRouter
from langchain_confidence_router import ChatConfidenceRouter
from tests.unit.helpers import ScriptedBackend, generation


def embed(texts: list[str]) -> np.ndarray:
    return np.array([[1.0, 0.0] if "hard" in t else [0.0, 1.0] for t in texts])


def test_predictive_router_through_langchain() -> None:
    predictor = KNNRouter().fit([[1.0, 0.0], [0.0, 1.0]], ["cloud", "edge"])
    edge = ScriptedBackend([generation([math.log(0.2)] * 2, text="edge says hi")], name="e")
    cloud = ScriptedBackend([generation([], text="cloud says hi")], name="c")
    chat = ChatConfidenceRouter(router=PredictiveRouter(edge, cloud, predictor, embed))
    assert chat.router.predictor is predictor
    hard = chat.invoke("a hard question")
    assert hard.content == "cloud says hi"
    assert hard.response_metadata["routing"]["reason"] == "predicted_cloud"
    easy = chat.invoke("an easy one")
    assert easy.content == "edge says hi"
    assert easy.response_metadata["routing"]["reason"] == "predicted_edge"


def test_edge_and_cloud_are_required_without_a_router() -> None:
    with pytest.raises(ConfigurationError, match="edge"):
        ChatConfidenceRouter()
    with pytest.raises(ConfigurationError, match="router"):
        ChatConfidenceRouter(router="not a router")
