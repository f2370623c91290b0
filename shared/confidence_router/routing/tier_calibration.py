"""Budget calibration of an N-tier cascade: a target share of the prompts for every tier.

Tier k is calibrated on the prompts tier k-1 passed on (the first on all of them), to keep
its share of the prompts that reach it: with shares (0.5, 0.3, 0.2), the first tier keeps half
of all prompts, the second keeps 0.3 / 0.5 of what reaches it, the last answers the rest.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Sequence

from pydantic import BaseModel, ConfigDict

from confidence_router.errors import ConfigurationError
from confidence_router.messages import MessagesInput
from confidence_router.routing.calibration import Calibration, calibrate_threshold
from confidence_router.routing.cascade import CascadeRouter
from confidence_router.routing.decision_rule import DecisionRule
from confidence_router.routing.tiers import RouterTier, tier_routers


class TierCalibration(BaseModel):
    """The calibrated router and each tier's calibration (all but the last tier)."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    router: CascadeRouter
    calibrations: tuple[Calibration, ...]
    target_shares: tuple[float, ...]
    achieved_shares: tuple[float, ...]


def calibrate_tiers(
    router: CascadeRouter,
    prompts: Sequence[MessagesInput],
    shares: Sequence[float],
    *,
    max_new_tokens: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    seed: int = 0,
) -> TierCalibration:
    """Calibrate every tier of `router` (`tiered`) so that tier k answers `shares[k]` of
    `prompts` in expectation (shares sum to 1; one per tier). No call goes to the last tier."""
    chain = tier_routers(router)
    if len(shares) != len(chain) + 1:
        raise ConfigurationError("shares", f"need one per tier: {len(chain) + 1}")
    if any(s < 0 for s in shares) or not math.isclose(sum(shares), 1.0, abs_tol=1e-6):
        raise ConfigurationError("shares", f"must be >= 0 and sum to 1, got {list(shares)}")
    reaching = list(prompts)
    calibrations: list[Calibration] = []
    achieved: list[float] = []
    remaining = 1.0
    for k, tier in enumerate(chain):
        if not reaching:
            raise ConfigurationError("prompts", f"no calibration prompt reaches tier {k}")
        passed_on = max(0.0, min(1.0, (remaining - shares[k]) / remaining)) if remaining else 1.0
        cal = calibrate_threshold(
            tier, reaching, passed_on, max_new_tokens=max_new_tokens, progress=progress,
            seed=seed,
        )  # fmt: skip
        calibrations.append(cal)
        rule = _rule(cal)
        chances = [rule.probability(c) for c in cal.confidences]
        achieved.append(len(reaching) * (1 - sum(chances) / len(chances)) / len(prompts))
        reaching = [p for p, chance in zip(reaching, chances, strict=True) if chance >= 0.5]
        remaining -= shares[k]
    achieved.append(1.0 - sum(achieved))
    rebuilt: CascadeRouter | None = None
    for tier, cal in zip(reversed(chain), reversed(calibrations), strict=True):
        clone = tier.with_threshold(_rule(cal))
        if rebuilt is not None:
            clone = copy.copy(clone)
            clone.cloud = RouterTier(rebuilt)
        rebuilt = clone
    assert rebuilt is not None
    return TierCalibration(
        router=rebuilt,
        calibrations=tuple(calibrations),
        target_shares=tuple(shares),
        achieved_shares=tuple(achieved),
    )


def _rule(cal: Calibration) -> DecisionRule:
    return cal.rule if cal.rule is not None else DecisionRule(threshold=cal.threshold)
