"""Quality vs share of cloud calls: router curves, CPT, APGR, AUC, with random and oracle.

Definitions (as RouteLLM's, Ong et al. 2024; the paper reports CPT):

- A router gives each item an escalation score (higher: send to the cloud). For a threshold t
  the items with score >= t go to the cloud. Sweeping t over the distinct scores (items with
  equal scores move together) gives points (c, Q(c)): c = share of items sent to the cloud,
  Q(c) = mean over items of q_cloud where sent, else q_edge. The curve joins them linearly
  from (0, Q_edge) to (1, Q_cloud).
- PGR(c) = (Q(c) - Q_edge) / (Q_cloud - Q_edge): the performance gap recovered.
- CPT(x) = min { c : PGR(c) >= x }: the share of cloud calls needed to recover a fraction x of
  the gap (on the linear curve; CPT(50%) of a random router is 50%).
- APGR = integral of PGR(c) over c in [0, 1] (exact, trapezoids on the piecewise-linear curve;
  random: 0.5). AUC = integral of Q(c) dc.
- Random: the expected curve of a random router, the straight line from Q_edge to Q_cloud.
- Oracle: each item's gain q_cloud - q_edge known; items sent in decreasing gain (positive
  gains first), the best any router can do.

A cascade's escalation score is 1 - confidence.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from confidence_router.errors import InvalidInputError

Floats = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Curve:
    """Points (share, quality), share ascending from 0 to 1, joined linearly."""

    share: Floats
    quality: Floats
    edge_quality: float
    cloud_quality: float

    def quality_at(self, share: float) -> float:
        return float(np.interp(share, self.share, self.quality))

    @property
    def gap(self) -> float:
        return self.cloud_quality - self.edge_quality

    def pgr(self) -> Floats:
        """Performance gap recovered at each point (NaN when the tiers are equally good)."""
        if self.gap == 0:
            return np.full_like(self.quality, np.nan)
        return (self.quality - self.edge_quality) / self.gap

    def cpt(self, recovered: float) -> float:
        """Smallest cloud share whose PGR reaches `recovered` (e.g. 0.5); NaN if none does."""
        if not 0.0 <= recovered <= 1.0:
            raise InvalidInputError(f"recovered must be in [0, 1], got {recovered}")
        pgr = self.pgr()
        if np.isnan(pgr).all():
            return float("nan")
        if pgr[0] >= recovered:
            return 0.0
        for i in range(1, len(pgr)):
            if pgr[i] >= recovered:
                lo, hi = pgr[i - 1], pgr[i]
                frac = (recovered - lo) / (hi - lo)
                return float(self.share[i - 1] + frac * (self.share[i] - self.share[i - 1]))
        return float("nan")

    def apgr(self) -> float:
        pgr = self.pgr()
        return float(np.trapezoid(pgr, self.share)) if not np.isnan(pgr).all() else float("nan")

    def auc(self) -> float:
        return float(np.trapezoid(self.quality, self.share))


def _arrays(*values: Sequence[float] | Floats) -> list[Floats]:
    arrays = [np.asarray(v, dtype=np.float64) for v in values]
    n = arrays[0].shape
    if any(a.ndim != 1 or a.shape != n for a in arrays) or arrays[0].size == 0:
        raise InvalidInputError("scores and qualities must be 1-D, non-empty, of equal length")
    if any(np.isnan(a).any() for a in arrays):
        raise InvalidInputError("scores and qualities must not be NaN")
    return arrays


def _curve_from_order(groups: list[npt.NDArray[np.intp]], q_edge: Floats, q_cloud: Floats) -> Curve:
    n = q_edge.size
    shares, qualities = [0.0], [float(q_edge.mean())]
    total = float(q_edge.sum())
    sent = 0
    for group in groups:
        total += float((q_cloud[group] - q_edge[group]).sum())
        sent += group.size
        shares.append(sent / n)
        qualities.append(total / n)
    return Curve(
        np.asarray(shares), np.asarray(qualities), float(q_edge.mean()), float(q_cloud.mean())
    )


def router_curve(
    scores: Sequence[float] | Floats,
    edge_quality: Sequence[float] | Floats,
    cloud_quality: Sequence[float] | Floats,
) -> Curve:
    """The curve of a router whose higher `scores` send items to the cloud; equal scores are
    sent together (one segment)."""
    s, qe, qc = _arrays(scores, edge_quality, cloud_quality)
    order = np.argsort(-s, kind="stable")
    ordered = s[order]
    cuts = np.flatnonzero(ordered[1:] != ordered[:-1]) + 1
    return _curve_from_order(list(np.split(order, cuts)), qe, qc)


def oracle_curve(
    edge_quality: Sequence[float] | Floats, cloud_quality: Sequence[float] | Floats
) -> Curve:
    """Items sent in decreasing order of their gain q_cloud - q_edge (one item at a time)."""
    qe, qc = _arrays(edge_quality, cloud_quality)
    order = np.argsort(-(qc - qe), kind="stable")
    return _curve_from_order([order[i : i + 1] for i in range(order.size)], qe, qc)


def random_curve(
    edge_quality: Sequence[float] | Floats, cloud_quality: Sequence[float] | Floats
) -> Curve:
    """The expected curve of a router that sends a random share: a straight line."""
    qe, qc = _arrays(edge_quality, cloud_quality)
    return Curve(
        np.asarray([0.0, 1.0]),
        np.asarray([qe.mean(), qc.mean()]),
        float(qe.mean()),
        float(qc.mean()),
    )
