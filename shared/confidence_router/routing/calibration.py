"""Settings people can reason about: the threshold that escalates a target share of prompts, and
the staged-escalation band that sends a target share of prompts to the full (SE) stage."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

from pydantic import BaseModel, ConfigDict

from confidence_router.errors import ConfigurationError, InvalidInputError
from confidence_router.messages import MessagesInput
from confidence_router.routing.cascade import CascadeRouter
from confidence_router.routing.decision_rule import DecisionRule, rule_for_share


class Calibration(BaseModel):
    """A calibrated decision rule (`rule`; `threshold` is its threshold) and the evidence behind
    it. Apply it with `router.with_threshold(cal.rule)`: the rule also settles ties at the
    threshold, so its expected share is the target even when many answers share a confidence.
    `achieved_cloud_share` is that expected share on the calibration prompts."""

    model_config = ConfigDict(frozen=True)

    threshold: float
    target_cloud_share: float
    achieved_cloud_share: float
    confidences: tuple[float, ...]
    rule: DecisionRule | None = None

    @property
    def n(self) -> int:
        return len(self.confidences)


class BandCalibration(BaseModel):
    """A calibrated staged-escalation band and the cheap confidences it was picked from."""

    model_config = ConfigDict(frozen=True)

    low: float
    high: float
    target_full_share: float
    achieved_full_share: float
    target_cloud_share: float
    confidences: tuple[float, ...]

    @property
    def band(self) -> tuple[float, float]:
        return self.low, self.high

    @property
    def n(self) -> int:
        return len(self.confidences)


def _check_share(value: float, field: str) -> None:
    if not 0.0 <= value <= 1.0 or math.isnan(value):
        raise ConfigurationError(field, f"must be in [0, 1], got {value!r}")


_BELOW_ONE = math.nextafter(1.0, 0.0)


def _cut(values: Sequence[float], k: int) -> float:
    """The value between the k lowest of sorted `values` and the rest (0 and 1 at the ends).
    A cut that must keep some answers stays below 1 (threshold 1 escalates everything)."""
    if k == 0:
        return 0.0
    if k == len(values):
        return 1.0
    return min((values[k - 1] + values[k]) / 2, _BELOW_ONE)


def threshold_for_share(confidences: Sequence[float], target_cloud_share: float) -> float:
    """The threshold that escalates round(share * n) of these confidences (escalate iff c < t).

    With sorted confidences c and k items to escalate, it is the midpoint between c[k-1] and c[k],
    so small changes in a confidence do not flip the count; k=0 gives 0, k=n gives 1 (which
    escalates everything, see `escalates`). Ties at the cut make the count fall short.
    """
    _check_share(target_cloud_share, "target_cloud_share")
    values = sorted(confidences)
    if not values:
        raise InvalidInputError("calibration needs at least one prompt")
    return _cut(values, round(target_cloud_share * len(values)))


def band_for_share(
    cheap_confidences: Sequence[float], target_full_share: float, target_cloud_share: float
) -> tuple[float, float]:
    """The band (low, high) that sends round(target_full_share * n) of these cheap-stage
    confidences to the full stage (low <= c < high).

    The band is centred, in rank, on the cut that escalates `target_cloud_share` of them (the
    cheap signal's own threshold for that share): the requests nearest that cut, where the cheap
    signal is least sure, pay for the samples. Near either end it is shifted inwards to keep its
    size. Its edges are midpoints between neighbouring sorted confidences (0 and 1 at the ends),
    as in `threshold_for_share`; ties at an edge make the share fall short. A share of 0 gives
    an empty band at that cut (the cheap signal alone decides), a share of 1 gives (0, 1).
    """
    _check_share(target_full_share, "target_full_share")
    _check_share(target_cloud_share, "target_cloud_share")
    values = sorted(cheap_confidences)
    if not values:
        raise InvalidInputError("calibration needs at least one prompt")
    n = len(values)
    size = round(target_full_share * n)
    start = min(max(round(target_cloud_share * n - size / 2), 0), n - size)
    return _cut(values, start), _cut(values, start + size)


def _assess_scores(
    router: CascadeRouter,
    prompts: Sequence[MessagesInput],
    max_new_tokens: int | None,
    progress: Callable[[int, int], None] | None,
) -> tuple[list[float], list[dict[str, float]]]:
    """Each prompt's deciding confidence and all its scores."""
    if not prompts:
        raise InvalidInputError("calibration needs at least one prompt")
    confidences: list[float] = []
    scores: list[dict[str, float]] = []
    for i, prompt in enumerate(prompts):
        # the cascade's own confidence: a pre-generation step does not apply while calibrating
        assessment = router.assess(prompt, max_new_tokens=max_new_tokens, pre=False)
        confidences.append(assessment.confidence)
        scores.append(dict(assessment.scores))
        if progress is not None:
            progress(i + 1, len(prompts))
    return confidences, scores


def _assess_all(
    router: CascadeRouter,
    prompts: Sequence[MessagesInput],
    max_new_tokens: int | None,
    progress: Callable[[int, int], None] | None,
) -> list[float]:
    return _assess_scores(router, prompts, max_new_tokens, progress)[0]


def _tie_breaker(router: CascadeRouter, tie_breaker: str | None) -> str | None:
    """The score that orders answers tied on the deciding confidence: `auto` picks the first
    other estimator the router scores that needs no samples (e.g. MSP under SE)."""
    if tie_breaker != "auto":
        return tie_breaker
    decider = router.key(router.estimator)
    for estimator in router.extra_estimators:
        key = router.key(estimator)
        if key != decider and not estimator.needs_samples:
            return key
    return None


def calibrate_threshold(
    router: CascadeRouter,
    prompts: Sequence[MessagesInput],
    target_cloud_share: float,
    *,
    max_new_tokens: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    tie_breaker: str | None = "auto",
    seed: int = 0,
) -> Calibration:
    """Score the edge on the user's own prompts (no cloud calls) and pick the decision rule
    that escalates `target_cloud_share` of them in expectation (`rule_for_share`): answers tied
    at the threshold are ordered by the `tie_breaker` score (`auto`: see `_tie_breaker`; None:
    none) and the last tied ones escalate by a seeded draw. Apply it with
    `router.with_threshold(cal.rule)`.

    The rule applies to the deciding estimator, so every prompt is scored with it: staging
    and early exit are off while calibrating (a staged SE router samples every prompt here).
    """
    threshold_for_share([0.5], target_cloud_share)  # validate before any generation
    tie = _tie_breaker(router, tie_breaker)
    if tie is not None and tie not in {router.key(e) for e in router.estimators}:
        raise ConfigurationError("tie_breaker", f"the router does not score {tie!r}")
    probe = router.with_band(None).with_early_exit(None)
    confidences, scores = _assess_scores(probe, prompts, max_new_tokens, progress)
    secondary = None if tie is None else [s.get(tie, 0.0) for s in scores]
    rule = rule_for_share(
        confidences, target_cloud_share, secondary=secondary, tie_estimator=tie, seed=seed
    )
    achieved = sum(rule.probability(c, s) for c, s in zip(confidences, scores, strict=True))
    return Calibration(
        threshold=rule.threshold,
        target_cloud_share=target_cloud_share,
        achieved_cloud_share=achieved / len(confidences),
        confidences=tuple(confidences),
        rule=rule,
    )


def calibrate_band(
    router: CascadeRouter,
    prompts: Sequence[MessagesInput],
    target_full_share: float,
    target_cloud_share: float,
    *,
    max_new_tokens: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> BandCalibration:
    """Score the edge's greedy answers on the user's own prompts with the router's
    `stage_estimator` (no samples, no cloud calls, early exit off) and pick the band that sends
    `target_full_share` of them to the full stage, centred on the cheap cut for
    `target_cloud_share` (see `band_for_share`). Apply it with `router.with_band(cal.band)`.
    """
    band_for_share([0.5], target_full_share, target_cloud_share)  # validate first
    # An empty band at 0 keeps every scorable answer at the cheap stage, with its confidence.
    probe = router.with_band((0.0, 0.0)).with_early_exit(None)
    confidences = _assess_all(probe, prompts, max_new_tokens, progress)
    low, high = band_for_share(confidences, target_full_share, target_cloud_share)
    achieved = sum(low <= c < high for c in confidences) / len(confidences)
    return BandCalibration(
        low=low,
        high=high,
        target_full_share=target_full_share,
        achieved_full_share=achieved,
        target_cloud_share=target_cloud_share,
        confidences=tuple(confidences),
    )
