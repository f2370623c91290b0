"""`BudgetController`: an online decision rule that holds a target cloud share under drift.

A threshold calibrated once sends the target share only while the traffic looks like the
calibration prompts; when the mix drifts (harder questions, another product surface), the share
drifts with it. The controller recalibrates on the fly: each decision uses the tie-aware rule
(`rule_for_share`) for the confidences of the last `window` requests, at a share corrected by a
proportional-integral term on the share it actually sent over those requests, so a quantile that
lags a shift is pulled back. Thread-safe (one lock around a decision); its state is readable
(`state()`: threshold, realized share, window) and restorable (`BudgetController.restore`).
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Mapping
from typing import Any

from confidence_router.errors import ConfigurationError
from confidence_router.routing.decision_rule import DecisionRule, draw, rule_for_share


class BudgetController:
    """`BudgetController(target_cloud_share, window=50, tie_estimator=None, ...)`: pass it as a
    router's `threshold` (or to `with_threshold`, or an adapter's `threshold`). Until `warmup`
    requests have been seen it uses `initial_threshold`. The defaults (a 50-request window,
    proportional gain 2, integral gain 0.05) held every 200-request window within 0.04 of a 30%
    target on synthetic streams (uniform, an abrupt shift, heavy ties); see
    `benchmarks/guarantees.py` for the replay on stored confidences."""

    kind = "budget_controller"

    def __init__(
        self,
        target_cloud_share: float,
        *,
        window: int = 50,
        warmup: int = 20,
        gain: float = 2.0,
        integral_gain: float = 0.05,
        tie_estimator: str | None = None,
        initial_threshold: float = 0.5,
        seed: int = 0,
    ) -> None:
        if not 0.0 <= target_cloud_share <= 1.0:
            raise ConfigurationError(
                "target_cloud_share", f"must be in [0, 1], got {target_cloud_share!r}"
            )
        if window < 2 or not 1 <= warmup <= window:
            raise ConfigurationError("window", "need window >= 2 and 1 <= warmup <= window")
        if gain < 0 or integral_gain < 0:
            raise ConfigurationError("gain", "the gains must be >= 0")
        self.target = float(target_cloud_share)
        self.window = window
        self.warmup = warmup
        self.gain = gain
        self.integral_gain = integral_gain
        self.tie_estimator = tie_estimator
        self.seed = seed
        self._lock = threading.Lock()
        self._seen: deque[tuple[float, float]] = deque(maxlen=window)
        self._sent: deque[float] = deque(maxlen=window)
        self._integral = 0.0
        self._rule = DecisionRule(threshold=initial_threshold, kind="budget", seed=seed)
        self.decisions = 0

    # -- the rule interface the router uses --------------------------------------------------

    @property
    def threshold(self) -> float:
        return self._rule.threshold

    @property
    def plain(self) -> bool:
        return False

    @property
    def rule(self) -> DecisionRule:
        """The rule the next decision would use (for records and inspection)."""
        return self._rule

    def probability(self, confidence: float, scores: Mapping[str, float] | None = None) -> float:
        return self._rule.probability(confidence, scores)

    def escalates(
        self, confidence: float, scores: Mapping[str, float] | None = None, key: str = ""
    ) -> bool:
        """Decide one request and learn from it (the request joins the window)."""
        confidence = min(1.0, max(0.0, confidence))
        secondary = 0.0
        if self.tie_estimator is not None and scores is not None:
            secondary = float(scores.get(self.tie_estimator, 0.0))
        with self._lock:
            self._seen.append((confidence, secondary))
            if len(self._seen) >= self.warmup:
                self._rule = self._recalibrate()
            chance = self._rule.probability(confidence, scores)
            escalated = chance == 1.0 or (
                chance > 0.0 and draw(self.seed, f"{key}:{self.decisions}") < chance
            )
            self._sent.append(float(escalated))
            error = self.target - sum(self._sent) / len(self._sent)
            self._integral = max(-1.0, min(1.0, self._integral + error))
            self.decisions += 1
        return escalated

    def _recalibrate(self) -> DecisionRule:
        realized = sum(self._sent) / len(self._sent) if self._sent else self.target
        corrected = self.target + self.gain * (self.target - realized)
        corrected += self.integral_gain * self._integral
        share = min(1.0, max(0.0, corrected))
        conf = [c for c, _ in self._seen]
        secondary = [s for _, s in self._seen] if self.tie_estimator is not None else None
        return rule_for_share(
            conf, share, secondary=secondary, tie_estimator=self.tie_estimator, seed=self.seed
        )

    # -- state ---------------------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        """A JSON-ready snapshot: settings, current rule, realized share and the window."""
        with self._lock:
            realized = sum(self._sent) / len(self._sent) if self._sent else None
            return {
                "target_cloud_share": self.target,
                "window": self.window,
                "warmup": self.warmup,
                "gain": self.gain,
                "integral_gain": self.integral_gain,
                "tie_estimator": self.tie_estimator,
                "seed": self.seed,
                "rule": self._rule.model_dump(),
                "realized_share": realized,
                "integral": self._integral,
                "decisions": self.decisions,
                "seen": [list(pair) for pair in self._seen],
                "sent": list(self._sent),
            }

    @classmethod
    def restore(cls, state: Mapping[str, Any]) -> BudgetController:
        """A controller continuing from `state()`."""
        controller = cls(
            state["target_cloud_share"],
            window=state["window"],
            warmup=state["warmup"],
            gain=state["gain"],
            integral_gain=state["integral_gain"],
            tie_estimator=state["tie_estimator"],
            seed=state["seed"],
        )
        controller._rule = DecisionRule(**state["rule"])
        controller._integral = float(state["integral"])
        controller.decisions = int(state["decisions"])
        controller._seen.extend((float(c), float(s)) for c, s in state["seen"])
        controller._sent.extend(float(x) for x in state["sent"])
        return controller

    def __repr__(self) -> str:
        return (
            f"BudgetController(target_cloud_share={self.target}, window={self.window}, "
            f"threshold={self.threshold:.4f})"
        )
