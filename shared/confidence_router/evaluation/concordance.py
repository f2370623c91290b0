"""Concordance: how well a router's scores rank items by their labels, ignoring the scale.

A router is used through thresholds (a cloud-share target, CPT, a hybrid's band), so only the
order of its scores matters. The concordance index (Harrell's C) is the share of item pairs
with different targets that the scores order the same way, a tie in score counting one half:
1 is a perfect ranking, 0.5 a random one. With two target values it is the ROC AUC; with the
three of a battle (edge 0, tie 0.5, cloud 1) every pair of different outcomes counts.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from confidence_router.errors import InvalidInputError


def concordance(
    scores: Sequence[float] | np.ndarray, targets: Sequence[float] | np.ndarray
) -> float:
    """Harrell's C of `scores` against `targets` (higher score: higher target expected)."""
    s = np.asarray(scores, dtype=np.float64).ravel()
    t = np.asarray(targets, dtype=np.float64).ravel()
    if s.shape != t.shape:
        raise InvalidInputError(f"{s.size} scores for {t.size} targets")
    if not (np.isfinite(s).all() and np.isfinite(t).all()):
        raise InvalidInputError("scores and targets must be finite")
    levels = np.unique(t)
    if levels.size < 2:
        raise InvalidInputError("concordance needs at least two different targets")
    concordant = pairs = 0.0
    for i, low in enumerate(levels):
        for high in levels[i + 1 :]:
            below, above = s[t == low], s[t == high]
            concordant += _mann_whitney(above, below)
            pairs += below.size * above.size
    return concordant / pairs


def _mann_whitney(above: np.ndarray, below: np.ndarray) -> float:
    """Pairs (a, b) with a > b, plus half the ties: from mid-ranks, O(n log n)."""
    both = np.concatenate([above, below])
    _, inverse, counts = np.unique(both, return_inverse=True, return_counts=True)
    mid_ranks = (np.cumsum(counts) - (counts - 1) / 2)[inverse]
    return float(mid_ranks[: above.size].sum() - above.size * (above.size + 1) / 2)
