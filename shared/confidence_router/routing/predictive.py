"""Routers that decide before generating: `PredictiveRouter` and `HybridRouter`.

A predictive router (`confidence_router.routers`) maps the query's embedding to P(cloud wins).
The embedded text is the content of the last user message (as RouteLLM embeds the prompt).
`HybridRouter`: P >= high sends the request straight to the cloud (`predicted_cloud`; if the
cloud then fails, the edge answers, marked degraded, under `fallback="edge"`); P < low keeps it
at the edge (`predicted_edge`: the edge answer is returned whatever its confidence, unless it
cannot be used at all, e.g. empty, which still escalates; no samples are drawn, no band or early
exit applies, and only the estimators that need no samples are scored); the uncertain middle
goes through the cascade (edge first, escalate on low confidence). `PredictiveRouter` is the
hybrid with no middle (low = high = `threshold`). Both are `CascadeRouter`s: the same
interface, failure policy, streaming and adapters. `scores["p_cloud"]` records the prediction;
a decision made by it reports `estimator` = the predictor's kind and `confidence` = 1 - P.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Sequence
from typing import Any

import numpy as np

from confidence_router.errors import ConfigurationError, InvalidInputError
from confidence_router.generation import Generation
from confidence_router.messages import ChatMessage
from confidence_router.models.base import ChatBackend
from confidence_router.routers.base import EmbeddingRouter
from confidence_router.routing.cascade import (
    BackendCall,
    CascadeRouter,
    EdgeAssessment,
    check_band,
    check_threshold,
)
from confidence_router.routing.decision import Reason, RoutedResponse
from confidence_router.routing.decision_rule import Decider

Embed = Callable[[Sequence[str]], Any]


def query_text(messages: Sequence[ChatMessage]) -> str:
    """The text a predictive router embeds: the last user message's content."""
    for message in reversed(messages):
        if message.role == "user":
            return message.content
    raise InvalidInputError("a predictive router needs a user message to embed")


class HybridRouter(CascadeRouter):
    """`HybridRouter(edge, cloud, predictor, embed, predict_band=(low, high), **cascade)`:
    `predictor` a fitted `EmbeddingRouter`, `embed` maps texts to an (n, d) array (e.g.
    `MiniLMEmbedder()`, which the predictor must have been trained on); the other keywords are
    `CascadeRouter`'s (`threshold` applies to the cascaded middle)."""

    def __init__(
        self,
        edge: ChatBackend,
        cloud: ChatBackend,
        predictor: EmbeddingRouter,
        embed: Embed,
        *,
        predict_band: tuple[float, float] = (0.3, 0.7),
        **cascade: Any,
    ) -> None:
        super().__init__(edge, cloud, **cascade)
        if not isinstance(predictor, EmbeddingRouter) or predictor.dim is None:
            raise ConfigurationError("predictor", "expected a fitted EmbeddingRouter")
        band = check_band(predict_band, "predict_band")
        assert band is not None
        self.predictor = predictor
        self.embed = embed
        self.predict_band = band

    def p_cloud(self, messages: Sequence[ChatMessage]) -> float:
        """P(cloud wins | query) for a conversation."""
        vector = np.asarray(self.embed([query_text(messages)]), dtype=np.float64)
        return float(self.predictor.predict(vector)[0])

    def _plan(
        self,
        msgs: list[ChatMessage],
        tools: list[dict[str, Any]],
        limit: Decider,
        tool_choice: str | None,
        max_new_tokens: int | None,
        stop: Sequence[str] | None = None,
        edge_only: bool = False,
        deadline_s: float | None = None,
        skip_edge: Reason | None = None,
        keep_edge: bool = False,
    ) -> Generator[BackendCall, Generation, RoutedResponse | EdgeAssessment]:
        self._check_call(max_new_tokens, deadline_s)
        p = self.p_cloud(msgs)
        low, high = self.predict_band
        args = (msgs, tools, limit, tool_choice, max_new_tokens, stop, edge_only, deadline_s)
        decided: Reason | None = None
        if edge_only or low <= p < high:
            result = yield from super()._plan(*args, skip_edge, keep_edge)
        elif p >= high:
            decided = Reason.PREDICTED_CLOUD
            result = yield from super()._plan(*args, decided)
        else:  # kept at the edge: its answer comes back unless it cannot be used at all
            decided = Reason.PREDICTED_EDGE
            result = yield from super()._plan(*args, skip_edge, True)
        if not isinstance(result, RoutedResponse):
            return result
        update: dict[str, Any] = {"scores": {**result.scores, "p_cloud": p}}
        predicted = {"estimator": self.predictor.kind, "confidence": 1.0 - p}
        if decided is Reason.PREDICTED_EDGE and result.reason is Reason.CONFIDENT:
            update.update(reason=decided, threshold=low, **predicted)
        elif decided is Reason.PREDICTED_CLOUD:
            update.update(threshold=high, **predicted)
        return result.model_copy(update=update)


class PredictiveRouter(HybridRouter):
    """Decides before generating: P(cloud wins | query) >= `threshold` goes to the cloud, the
    rest is answered at the edge."""

    def __init__(
        self,
        edge: ChatBackend,
        cloud: ChatBackend,
        predictor: EmbeddingRouter,
        embed: Embed,
        *,
        threshold: float = 0.5,
        **cascade: Any,
    ) -> None:
        t = check_threshold(threshold)
        super().__init__(edge, cloud, predictor, embed, predict_band=(t, t), **cascade)
