"""AUROC, PRR and bootstrap intervals against hand-computed values."""

import math

import numpy as np
import pytest

from confidence_router.errors import ConfigurationError, InvalidInputError
from confidence_router.metrics import (
    accuracy,
    auroc,
    average_ranks,
    bootstrap,
    prr,
    rejection_curve,
)

CONF = [0.9, 0.8, 0.3, 0.1]
RIGHT = [1, 0, 1, 0]


def test_average_ranks_share_ties() -> None:
    assert average_ranks([0.3, 0.1, 0.3, 0.7]).tolist() == [2.5, 1.0, 2.5, 4.0]


def test_auroc_by_hand() -> None:
    # correct/wrong pairs: (.9,.8) win, (.9,.1) win, (.3,.8) loss, (.3,.1) win -> 3/4
    assert auroc(CONF, RIGHT) == pytest.approx(0.75)
    assert auroc([0.5, 0.5], [1, 0]) == pytest.approx(0.5)  # a tie counts half
    assert auroc([0.9, 0.1], [1, 0]) == 1.0 and auroc([0.1, 0.9], [1, 0]) == 0.0
    assert math.isnan(auroc([0.1, 0.2], [1, 1]))  # one class only


def test_auroc_matches_the_pairwise_definition() -> None:
    rng = np.random.default_rng(1)
    c = rng.integers(0, 6, 40) / 5  # many ties
    y = rng.integers(0, 2, 40)
    good, bad = c[y == 1], c[y == 0]
    pairs = [(a, b) for a in good for b in bad]
    expected = sum(1.0 if a > b else 0.5 if a == b else 0.0 for a, b in pairs) / len(pairs)
    assert auroc(c, y) == pytest.approx(expected)


def test_rejection_curve_and_prr_by_hand() -> None:
    # most confident first: 1, 0, 1, 0 -> kept means for 4, 3, 2, 1 answers: 1/2, 2/3, 1/2, 1
    assert rejection_curve(CONF, RIGHT) == pytest.approx([0.5, 2 / 3, 0.5, 1.0])
    # area 2/3; random 1/2; oracle (1, 1, 0, 0): 1/2, 2/3, 1, 1 -> 19/24
    assert prr(CONF, RIGHT) == pytest.approx((2 / 3 - 1 / 2) / (19 / 24 - 1 / 2))  # 4/7
    assert prr([0.9, 0.8, 0.3, 0.1], [1, 1, 0, 0]) == pytest.approx(1.0)
    assert prr([0.1, 0.3, 0.8, 0.9], [1, 1, 0, 0]) < 0
    assert math.isnan(prr(CONF, [1, 1, 1, 1]))


def test_tied_confidences_count_as_a_random_order() -> None:
    assert rejection_curve([0.5, 0.5], [1, 0]) == pytest.approx([0.5, 0.5])
    assert prr([0.5] * 4, RIGHT) == pytest.approx(0.0)


def test_bootstrap_interval() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 200)
    c = y + rng.normal(0, 1.0, 200)
    interval = bootstrap(auroc, c, y, resamples=300, seed=1)
    assert interval.low < interval.value < interval.high
    assert 0.6 < interval.value < 0.9 and interval.high - interval.low < 0.2
    assert bootstrap(auroc, c, y, resamples=300, seed=1) == interval  # seeded
    acc = bootstrap(accuracy, c, y, resamples=300)
    assert acc.value == pytest.approx(y.mean())
    assert str(acc).count("[") == 1


def test_bootstrap_drops_undefined_resamples_and_checks_settings() -> None:
    one_class = bootstrap(auroc, [0.1, 0.2], [1, 1], resamples=20)
    assert math.isnan(one_class.value) and math.isnan(one_class.low)
    with pytest.raises(ConfigurationError, match="resamples"):
        bootstrap(auroc, CONF, RIGHT, resamples=0)
    with pytest.raises(ConfigurationError, match="level"):
        bootstrap(auroc, CONF, RIGHT, level=1.0)


def test_bad_inputs() -> None:
    with pytest.raises(InvalidInputError):
        auroc([0.1, 0.2], [1])
    with pytest.raises(InvalidInputError):
        prr([], [])
    with pytest.raises(InvalidInputError):
        auroc([math.nan, 0.2], [1, 0])
