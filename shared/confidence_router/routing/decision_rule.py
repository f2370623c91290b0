"""Decision rules: how an edge confidence (and the other scores) becomes keep or escalate.

A plain threshold escalates iff confidence < threshold. Estimators with few distinct values
(semantic entropy gives a handful) put many answers on one value, so a threshold alone cannot
send a chosen share of requests to the cloud: the tie group goes all one way. A `DecisionRule`
settles ties at the threshold: first by a secondary score (`tie_estimator` below
`tie_threshold` escalates), then, among answers tied on both, by a seeded draw that escalates
with probability `boundary`. The draw is a hash of the seed and the request (the same request
is always decided the same way), so over many requests the expected share is the calibrated one.
A rule is a value: `router.with_threshold(rule)`, `Calibration.rule`, the adapters' `threshold`
field and the CLI's `--rule FILE` (its JSON) all carry it.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping, Sequence
from itertools import groupby
from typing import Literal, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

from confidence_router.errors import ConfigurationError, InvalidInputError
from confidence_router.messages import ChatMessage

RuleKind = Literal["threshold", "budget", "risk"]


def escalates(confidence: float, threshold: float) -> bool:
    """The threshold rule: escalate iff confidence < threshold, and always at threshold 1 (so
    "send everything to the cloud" is a threshold, even for answers of confidence exactly 1)."""
    return threshold >= 1.0 or confidence < threshold


def request_key(messages: Sequence[ChatMessage]) -> str:
    """A request's identity for `draw`: a hash of its conversation."""
    text = "\x1e".join(f"{m.role}\x1f{m.content}" for m in messages)
    return hashlib.sha256(text.encode()).hexdigest()


def draw(seed: int, key: str) -> float:
    """A uniform number in [0, 1) fixed by `seed` and `key` (a request's identity)."""
    digest = hashlib.sha256(f"{seed}:{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


class DecisionRule(BaseModel):
    """Escalate iff confidence < `threshold`. At exactly `threshold`: a plain rule keeps the
    answer (threshold 1 escalates everything); otherwise escalate iff the `tie_estimator`
    score < `tie_threshold`, and, tied on that too (or with no tie estimator), with probability
    `boundary` (a seeded draw per request)."""

    model_config = ConfigDict(frozen=True)

    threshold: float = Field(ge=0.0, le=1.0)
    tie_estimator: str | None = None
    tie_threshold: float = 0.0
    boundary: float = Field(default=0.0, ge=0.0, le=1.0)
    seed: int = 0
    kind: RuleKind = "threshold"

    def escalates(
        self, confidence: float, scores: Mapping[str, float] | None = None, key: str = ""
    ) -> bool:
        """The decision for one answer (`scores`: every estimator's, `key`: the request)."""
        chance = self.probability(confidence, scores)
        return chance == 1.0 or (chance > 0.0 and draw(self.seed, key) < chance)

    def probability(self, confidence: float, scores: Mapping[str, float] | None = None) -> float:
        """The probability that `escalates` escalates this answer over the seeded draw."""
        if confidence != self.threshold:
            return float(confidence < self.threshold)
        if self.plain:  # at the threshold itself: kept, but threshold 1 escalates everything
            return float(escalates(confidence, self.threshold))
        if self.tie_estimator is not None and scores is not None:
            secondary = scores.get(self.tie_estimator, math.nan)
            if not math.isnan(secondary) and secondary != self.tie_threshold:
                return float(secondary < self.tie_threshold)
        return self.boundary

    @property
    def plain(self) -> bool:
        """Whether it is a plain threshold (nothing happens at ties)."""
        return self.tie_estimator is None and self.boundary == 0.0


@runtime_checkable
class Decider(Protocol):
    """What a router asks of its rule: a `DecisionRule`, or an online one (`BudgetController`)."""

    @property
    def threshold(self) -> float: ...

    @property
    def plain(self) -> bool: ...

    @property
    def tie_estimator(self) -> str | None: ...

    def escalates(
        self, confidence: float, scores: Mapping[str, float] | None = None, key: str = ""
    ) -> bool: ...

    def probability(
        self, confidence: float, scores: Mapping[str, float] | None = None
    ) -> float: ...


def as_rule(value: Decider | float, field: str = "threshold") -> Decider:
    """A rule from a rule (or controller) or a plain threshold (a number in [0, 1])."""
    from confidence_router.routing.cascade import check_threshold

    if isinstance(value, Decider):
        return value
    return DecisionRule(threshold=check_threshold(value, field))


def snapshot(rule: Decider) -> DecisionRule | None:
    """The rule to record with a decision: None for a plain threshold, the current rule of an
    online controller."""
    if rule.plain:
        return None
    current = getattr(rule, "rule", rule)
    return current if isinstance(current, DecisionRule) else None


def rule_for_share(
    confidences: Sequence[float],
    target_cloud_share: float,
    *,
    secondary: Sequence[float] | None = None,
    tie_estimator: str | None = None,
    seed: int = 0,
) -> DecisionRule:
    """The rule whose expected cloud share on these confidences is exactly the target: the
    threshold is the confidence value at the cut; within that tie group, `secondary` scores
    (when given) order the answers, and the last tied subgroup escalates with the fraction of
    it still needed (`boundary`)."""
    if not 0.0 <= target_cloud_share <= 1.0 or math.isnan(target_cloud_share):
        raise ConfigurationError(
            "target_cloud_share", f"must be in [0, 1], got {target_cloud_share!r}"
        )
    n = len(confidences)
    if n == 0:
        raise InvalidInputError("calibration needs at least one prompt")
    if secondary is not None and len(secondary) != n:
        raise InvalidInputError("one secondary score per confidence is needed")
    if secondary is not None and tie_estimator is None:
        raise ConfigurationError("tie_estimator", "name the secondary scores' estimator")
    wanted = target_cloud_share * n
    if wanted >= n:
        return DecisionRule(threshold=1.0, kind="budget", seed=seed)
    pairs = sorted(zip(confidences, secondary or [0.0] * n, strict=True))
    before = 0
    for value, group in groupby(pairs, key=lambda pair: pair[0]):
        members = [s for _, s in group]
        if before + len(members) <= wanted and before + len(members) < n:
            before += len(members)
            continue
        needed = wanted - before  # escalations still needed from this tie group, in [0, size)
        if secondary is None or len(members) == 1:
            return DecisionRule(
                threshold=value, boundary=needed / len(members), seed=seed, kind="budget"
            )
        inner = 0
        for score, sub in groupby(sorted(members)):
            size = len(list(sub))
            if inner + size <= needed and inner + size < len(members):
                inner += size
                continue
            return DecisionRule(
                threshold=value,
                tie_estimator=tie_estimator,
                tie_threshold=score,
                boundary=min(1.0, max(0.0, (needed - inner) / size)),
                seed=seed,
                kind="budget",
            )
    raise AssertionError("unreachable")  # pragma: no cover
