import math

import pytest

from confidence_router.errors import ConfigurationError, InvalidInputError
from confidence_router.models.openai import topk_entropy
from confidence_router.uncertainty import (
    MaxSequenceProbability,
    MeanTokenEntropy,
    Perplexity,
    Statistic,
    get_estimator,
)

from .helpers import stats

LOGPROBS = [math.log(0.5), math.log(0.25), math.log(1.0)]  # mean = log(0.5)


def test_msp_normalised_is_geometric_mean_probability() -> None:
    est = MaxSequenceProbability()
    assert est.uncertainty(stats(LOGPROBS)) == pytest.approx(math.log(2))
    assert est.confidence(stats(LOGPROBS)) == pytest.approx(0.5)


def test_msp_unnormalised_is_sequence_probability() -> None:
    est = MaxSequenceProbability(normalize=False)
    assert est.confidence(stats(LOGPROBS)) == pytest.approx(0.125)


def test_perplexity_and_its_confidence() -> None:
    est = Perplexity()
    assert est.uncertainty(stats(LOGPROBS)) == pytest.approx(2.0)
    assert est.confidence(stats(LOGPROBS)) == pytest.approx(0.5)
    assert est.confidence(stats([0.0, 0.0])) == pytest.approx(1.0)


def test_mean_token_entropy() -> None:
    est = MeanTokenEntropy()
    s = stats([-0.1, -0.1], entropies=[math.log(2), math.log(8)])  # mean = 2 log 2
    assert est.uncertainty(s) == pytest.approx(2 * math.log(2))
    assert est.confidence(s) == pytest.approx(0.25)
    assert est.confidence(stats([-0.1], entropies=[0.0])) == 1.0


def test_confidence_orders_sharp_above_flat() -> None:
    sharp, flat = stats([-0.01] * 4, [0.05] * 4), stats([-2.0] * 4, [3.0] * 4)
    for est in (MaxSequenceProbability(), Perplexity(), MeanTokenEntropy()):
        assert 0.0 <= est.confidence(flat) < est.confidence(sharp) <= 1.0


def test_empty_answer_is_an_error() -> None:
    with pytest.raises(InvalidInputError):
        MaxSequenceProbability().confidence(stats([]))
    with pytest.raises(InvalidInputError):
        MeanTokenEntropy().confidence(stats([]))


def test_declared_requirements() -> None:
    assert MaxSequenceProbability.requires == {Statistic.GREEDY_LOGPROBS}
    assert Perplexity.requires == {Statistic.GREEDY_LOGPROBS}
    assert MeanTokenEntropy.requires == {Statistic.GREEDY_ENTROPY}


def test_registry() -> None:
    assert isinstance(get_estimator("perplexity"), Perplexity)
    with pytest.raises(ConfigurationError, match="estimator"):
        get_estimator("nope")


def test_topk_entropy() -> None:
    assert topk_entropy([math.log(0.25)] * 4) == pytest.approx(math.log(4))
    assert topk_entropy([-0.3]) == 0.0
    assert topk_entropy([]) == 0.0
    # renormalised: two equal alternatives carrying only 20% of the mass still give log 2
    assert topk_entropy([math.log(0.1), math.log(0.1)]) == pytest.approx(math.log(2))
