"""Harrell's C: perfect, reversed and uninformative rankings; the three battle outcomes; the
pairwise definition on random data; bad input."""

from __future__ import annotations

import numpy as np
import pytest

from confidence_router.errors import InvalidInputError
from confidence_router.metrics import concordance


def brute_force(s: np.ndarray, t: np.ndarray) -> float:
    pairs = [
        (1.0 if s[i] > s[j] else 0.5 if s[i] == s[j] else 0.0)
        for i in range(len(s))
        for j in range(len(s))
        if t[i] > t[j]
    ]
    return float(np.mean(pairs))


def test_perfect_reversed_and_constant_rankings() -> None:
    targets = [0.0, 0.5, 1.0, 1.0, 0.0]
    assert concordance([0.1, 0.5, 0.9, 0.8, 0.2], targets) == 1.0
    assert concordance([0.9, 0.5, 0.1, 0.2, 0.8], targets) == 0.0
    assert concordance([0.3] * 5, targets) == 0.5


def test_is_the_roc_auc_for_two_outcomes() -> None:
    # cloud items score 0.9 and 0.4, edge items 0.5 and 0.1: 3 of 4 pairs in order
    assert concordance([0.9, 0.4, 0.5, 0.1], [1, 1, 0, 0]) == 0.75


def test_scale_free() -> None:
    rng = np.random.default_rng(1)
    s, t = rng.random(50), rng.integers(0, 3, 50) / 2
    assert concordance(s, t) == pytest.approx(concordance(np.exp(5 * s), t))


@pytest.mark.parametrize("seed", range(3))
def test_matches_the_pairwise_definition(seed: int) -> None:
    rng = np.random.default_rng(seed)
    s = rng.normal(size=120).round(1)  # rounding makes ties in score
    t = rng.integers(0, 3, 120) / 2
    assert concordance(s, t) == pytest.approx(brute_force(s, t))


@pytest.mark.parametrize(
    ("scores", "targets"),
    [([0.1, 0.2], [1.0]), ([0.1, 0.2], [1.0, 1.0]), ([float("nan"), 0.2], [0.0, 1.0])],
)
def test_bad_input(scores: list[float], targets: list[float]) -> None:
    with pytest.raises(InvalidInputError):
        concordance(scores, targets)
