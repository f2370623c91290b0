"""Router curves, CPT, APGR and AUC against hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pytest

from confidence_router.errors import InvalidInputError
from confidence_router.evaluation.curves import oracle_curve, random_curve, router_curve

# 4 items: the edge is right on 0 and 3, the cloud on 0, 1 and 2 (edge 0.5, cloud 0.75).
Q_EDGE = [1.0, 0.0, 0.0, 1.0]
Q_CLOUD = [1.0, 1.0, 1.0, 0.0]


def test_router_curve_by_hand() -> None:
    # sent in the order 0, 1, 3, 2: gains 0, +1, -1, +1
    curve = router_curve([0.9, 0.8, 0.1, 0.5], Q_EDGE, Q_CLOUD)
    assert curve.share.tolist() == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert curve.quality.tolist() == [0.5, 0.5, 0.75, 0.5, 0.75]
    assert curve.pgr().tolist() == [0.0, 0.0, 1.0, 0.0, 1.0]
    assert curve.cpt(0.5) == pytest.approx(0.375)
    assert curve.cpt(1.0) == pytest.approx(0.5)
    assert curve.cpt(0.0) == 0.0
    assert curve.apgr() == pytest.approx(0.375)
    assert curve.auc() == pytest.approx(0.59375)
    assert curve.quality_at(0.375) == pytest.approx(0.625)


def test_oracle_by_hand_and_a_perfect_router_matches_it() -> None:
    oracle = oracle_curve(Q_EDGE, Q_CLOUD)
    assert oracle.quality.tolist() == [0.5, 0.75, 1.0, 1.0, 0.75]
    assert oracle.cpt(0.5) == pytest.approx(0.125)
    assert oracle.cpt(0.8) == pytest.approx(0.2)
    gains = np.subtract(Q_CLOUD, Q_EDGE)
    perfect = router_curve(gains, Q_EDGE, Q_CLOUD)  # items 1 and 2 tie: sent together
    assert perfect.share.tolist() == [0.0, 0.5, 0.75, 1.0]
    for x in (0.5, 0.8):
        assert perfect.cpt(x) == pytest.approx(oracle.cpt(x))


def test_random_and_all_tied_scores_are_the_straight_line() -> None:
    rand = random_curve(Q_EDGE, Q_CLOUD)
    assert rand.cpt(0.5) == pytest.approx(0.5) and rand.cpt(0.8) == pytest.approx(0.8)
    assert rand.apgr() == pytest.approx(0.5)
    tied = router_curve([0.3] * 4, Q_EDGE, Q_CLOUD)
    assert tied.share.tolist() == [0.0, 1.0] and tied.apgr() == pytest.approx(0.5)


def test_graded_qualities_and_an_unreachable_target() -> None:
    # judge scores (1-10): the router sends the item with the largest gain first
    curve = router_curve([0.2, 0.9], [6.0, 2.0], [7.0, 10.0])
    assert curve.quality.tolist() == [4.0, 8.0, 8.5]
    assert curve.cpt(0.5) == pytest.approx(0.5 * (0.5 / (8 / 9)))
    worse = router_curve([0.9, 0.1], [1.0, 1.0], [0.0, 1.0])  # the cloud is worse: gap < 0
    assert worse.gap == -0.5 and worse.cpt(0.5) == pytest.approx(0.25)


def test_equal_tiers_have_no_gap_to_recover() -> None:
    curve = router_curve([0.1, 0.2], [1.0, 0.0], [1.0, 0.0])
    assert math.isnan(curve.cpt(0.5)) and math.isnan(curve.apgr())
    assert curve.auc() == pytest.approx(0.5)


def test_bad_input() -> None:
    with pytest.raises(InvalidInputError):
        router_curve([0.1], [1.0, 0.0], [1.0, 0.0])
    with pytest.raises(InvalidInputError):
        router_curve([], [], [])
    with pytest.raises(InvalidInputError):
        router_curve([0.1, 0.2], [1.0, 0.0], [1.0, 0.0]).cpt(1.5)
