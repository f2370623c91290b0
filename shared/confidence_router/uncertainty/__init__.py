"""Confidence estimators: each declares the statistics it needs, returns a confidence in [0, 1]."""

from confidence_router.uncertainty.base import Estimator
from confidence_router.uncertainty.max_sequence_probability import MaxSequenceProbability
from confidence_router.uncertainty.mean_token_entropy import MeanTokenEntropy
from confidence_router.uncertainty.perplexity import Perplexity
from confidence_router.uncertainty.statistics import RequestStatistics, Statistic

ESTIMATORS: dict[str, type[Estimator]] = {
    cls.name: cls for cls in (MaxSequenceProbability, Perplexity, MeanTokenEntropy)
}


def get_estimator(name: str) -> Estimator:
    """An estimator by its registered name (`max_sequence_probability`, `perplexity`, ...)."""
    from confidence_router.errors import ConfigurationError

    try:
        return ESTIMATORS[name]()
    except KeyError:
        raise ConfigurationError(
            "estimator", f"unknown estimator {name!r}; allowed: {', '.join(sorted(ESTIMATORS))}"
        ) from None


__all__ = [
    "ESTIMATORS",
    "Estimator",
    "MaxSequenceProbability",
    "MeanTokenEntropy",
    "Perplexity",
    "RequestStatistics",
    "Statistic",
    "get_estimator",
]
