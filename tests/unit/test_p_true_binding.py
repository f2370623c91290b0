"""PTrue in a router: built without a scorer, it scores with the edge model."""

import math
from collections.abc import Sequence

import pytest

from confidence_router import CascadeRouter, OpenAIChatModel
from confidence_router.errors import CapabilityError
from confidence_router.messages import ChatMessage
from confidence_router.models.base import Capabilities
from confidence_router.uncertainty import PTrue, Statistic

from .helpers import ScriptedBackend, generation

ANSWER = generation([math.log(0.9)] * 3, text="Paris")


class ScoringEdge(ScriptedBackend):
    """A scripted edge that can also score a fixed reply."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self._caps = Capabilities(statistics=frozenset(Statistic), token_scoring=True)
        self.scored: list[tuple[str, str]] = []

    def probability_of(self, messages: Sequence[ChatMessage], continuation: str) -> float:
        self.scored.append((messages[-1].content, continuation))
        return {"True": 0.3, "False": 0.1}[continuation]


def test_router_binds_the_edge_as_scorer() -> None:
    edge = ScoringEdge([ANSWER, ANSWER])
    unbound = PTrue()
    for estimator in (unbound, "p_true"):
        r = CascadeRouter(edge, ScriptedBackend([]), estimator=estimator, threshold=0.7)
        assert isinstance(r.estimator, PTrue) and r.estimator.scorer is edge
        out = r.route("Capital of France?")
        assert out.confidence == pytest.approx(0.75) and out.route == "edge"
    assert unbound.scorer is None  # the user's estimator is not modified
    assert [c for _, c in edge.scored] == ["True", "False"] * 2
    assert "Proposed answer: Paris" in edge.scored[0][0]


def test_an_explicit_scorer_is_kept() -> None:
    other = ScoringEdge([])
    r = CascadeRouter(ScoringEdge([]), ScriptedBackend([]), extra_estimators=[PTrue(other)])
    assert r.extra_estimators[0].scorer is other  # type: ignore[attr-defined]


def test_an_edge_that_cannot_score_is_refused() -> None:
    with pytest.raises(CapabilityError, match="probability_of"):
        CascadeRouter(ScriptedBackend([]), ScriptedBackend([]), estimator="p_true")
    openai_edge = OpenAIChatModel("m", base_url="http://127.0.0.1:9/v1", tier="edge")
    assert not openai_edge.capabilities.token_scoring
    with pytest.raises(CapabilityError, match="p_true"):
        CascadeRouter(openai_edge, ScriptedBackend([]), extra_estimators=[PTrue()])
