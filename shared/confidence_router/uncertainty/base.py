"""The estimator interface: declare the statistics you need, map them to a confidence in [0, 1]."""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import TYPE_CHECKING, ClassVar

from confidence_router.errors import InvalidInputError
from confidence_router.statistics import Statistic
from confidence_router.uncertainty.statistics import RequestStatistics

if TYPE_CHECKING:
    from confidence_router.models.base import ChatBackend


class Estimator(ABC):
    """A confidence score for one request. Higher means more confident; always in [0, 1].

    Subclasses set `requires` (what the backend must produce) and `num_samples` (how many sampled
    answers, when `Statistic.SAMPLES` is required) and implement `uncertainty` (the raw score of the
    literature, higher = less confident) and `to_confidence` (its documented mapping into [0, 1]).
    """

    name: ClassVar[str]
    requires: ClassVar[frozenset[Statistic]] = frozenset()
    num_samples: int = 0
    # The layer of the hidden states it reads, when it requires `Statistic.HIDDEN_STATES`
    # (`GenerationOptions.hidden_layer`).
    hidden_layer: int = -1

    @abstractmethod
    def uncertainty(self, stats: RequestStatistics) -> float:
        """The raw uncertainty score (e.g. perplexity, entropy in nats)."""

    @abstractmethod
    def to_confidence(self, uncertainty: float) -> float:
        """Map the raw score into [0, 1], monotonically decreasing."""

    @property
    def needs_samples(self) -> bool:
        """Whether it needs sampled answers (beyond the greedy answer)."""
        return self.num_samples > 0 or bool(
            {Statistic.SAMPLES, Statistic.SAMPLE_LOGPROBS} & self.requires
        )

    def bind(self, edge: ChatBackend) -> Estimator:
        """The estimator a router uses with this edge: itself, or a copy wired to the edge for
        estimators that need the model itself (`PTrue` without a scorer). Raises
        `CapabilityError` when the edge cannot serve it."""
        return self

    def confidence(self, stats: RequestStatistics) -> float:
        """`to_confidence(uncertainty(stats))` clipped to [0, 1]. One rule for broken statistics:
        a NaN (or minus-infinite) uncertainty, or a NaN confidence, gives confidence 0, so a
        NaN or infinite statistic can never keep an answer at the edge."""
        uncertainty = self.uncertainty(stats)
        if math.isnan(uncertainty) or uncertainty == -math.inf:
            return 0.0
        value = self.to_confidence(uncertainty)
        if math.isnan(value):
            return 0.0
        return min(1.0, max(0.0, value))

    @property
    def label(self) -> str:
        """This configuration's description: the class's `name` and its settings, e.g.
        `max_sequence_probability(normalize=False)` (see `score_keys`)."""
        text = repr(self)
        cls = type(self).__name__
        return self.name + (text[len(cls) :] if text.startswith(cls) else f"({text})")

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


def score_keys(estimators: Sequence[Estimator]) -> dict[int, str]:
    """The key each estimator's score is recorded under, by `id(estimator)`: its `name`, unless
    an earlier estimator of the same name has another configuration (normalised and
    unnormalised MSP, discrete and weighted SE), which then keeps the name while this one is
    recorded under its `label`. Equal configurations share a key (they give the same score)."""
    keys: dict[int, str] = {}
    owners: dict[str, str] = {}  # name -> label of the configuration holding the plain name
    for estimator in estimators:
        if id(estimator) in keys:
            continue
        label = estimator.label
        owner = owners.setdefault(estimator.name, label)
        keys[id(estimator)] = estimator.name if owner == label else label
    return keys


def greedy_logprobs(stats: RequestStatistics, who: str) -> tuple[float, ...]:
    """The greedy answer's per-token log-probs; an empty answer is an error the router handles."""
    values = stats.generation.greedy.token_logprobs
    if not values:
        raise InvalidInputError(f"{who}: the edge answer has no tokens to score")
    return values
