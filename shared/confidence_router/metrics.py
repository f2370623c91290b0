"""How well a confidence score separates good answers from bad ones: AUROC, PRR, bootstrap
intervals. Pure numpy; higher confidence should mean a better answer."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from confidence_router.errors import ConfigurationError, InvalidInputError

Floats = npt.NDArray[np.float64]
Metric = Callable[[Floats, Floats], float]


def _arrays(
    confidence: Sequence[float] | Floats, quality: Sequence[float] | Floats
) -> tuple[Floats, Floats]:
    c = np.asarray(confidence, dtype=np.float64)
    q = np.asarray(quality, dtype=np.float64)
    if c.ndim != 1 or c.shape != q.shape:
        raise InvalidInputError("confidence and quality must be 1-D and of the same length")
    if c.size == 0:
        raise InvalidInputError("no items to score")
    if np.isnan(c).any() or np.isnan(q).any():
        raise InvalidInputError("confidence and quality must not be NaN")
    return c, q


def _tie_groups(sorted_values: Floats) -> npt.NDArray[np.intp]:
    """Start indices of the runs of equal values, plus the length at the end."""
    change = np.flatnonzero(sorted_values[1:] != sorted_values[:-1]) + 1
    return np.concatenate(([0], change, [sorted_values.size]))


def average_ranks(values: Sequence[float] | Floats) -> Floats:
    """1-based ranks, tied values sharing the mean of their ranks."""
    x = np.asarray(values, dtype=np.float64)
    order = np.argsort(x, kind="mergesort")
    bounds = _tie_groups(x[order])
    mean_rank = (bounds[:-1] + 1 + bounds[1:]) / 2
    ranks = np.empty(x.size, dtype=np.float64)
    ranks[order] = np.repeat(mean_rank, np.diff(bounds))
    return ranks


def auroc(confidence: Sequence[float] | Floats, correct: Sequence[float] | Floats) -> float:
    """The probability that a random correct answer has a higher confidence than a random wrong
    one, ties counting half (the Mann–Whitney U over n_correct · n_wrong). `correct` holds 0/1
    (anything > 0.5 counts as correct). NaN when either class is empty."""
    c, y = _arrays(confidence, correct)
    good = y > 0.5
    n_good = int(good.sum())
    n_bad = good.size - n_good
    if n_good == 0 or n_bad == 0:
        return math.nan
    rank_sum = float(average_ranks(c)[good].sum())
    return (rank_sum - n_good * (n_good + 1) / 2) / (n_good * n_bad)


def concordance(scores: Sequence[float] | Floats, targets: Sequence[float] | Floats) -> float:
    """Harrell's C: the share of item pairs with different targets that `scores` order the same
    way, ties in score counting half (1 perfect, 0.5 random). With two target values it is
    `auroc`; with a battle's three (edge 0, tie 0.5, cloud 1) every pair of different outcomes
    counts. Scale-free: it judges a router by the order of its scores, which is all a threshold
    uses."""
    s, t = _arrays(scores, targets)
    if not (np.isfinite(s).all() and np.isfinite(t).all()):
        raise InvalidInputError("scores and targets must be finite")
    levels = np.unique(t)
    if levels.size < 2:
        raise InvalidInputError("concordance needs at least two different targets")
    concordant = pairs = 0.0
    for i, low in enumerate(levels):
        for high in levels[i + 1 :]:
            pair = (t == low) | (t == high)
            n = float((t == low).sum() * (t == high).sum())
            concordant += auroc(s[pair], t[pair] == high) * n
            pairs += n
    return concordant / pairs


def rejection_curve(
    confidence: Sequence[float] | Floats, quality: Sequence[float] | Floats
) -> Floats:
    """Mean quality of the answers kept when the least confident are rejected first: entry i is
    the mean over the n − i most confident (i = 0 … n − 1). Tied confidences share their mean
    quality (the expectation over the orders of the tie)."""
    c, q = _arrays(confidence, quality)
    order = np.argsort(-c, kind="mergesort")
    bounds = _tie_groups(-c[order])
    ranked = q[order]
    sizes = np.diff(bounds)
    group_means = np.add.reduceat(ranked, bounds[:-1]) / sizes
    ranked = np.repeat(group_means, sizes)
    kept_means = np.cumsum(ranked) / np.arange(1, ranked.size + 1)
    return kept_means[::-1]


def prr(confidence: Sequence[float] | Floats, quality: Sequence[float] | Floats) -> float:
    """Prediction rejection ratio (Malinin et al.; as lm-polygraph, over the full rejection range):
    (A_conf − A_random) / (A_oracle − A_random), A being the mean of `rejection_curve` (the area
    under it), A_random the mean quality (any order's expectation) and A_oracle the curve of the
    ranking by quality itself. 1 = as good as the oracle, 0 = random, < 0 = worse than random;
    NaN when every item has the same quality."""
    c, q = _arrays(confidence, quality)
    random = float(q.mean())
    oracle = float(rejection_curve(q, q).mean())
    if math.isclose(oracle, random, abs_tol=1e-12):
        return math.nan
    return (float(rejection_curve(c, q).mean()) - random) / (oracle - random)


def accuracy(confidence: Sequence[float] | Floats, correct: Sequence[float] | Floats) -> float:
    """The mean of `correct` (the confidence is ignored; a `Metric` for `bootstrap`)."""
    _, y = _arrays(confidence, correct)
    return float(y.mean())


@dataclass(frozen=True)
class Interval:
    """A metric's value on the data and its bootstrap confidence interval."""

    value: float
    low: float
    high: float
    level: float = 0.95

    def __str__(self) -> str:
        return f"{self.value:.3f} [{self.low:.3f}, {self.high:.3f}]"


def bootstrap(
    metric: Metric,
    confidence: Sequence[float] | Floats,
    quality: Sequence[float] | Floats,
    *,
    resamples: int = 1000,
    level: float = 0.95,
    seed: int = 0,
) -> Interval:
    """`metric(confidence, quality)` and its percentile bootstrap interval at `level`: items are
    resampled with replacement, each keeping its confidence and quality together. Resamples on
    which the metric is undefined (NaN, e.g. one class only for AUROC) are dropped; the bounds
    are NaN when none is left."""
    if resamples < 1:
        raise ConfigurationError("resamples", f"must be >= 1, got {resamples}")
    if not 0.0 < level < 1.0:
        raise ConfigurationError("level", f"must be in (0, 1), got {level}")
    c, q = _arrays(confidence, quality)
    value = metric(c, q)
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, c.size, size=(resamples, c.size))
    values = np.array([metric(c[i], q[i]) for i in draws], dtype=np.float64)
    values = values[~np.isnan(values)]
    if values.size == 0:
        return Interval(value, math.nan, math.nan, level)
    tail = (1.0 - level) / 2 * 100
    low, high = np.percentile(values, [tail, 100 - tail])
    return Interval(value, float(low), float(high), level)
