"""Calibration to quality: the threshold at which an edge answer kept is acceptable with a target
probability.

An isotonic (non-decreasing) fit of labelled outcomes (1 acceptable, 0 not) against confidence,
by pool-adjacent-violators, gives g(c) ~ P(acceptable | confidence c). The threshold is the
smallest confidence with g(c) >= target: an answer at or above it is kept at the edge. It works
for any score where higher means "keep at the edge": a cascade's confidence, or 1 - P(cloud
wins) of a predictive router.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from pydantic import BaseModel, ConfigDict

from confidence_router.errors import ConfigurationError, InvalidInputError
from confidence_router.routing.decision_rule import escalates


def isotonic_fit(x: Sequence[float], y: Sequence[float]) -> tuple[list[float], list[float]]:
    """Pool-adjacent-violators: the non-decreasing step fit of y on x, as the distinct x values
    (ascending) and the fitted value at each (ties in x are pooled first)."""
    xs = np.asarray(x, dtype=float)
    ys = np.asarray(y, dtype=float)
    if xs.shape != ys.shape or xs.ndim != 1 or xs.size == 0:
        raise InvalidInputError("confidences and outcomes must be 1-D, non-empty, equal length")
    order = np.argsort(xs, kind="stable")
    xs, ys = xs[order], ys[order]
    keys, starts = np.unique(xs, return_index=True)
    sums = np.add.reduceat(ys, starts)
    counts = np.diff(np.append(starts, xs.size)).astype(float)
    blocks: list[list[float]] = []  # [sum, count, number of distinct x values]
    for s, c in zip(sums, counts, strict=True):
        blocks.append([float(s), float(c), 1.0])
        while len(blocks) > 1 and blocks[-2][0] / blocks[-2][1] > blocks[-1][0] / blocks[-1][1]:
            s2, c2, n2 = blocks.pop()
            blocks[-1][0] += s2
            blocks[-1][1] += c2
            blocks[-1][2] += n2
    fitted: list[float] = []
    for s, c, n in blocks:
        fitted += [s / c] * int(n)
    return keys.tolist(), fitted


class QualityCalibration(BaseModel):
    """A threshold for a target probability that a kept edge answer is acceptable."""

    model_config = ConfigDict(frozen=True)

    threshold: float
    target_quality: float
    kept_share: float  # share of the labelled prompts at or above the threshold
    kept_quality: float  # observed share of acceptable answers among them (nan if none kept)
    points: tuple[tuple[float, float], ...]  # the isotonic fit: (confidence, P(acceptable))


def threshold_for_quality(
    confidences: Sequence[float], acceptable: Sequence[float | bool], target: float
) -> QualityCalibration:
    """The smallest confidence whose fitted P(acceptable) >= `target`; 1.0 when no answer
    reaches it, which escalates everything (`escalates`), answers of confidence 1 included."""
    if not 0.0 < target <= 1.0 or math.isnan(target):
        raise ConfigurationError("target_quality", f"must be in (0, 1], got {target!r}")
    outcomes = [float(a) for a in acceptable]
    if any(v not in (0.0, 1.0) for v in outcomes):
        raise InvalidInputError("outcomes must be 0/1 (or booleans)")
    xs, fitted = isotonic_fit(confidences, outcomes)
    reached = [x for x, g in zip(xs, fitted, strict=True) if g >= target]
    # reached only at confidence 1: keep those (a threshold of 1 would escalate them too)
    threshold = min(min(reached), math.nextafter(1.0, 0.0)) if reached else 1.0
    kept = np.asarray([not escalates(c, threshold) for c in confidences], dtype=bool)
    o = np.asarray(outcomes)
    return QualityCalibration(
        threshold=float(threshold),
        target_quality=target,
        kept_share=float(kept.mean()),
        kept_quality=float(o[kept].mean()) if kept.any() else math.nan,
        points=tuple(zip(xs, fitted, strict=True)),
    )
