"""Routers that decide before generating: `PredictiveRouter` and `HybridRouter`.

Both are `CascadeRouter`s with a pre-generation step (`EmbeddingPredictor`: a fitted predictive
router on the embedding of the last user message, as RouteLLM embeds the prompt). `HybridRouter`:
P >= high sends the request straight to the cloud (`predicted_cloud`; if the cloud then fails,
the edge answers, marked degraded, under `fallback="edge"`); P < low keeps it at the edge
(`predicted_edge`: the edge answer is returned whatever its confidence, unless it cannot be
used at all, e.g. empty, which still escalates; no samples are drawn, no band or early exit
applies, and only the estimators that need no samples are scored); the uncertain middle goes
through the cascade. `PredictiveRouter` is the hybrid with no middle (low = high =
`threshold`). `scores["p_cloud"]` records the prediction; a decision made by it reports
`estimator` = the predictor's kind and `confidence` = 1 - P. `assess` applies the prediction
too, so a decision-only call agrees with `route`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from confidence_router.messages import ChatMessage
from confidence_router.models.base import ChatBackend
from confidence_router.routers.base import EmbeddingRouter
from confidence_router.routing.cascade import CascadeRouter
from confidence_router.routing.checks import check_threshold
from confidence_router.routing.pregeneration import Embed, EmbeddingPredictor, query_text

__all__ = ["Embed", "HybridRouter", "PredictiveRouter", "query_text"]


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
        step = EmbeddingPredictor(predictor, embed, predict_band)
        super().__init__(edge, cloud, pre=step, **cascade)

    @property
    def predictor(self) -> EmbeddingRouter:
        return self._step.predictor

    @property
    def embed(self) -> Embed:
        return self._step.embed

    @property
    def predict_band(self) -> tuple[float, float]:
        return self._step.band

    @property
    def _step(self) -> EmbeddingPredictor:
        assert isinstance(self.pre, EmbeddingPredictor)
        return self.pre

    def p_cloud(self, messages: Sequence[ChatMessage]) -> float:
        """P(cloud wins | query) for a conversation."""
        return self._step.p_cloud(messages)


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
