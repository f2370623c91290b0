"""An N-tier cascade scored offline from stored per-item results (the online one: `tiered`).

Per tier (cheapest first) and item: whether its answer is right (`correct`, a grade in [0, 1]),
its confidence from the deciding estimator (every tier but the last) and its `cost` (measured
seconds of what the cascade needs of that tier, or a price). With thresholds (t_0 .. t_{N-2}) an
item is answered by the first tier k whose confidence >= t_k, the last tier answering the rest;
it costs the sum of the costs of every tier it visited. A point is (mean cost, accuracy).

A frontier sweeps each tier's threshold over quantiles of its confidence (plus "never answers
here") and keeps the Pareto-optimal points; with `singles` each tier alone (everything sent
straight to it, at its own cost) counts as a point too, as it does for every sub-cascade, so a
frontier and its sub-cascades share their end points. `compare` reads two frontiers as step
functions (the best accuracy at cost <= c) and reports where one is above or below the other.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from confidence_router.errors import InvalidInputError

Floats = npt.NDArray[np.float64]
LEVELS = 21  # quantile levels per tier: 0, 0.05, ..., 1
NEVER = math.inf  # a threshold no confidence reaches: the tier passes everything on


@dataclass(frozen=True)
class TierOutcomes:
    """Aligned arrays: `correct` and `cost` are (tiers, items), `confidence` (tiers - 1, items)."""

    names: tuple[str, ...]
    ids: tuple[str, ...]
    correct: Floats
    confidence: Floats
    cost: Floats

    def __post_init__(self) -> None:
        n, m = len(self.names), len(self.ids)
        if n < 1 or m < 1:
            raise InvalidInputError("need at least one tier and one item")
        shapes = (self.correct.shape, self.cost.shape, self.confidence.shape)
        if shapes != ((n, m), (n, m), (n - 1, m)):
            raise InvalidInputError(f"arrays of shapes {shapes} for {n} tiers and {m} items")
        for name, a in (("correct", self.correct), ("confidence", self.confidence)):
            if np.isnan(a).any():
                raise InvalidInputError(f"{name} must not be NaN")
        if ((self.correct < 0) | (self.correct > 1)).any():
            raise InvalidInputError("correct must be in [0, 1]")
        if not (self.cost >= 0).all():
            raise InvalidInputError("cost must be >= 0 (and not NaN)")

    @classmethod
    def from_maps(
        cls,
        names: Sequence[str],
        correct: Sequence[Mapping[str, float]],
        confidence: Sequence[Mapping[str, float]],
        cost: Sequence[Mapping[str, float]],
        ids: Sequence[str] | None = None,
    ) -> TierOutcomes:
        """From per-tier {item id: value} maps (`confidence`: every tier but the last). The
        items are `ids` (default: the first tier's, in its order) that every map holds."""
        n = len(names)
        if (len(correct), len(cost), len(confidence)) != (n, n, n - 1):
            raise InvalidInputError(f"{n} tiers need {n} correct and cost maps, {n - 1} confidence")
        maps = [*correct, *confidence, *cost]
        wanted = list(correct[0]) if ids is None else list(ids)
        kept = tuple(i for i in wanted if all(i in m for m in maps))

        def table(rows: Sequence[Mapping[str, float]]) -> Floats:
            return np.array([[float(r[i]) for i in kept] for r in rows], dtype=float).reshape(
                len(rows), len(kept)
            )

        return cls(tuple(names), kept, table(correct), table(confidence), table(cost))

    def take(self, tiers: Sequence[int]) -> TierOutcomes:
        """The cascade over `tiers` (indices, cheapest first) alone: a sub-cascade."""
        k = list(tiers)
        if not k or sorted(set(k)) != k or k[0] < 0 or k[-1] >= len(self.names):
            raise InvalidInputError(f"tiers must be increasing indices of {self.names}, got {k}")
        return TierOutcomes(
            tuple(self.names[i] for i in k),
            self.ids,
            self.correct[k],
            self.confidence[k[:-1]],
            self.cost[k],
        )

    def select(self, keep: Sequence[str]) -> TierOutcomes:
        """Only the items in `keep` (e.g. one source's ids), in this order."""
        wanted = set(keep)
        index = [j for j, i in enumerate(self.ids) if i in wanted]
        return TierOutcomes(
            self.names,
            tuple(self.ids[j] for j in index),
            self.correct[:, index],
            self.confidence[:, index],
            self.cost[:, index],
        )


@dataclass(frozen=True)
class Point:
    """One operating point: `tiers` the cascade's tiers (one: that tier alone), `thresholds`
    one per tier but the last (`NEVER`: passes everything), `shares` of items each answered."""

    tiers: tuple[str, ...]
    thresholds: tuple[float, ...]
    cost: float
    accuracy: float
    shares: tuple[float, ...]


def evaluate(o: TierOutcomes, thresholds: Sequence[float]) -> Point:
    """The cascade over all of `o`'s tiers at `thresholds` (one per tier but the last)."""
    n, m = len(o.names), len(o.ids)
    t = np.asarray(thresholds, dtype=float).reshape(-1)
    if t.size != n - 1 or np.isnan(t).any():
        raise InvalidInputError(f"need {n - 1} thresholds (not NaN), got {list(thresholds)}")
    answers = np.vstack([o.confidence >= t[:, None], np.ones((1, m), dtype=bool)])
    tier = np.argmax(answers, axis=0)  # the first tier that keeps its answer
    items = np.arange(m)
    cost = np.cumsum(o.cost, axis=0)[tier, items]
    shares = np.bincount(tier, minlength=n) / m
    return Point(
        o.names,
        tuple(map(float, t)),
        float(cost.mean()),
        float(o.correct[tier, items].mean()),
        tuple(map(float, shares)),
    )


def alone(o: TierOutcomes, k: int) -> Point:
    """Tier `k` answering every item, at its own cost."""
    return Point((o.names[k],), (), float(o.cost[k].mean()), float(o.correct[k].mean()), (1.0,))


def pareto(points: Sequence[Point]) -> tuple[Point, ...]:
    """The points no other point beats: cost ascending, each more accurate than all cheaper
    ones (at equal cost the most accurate; at equal cost and accuracy the first given)."""
    order = sorted(range(len(points)), key=lambda i: (points[i].cost, -points[i].accuracy, i))
    kept: list[Point] = []
    for i in order:
        if not kept or points[i].accuracy > kept[-1].accuracy:
            kept.append(points[i])
    return tuple(kept)


@dataclass(frozen=True)
class Frontier:
    """Pareto-optimal points, cost ascending, accuracy strictly rising."""

    tiers: tuple[str, ...]
    points: tuple[Point, ...]

    def accuracy_at(self, cost: float) -> float:
        """The best accuracy at cost <= `cost` (0 below the cheapest point: nothing answered)."""
        best = 0.0
        for p in self.points:
            if p.cost > cost * (1 + 1e-9) + 1e-12:
                break
            best = p.accuracy
        return best


def candidates(confidence: Floats, levels: int = LEVELS) -> tuple[float, ...]:
    """A tier's thresholds: its confidence at `levels` quantiles (observed values, min to
    max), and `NEVER`."""
    if levels < 2:
        raise InvalidInputError(f"need at least 2 quantile levels, got {levels}")
    q = np.quantile(confidence, np.linspace(0.0, 1.0, levels), method="lower")
    return (*sorted(set(map(float, q))), NEVER)


def frontier(o: TierOutcomes, levels: int = LEVELS, *, singles: bool = True) -> Frontier:
    """Every threshold vector over `candidates` of each tier (levels^(N-1) points, a few more
    with `NEVER`), kept where Pareto-optimal; `singles`: each tier alone is a point too."""
    grids = [candidates(o.confidence[k], levels) for k in range(len(o.names) - 1)]
    points = [evaluate(o, t) for t in itertools.product(*grids)]
    if singles:
        points += [alone(o, k) for k in range(len(o.names))]
    return Frontier(o.names, pareto(points))


def pair_frontiers(
    o: TierOutcomes, levels: int = LEVELS, *, singles: bool = True
) -> dict[tuple[int, int], Frontier]:
    """The frontier of every two-tier sub-cascade (i, j), i < j, as its own cascade."""
    pairs = itertools.combinations(range(len(o.names)), 2)
    return {(i, j): frontier(o.take([i, j]), levels, singles=singles) for i, j in pairs}


def merged(frontiers: Sequence[Frontier]) -> Frontier:
    """The Pareto frontier of several frontiers' points (e.g. the best of all pairs)."""
    names = tuple(dict.fromkeys(n for f in frontiers for n in f.tiers))
    return Frontier(names, pareto([p for f in frontiers for p in f.points]))


@dataclass(frozen=True)
class Gap:
    """At one cost: the best accuracy of the baseline and of the frontier at that cost or less."""

    cost: float
    baseline: float
    front: float

    @property
    def gain(self) -> float:
        return self.front - self.baseline


@dataclass(frozen=True)
class Comparison:
    """`front` against `baseline`: `dominates` when never below it; `max_gain` and
    `max_shortfall` the largest difference either way (0 when there is none)."""

    front: Frontier
    baseline: Frontier
    gaps: tuple[Gap, ...]

    @property
    def dominates(self) -> bool:
        return all(g.gain >= -1e-12 for g in self.gaps)

    @property
    def max_gain(self) -> float:
        return max([0.0, *(g.gain for g in self.gaps)])

    @property
    def max_shortfall(self) -> float:
        return max([0.0, *(-g.gain for g in self.gaps)])


def compare(front: Frontier, baseline: Frontier) -> Comparison:
    """Both frontiers as step functions (best accuracy at cost <= c), compared at every cost of
    either from the baseline's cheapest point on. A shortfall can only appear at a cost of the
    baseline (it is flat between its points, `front` never falls), so `dominates` is decided
    there; a gain can appear at `front`'s own costs (the same accuracy, cheaper)."""
    if not baseline.points:
        return Comparison(front, baseline, ())
    start = baseline.points[0].cost
    costs = sorted({p.cost for p in (*baseline.points, *front.points) if p.cost >= start})
    gaps = tuple(Gap(c, baseline.accuracy_at(c), front.accuracy_at(c)) for c in costs)
    return Comparison(front, baseline, gaps)


def format_point(p: Point) -> str:
    """`tier@threshold > ... > tier` (a tier alone: its name), for reports."""
    pairs = zip(p.tiers[:-1], p.thresholds, strict=True)
    steps = [f"{n}@{'never' if t == NEVER else f'{t:.3f}'}" for n, t in pairs]
    return " > ".join([*steps, p.tiers[-1]])
