"""Predictive and hybrid routers scored offline on stored items."""

from __future__ import annotations

import numpy as np
import pytest

from confidence_router.errors import ConfigurationError, InvalidInputError
from confidence_router.evaluation.offline import hybrid, predictive
from confidence_router.routers import KNNRouter


def test_predictive_scores_are_the_routers_probabilities() -> None:
    x = np.array([[1.0, 0.0], [0.0, 1.0]])
    router = KNNRouter(k=1).fit(x, ["edge", "cloud"])
    scored = predictive(router, ["a", "b"], np.array([[0.9, 0.1], [0.2, 0.8]]))
    assert scored.scores == {"a": 0.0, "b": 1.0} and scored.edge_first == {}
    with pytest.raises(InvalidInputError):
        predictive(router, ["a"], x)


def test_hybrid_orders_clear_cloud_then_middle_by_confidence_then_clear_edge() -> None:
    p = {"cloud": 0.9, "edge": 0.1, "unsure_low_conf": 0.5, "unsure_high_conf": 0.4}
    conf = {"unsure_low_conf": 0.2, "unsure_high_conf": 0.95}
    scored = hybrid(p, conf, (0.3, 0.7))
    order = sorted(scored.scores, key=lambda i: -scored.scores[i])
    assert order == ["cloud", "unsure_low_conf", "unsure_high_conf", "edge"]
    assert scored.edge_first == {"unsure_low_conf": True, "unsure_high_conf": True}
    with pytest.raises(InvalidInputError, match="no confidence"):
        hybrid({"x": 0.5}, {}, (0.3, 0.7))
    with pytest.raises(ConfigurationError):
        hybrid(p, conf, (0.8, 0.2))


def test_hybrid_band_edges_match_the_hybrid_router() -> None:
    # HybridRouter: P >= high -> cloud, P < low -> edge, low <= P < high -> cascade
    scored = hybrid({"at_low": 0.3, "at_high": 0.7}, {"at_low": 0.5}, (0.3, 0.7))
    assert scored.edge_first == {"at_low": True}  # P == low is in the middle
    assert scored.scores["at_high"] == pytest.approx(2.7)  # P == high goes to the cloud
