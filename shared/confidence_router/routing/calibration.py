"""Thresholds people can reason about: pick the one that escalates a target share of prompts."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

from pydantic import BaseModel, ConfigDict

from confidence_router.errors import ConfigurationError, InvalidInputError
from confidence_router.messages import MessagesInput
from confidence_router.routing.cascade import CascadeRouter


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


def threshold_for_share(confidences: Sequence[float], target_cloud_share: float) -> float:
    """The threshold that escalates round(share * n) of these confidences (escalate iff c < t).

    With sorted confidences c and k items to escalate, it is the midpoint between c[k-1] and c[k],
    so small changes in a confidence do not flip the count; k=0 gives 0, k=n gives 1 (an answer
    with confidence exactly 1 can never escalate). Ties at the cut make the count fall short.
    """
    if not 0.0 <= target_cloud_share <= 1.0 or math.isnan(target_cloud_share):
        raise ConfigurationError(
            "target_cloud_share", f"must be in [0, 1], got {target_cloud_share!r}"
        )
    values = sorted(confidences)
    if not values:
        raise InvalidInputError("calibration needs at least one prompt")
    k = round(target_cloud_share * len(values))
    if k == 0:
        return 0.0
    if k == len(values):
        return 1.0
    return (values[k - 1] + values[k]) / 2


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
    """
    threshold_for_share([0.5], target_cloud_share)  # validate before any generation
    if not prompts:
        raise InvalidInputError("calibration needs at least one prompt")
    confidences: list[float] = []
    for i, prompt in enumerate(prompts):
        confidences.append(router.assess(prompt, max_new_tokens=max_new_tokens).confidence)
        if progress is not None:
            progress(i + 1, len(prompts))
    threshold = threshold_for_share(confidences, target_cloud_share)
    achieved = sum(c < threshold for c in confidences) / len(confidences)
    return Calibration(
        threshold=threshold,
        target_cloud_share=target_cloud_share,
        achieved_cloud_share=achieved,
        confidences=tuple(confidences),
    )
