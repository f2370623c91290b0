"""Settings people can reason about: the threshold that escalates a target share of prompts, and
the staged-escalation band that sends a target share of prompts to the full (SE) stage."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

from pydantic import BaseModel, ConfigDict

from confidence_router.errors import ConfigurationError, InvalidInputError
from confidence_router.messages import MessagesInput
from confidence_router.routing.cascade import CascadeRouter
from confidence_router.routing.decision import escalates


class Calibration(BaseModel):
    """A calibrated threshold and the evidence behind it."""

    model_config = ConfigDict(frozen=True)

    threshold: float
    target_cloud_share: float
    achieved_cloud_share: float
    confidences: tuple[float, ...]

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


def _assess_all(
    router: CascadeRouter,
    prompts: Sequence[MessagesInput],
    max_new_tokens: int | None,
    progress: Callable[[int, int], None] | None,
) -> list[float]:
    if not prompts:
        raise InvalidInputError("calibration needs at least one prompt")
    confidences: list[float] = []
    for i, prompt in enumerate(prompts):
        confidences.append(router.assess(prompt, max_new_tokens=max_new_tokens).confidence)
        if progress is not None:
            progress(i + 1, len(prompts))
    return confidences


def calibrate_threshold(
    router: CascadeRouter,
    prompts: Sequence[MessagesInput],
    target_cloud_share: float,
    *,
    max_new_tokens: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Calibration:
    """Score the edge on the user's own prompts (no cloud calls) and pick the threshold that
    escalates `target_cloud_share` of them. Apply it with `router.with_threshold(cal.threshold)`.

    The threshold applies to the deciding estimator, so every prompt is scored with it: staging
    and early exit are off while calibrating (a staged SE router samples every prompt here).
    """
    threshold_for_share([0.5], target_cloud_share)  # validate before any generation
    probe = router.with_band(None).with_early_exit(None)
    confidences = _assess_all(probe, prompts, max_new_tokens, progress)
    threshold = threshold_for_share(confidences, target_cloud_share)
    achieved = sum(escalates(c, threshold) for c in confidences) / len(confidences)
    return Calibration(
        threshold=threshold,
        target_cloud_share=target_cloud_share,
        achieved_cloud_share=achieved,
        confidences=tuple(confidences),
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
