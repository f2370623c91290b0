"""A risk guarantee: the decision rule for which, with probability >= 1 - delta over the
calibration draw, the error rate among answers kept at the edge is at most alpha.

Learn-then-Test (Angelopoulos et al., 2021) with fixed-sequence testing: candidate thresholds
are tested from the strictest (fewest answers kept) to the loosest, each hypothesis "the error
rate among answers with confidence >= lambda exceeds alpha" rejected by an exact binomial
p-value on the kept calibration answers (given how many are kept, their errors are independent
Bernoulli draws of that rate); testing stops at the first hypothesis it cannot reject, and the
loosest rejected threshold is returned. The order of the thresholds must not depend on the data
it is tested on: the first `order_share` of the (shuffled) labelled answers only fix the grid
(quantiles of their confidences, from the one keeping `start_share` of them: a stricter start
would spend the first test on too few answers to reject anything), the rest are tested.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence

from pydantic import BaseModel, ConfigDict

from confidence_router.errors import ConfigurationError, InvalidInputError
from confidence_router.messages import MessagesInput
from confidence_router.routing.cascade import CascadeRouter
from confidence_router.routing.decision_rule import DecisionRule


def binomial_cdf(k: int, n: int, p: float) -> float:
    """P(Binomial(n, p) <= k), summed in log space (exact for the n calibration sizes here)."""
    if k >= n:
        return 1.0
    if k < 0:
        return 0.0
    if p <= 0.0:
        return 1.0
    if p >= 1.0:
        return 0.0
    log_p, log_q = math.log(p), math.log1p(-p)
    terms = [
        math.lgamma(n + 1)
        - math.lgamma(i + 1)
        - math.lgamma(n - i + 1)
        + i * log_p
        + (n - i) * log_q
        for i in range(k + 1)
    ]
    top = max(terms)
    return min(1.0, math.exp(top) * math.fsum(math.exp(t - top) for t in terms))


class RiskCertificate(BaseModel):
    """What `rule_for_risk` certified: the rule, and the evidence of its last rejected test."""

    model_config = ConfigDict(frozen=True)

    rule: DecisionRule
    alpha: float
    delta: float
    certified: bool  # False: nothing could be certified; the rule escalates everything
    n_calibration: int  # labelled answers tested (the rest only ordered the thresholds)
    kept: int  # tested answers the rule keeps
    kept_errors: int
    kept_share: float
    p_value: float  # of the returned threshold's test (1.0 when nothing is certified)
    tests: int  # hypotheses tested before stopping


def rule_for_risk(
    confidences: Sequence[float],
    errors: Sequence[bool | float],
    alpha: float,
    delta: float,
    *,
    order_share: float = 0.25,
    start_share: float = 0.1,
    grid: int = 50,
    seed: int = 0,
) -> RiskCertificate:
    """The loosest threshold whose kept answers' error rate is certified <= `alpha` with
    probability >= 1 - `delta` (see the module docstring). `errors[i]` is 1 when answer i is
    not acceptable."""
    for name, value in (("alpha", alpha), ("delta", delta)):
        if not 0.0 < value < 1.0:
            raise ConfigurationError(name, f"must be in (0, 1), got {value!r}")
    if not 0.0 < order_share < 1.0:
        raise ConfigurationError("order_share", f"must be in (0, 1), got {order_share!r}")
    if len(confidences) != len(errors) or len(confidences) < 4:
        raise InvalidInputError("need at least 4 labelled answers, one label per confidence")
    pairs = list(zip(confidences, (float(e) for e in errors), strict=True))
    random.Random(seed).shuffle(pairs)
    cut = max(1, round(order_share * len(pairs)))
    ordering, tested = pairs[:cut], pairs[cut:]
    ranked = sorted((c for c, _ in ordering), reverse=True)
    start = min(len(ranked), max(1, round(start_share * len(ranked)))) - 1
    # candidate thresholds, strictest first: quantiles of the ordering set's confidences
    span = len(ranked) - 1 - start
    steps = [ranked[start + round(i * span / max(1, grid - 1))] for i in range(grid)]
    candidates = sorted(set(steps), reverse=True)
    best: tuple[float, int, int, float] | None = None
    tests = 0
    for threshold in candidates:
        kept = [e for c, e in tested if c >= threshold]
        wrong = round(sum(kept))
        tests += 1
        p_value = binomial_cdf(wrong, len(kept), alpha) if kept else 1.0
        if p_value > delta:
            break
        best = (threshold, len(kept), wrong, p_value)
    n = len(tested)
    if best is None:
        everything = DecisionRule(threshold=1.0, kind="risk", seed=seed)
        return RiskCertificate(
            rule=everything, alpha=alpha, delta=delta, certified=False, n_calibration=n,
            kept=0, kept_errors=0, kept_share=0.0, p_value=1.0, tests=tests,
        )  # fmt: skip
    threshold, kept_n, wrong, p_value = best
    rule = DecisionRule(threshold=threshold, kind="risk", seed=seed)
    return RiskCertificate(
        rule=rule, alpha=alpha, delta=delta, certified=True, n_calibration=n, kept=kept_n,
        kept_errors=wrong, kept_share=kept_n / n if n else 0.0, p_value=p_value, tests=tests,
    )  # fmt: skip


def calibrate_risk(
    router: CascadeRouter,
    labelled_prompts: Sequence[tuple[MessagesInput, bool | float]],
    alpha: float,
    delta: float,
    *,
    max_new_tokens: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    seed: int = 0,
) -> RiskCertificate:
    """Score the edge on labelled prompts (`(prompt, acceptable)`: 1 / True when the edge's
    answer to it is acceptable) and certify a rule (`rule_for_risk`): with probability >=
    1 - delta, at most `alpha` of the answers it keeps at the edge are unacceptable. Apply it
    with `router.with_threshold(cert.rule)`."""
    from confidence_router.routing.calibration import _assess_all

    if not labelled_prompts:
        raise InvalidInputError("calibration needs labelled prompts")
    probe = router.with_band(None).with_early_exit(None)
    prompts = [prompt for prompt, _ in labelled_prompts]
    confidences = _assess_all(probe, prompts, max_new_tokens, progress)
    errors = [1.0 - float(ok) for _, ok in labelled_prompts]
    return rule_for_risk(confidences, errors, alpha, delta, seed=seed)
