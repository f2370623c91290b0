"""Deciding before generating: a step that gives P(cloud wins) for a request.

A pre-generation step (`PreGeneration`) has a band (low, high): P >= high sends the request
straight to the cloud, P < low keeps it at the edge (its answer is returned unless unusable),
the middle goes through the cascade (`pre_decision`). The online router (`CascadeRouter` with
`pre=`, as `PredictiveRouter` and `HybridRouter` build it) and the offline scorer
(`evaluation.offline.hybrid`) apply the same rule. `EmbeddingPredictor` is the paper's: a
predictive router on the embedding of the last user message.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol, runtime_checkable

import numpy as np

from confidence_router.errors import ConfigurationError, InvalidInputError
from confidence_router.messages import ChatMessage
from confidence_router.routers.base import EmbeddingRouter
from confidence_router.routing.checks import Band, check_band

Embed = Callable[[Sequence[str]], Any]
PreDecision = Literal["cloud", "edge", "cascade"]


def pre_decision(p_cloud: float, band: Band) -> PreDecision:
    """The rule: P >= high: the cloud; P < low: the edge; else the cascade decides."""
    low, high = band
    if p_cloud >= high:
        return "cloud"
    if p_cloud < low:
        return "edge"
    return "cascade"


@runtime_checkable
class PreGeneration(Protocol):
    """P(cloud wins | request) before any generation, and the band that turns it into a
    decision (`pre_decision`). `kind` names it in decision records."""

    @property
    def band(self) -> Band: ...

    @property
    def kind(self) -> str: ...

    def p_cloud(self, messages: Sequence[ChatMessage]) -> float: ...


def query_text(messages: Sequence[ChatMessage]) -> str:
    """The text a predictive router embeds: the last user message's content."""
    for message in reversed(messages):
        if message.role == "user":
            return message.content
    raise InvalidInputError("a predictive router needs a user message to embed")


@dataclass(frozen=True)
class EmbeddingPredictor:
    """A fitted `EmbeddingRouter` on `embed(texts) -> (n, d)` embeddings of the last user
    message (e.g. `MiniLMEmbedder()`, the one the predictor was trained on)."""

    predictor: EmbeddingRouter
    embed: Embed
    band: Band = (0.3, 0.7)

    def __post_init__(self) -> None:
        if not isinstance(self.predictor, EmbeddingRouter) or self.predictor.dim is None:
            raise ConfigurationError("predictor", "expected a fitted EmbeddingRouter")
        band = check_band(self.band, "predict_band")
        assert band is not None
        object.__setattr__(self, "band", band)

    @property
    def kind(self) -> str:
        return self.predictor.kind

    def p_cloud(self, messages: Sequence[ChatMessage]) -> float:
        vector = np.asarray(self.embed([query_text(messages)]), dtype=np.float64)
        return float(self.predictor.predict(vector)[0])
