"""Isotonic calibration of confidence to the probability an edge answer is acceptable."""

from __future__ import annotations

import math

import pytest

from confidence_router.errors import ConfigurationError, InvalidInputError
from confidence_router.routing.quality_calibration import isotonic_fit, threshold_for_quality


def test_pool_adjacent_violators_by_hand() -> None:
    xs, fitted = isotonic_fit([0.1, 0.2, 0.3, 0.4, 0.5], [0, 1, 0, 1, 1])
    assert xs == [0.1, 0.2, 0.3, 0.4, 0.5]
    assert fitted == [0.0, 0.5, 0.5, 1.0, 1.0]  # 0.2 and 0.3 pooled
    xs, fitted = isotonic_fit([0.5, 0.5, 0.1], [1, 0, 1])  # ties in x pooled first
    assert xs == [0.1, 0.5] and fitted == pytest.approx([2 / 3, 2 / 3])  # weighted by count


def test_threshold_for_a_target_quality() -> None:
    conf = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6]
    ok = [0, 0, 1, 0, 1, 1]  # fit: 0, 0, .5, .5, 1, 1
    cal = threshold_for_quality(conf, ok, 0.9)
    assert cal.threshold == 0.5 and cal.kept_share == pytest.approx(2 / 6)
    assert cal.kept_quality == 1.0
    loose = threshold_for_quality(conf, ok, 0.5)
    assert loose.threshold == 0.3 and loose.kept_quality == pytest.approx(0.75)


def test_an_unreachable_target_escalates_everything() -> None:
    cal = threshold_for_quality([0.2, 0.9], [0, 0], 0.5)
    assert cal.threshold > 0.9 and cal.kept_share == 0.0 and math.isnan(cal.kept_quality)


def test_bad_input() -> None:
    with pytest.raises(ConfigurationError, match="target_quality"):
        threshold_for_quality([0.5], [1], 0.0)
    with pytest.raises(InvalidInputError):
        threshold_for_quality([0.5], [0.7], 0.5)
    with pytest.raises(InvalidInputError):
        isotonic_fit([0.1, 0.2], [1])
