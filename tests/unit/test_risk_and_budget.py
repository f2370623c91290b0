"""The risk-certified rule (Learn-then-Test, fixed sequence, exact binomial p-values) and the
online budget controller, on synthetic streams where the truth is known."""

from __future__ import annotations

import math
import random
import threading

import pytest

from confidence_router import BudgetController, CascadeRouter
from confidence_router.routing.risk import binomial_cdf, rule_for_risk

from .helpers import ScriptedBackend, generation


def test_binomial_cdf_matches_the_sum_of_terms() -> None:
    for n, k, p in ((10, 3, 0.4), (50, 20, 0.65), (7, 7, 0.2), (30, 0, 0.1)):
        exact = sum(math.comb(n, i) * p**i * (1 - p) ** (n - i) for i in range(k + 1))
        assert binomial_cdf(k, n, p) == pytest.approx(min(1.0, exact), rel=1e-9)


def population(n: int, rng: random.Random) -> tuple[list[float], list[float]]:
    """Confidence c ~ U(0, 1); an answer is wrong with probability 1 - 0.9 c (so the error rate
    of answers kept at c >= t is 1 - 0.45 (1 + t): at most 0.5 from t = 1/9 up)."""
    conf = [rng.random() for _ in range(n)]
    return conf, [float(rng.random() > 0.9 * c) for c in conf]


def true_risk(threshold: float) -> float:
    return 1 - 0.45 * (1 + threshold)


def test_the_certified_rule_holds_its_risk_with_probability_one_minus_delta() -> None:
    rng = random.Random(0)
    alpha, delta, violations, kept = 0.5, 0.1, 0, []
    for trial in range(300):
        conf, errors = population(400, rng)
        cert = rule_for_risk(conf, errors, alpha, delta, seed=trial)
        if cert.certified:
            violations += true_risk(cert.rule.threshold) > alpha
            kept.append(cert.kept_share)
    assert violations / 300 <= delta + 0.02
    assert len(kept) > 270 and sum(kept) / len(kept) > 0.6  # it keeps answers (the best: 0.89)


def test_nothing_certifiable_escalates_everything() -> None:
    conf, errors = [0.9, 0.8, 0.7, 0.6, 0.5, 0.4] * 10, [1.0] * 60
    cert = rule_for_risk(conf, errors, 0.3, 0.1)
    assert not cert.certified and cert.rule.threshold == 1.0 and cert.kept == 0


def drifting_stream(rng: random.Random, n: int) -> list[float]:
    """Easy traffic (confidences around 0.8) drifting to hard (around 0.3)."""
    return [min(1.0, max(0.0, rng.gauss(0.8 - 0.5 * min(1.0, i / (n / 2)), 0.1))) for i in range(n)]


def test_the_controller_holds_the_share_where_a_fixed_threshold_drifts() -> None:
    rng = random.Random(1)
    stream = drifting_stream(rng, 2000)
    controller = BudgetController(0.3)
    decided = [controller.escalates(c, key=str(i)) for i, c in enumerate(stream)]
    fixed = sorted(stream[:100])[30]  # calibrated once on the first 100
    windows = [sum(decided[i : i + 200]) / 200 for i in range(100, 1801, 100)]
    fixed_windows = [
        sum(c < fixed for c in stream[i : i + 200]) / 200 for i in range(100, 1801, 100)
    ]
    assert max(abs(w - 0.3) for w in windows) <= 0.05
    assert max(abs(w - 0.3) for w in fixed_windows) > 0.3


def test_controller_state_round_trips_and_threads_share_it() -> None:
    controller = BudgetController(0.4, window=50, warmup=10)
    for i in range(80):
        controller.escalates(i / 80, key=str(i))
    copy = BudgetController.restore(controller.state())
    assert copy.state() == controller.state()
    assert copy.escalates(0.2, key="x") == controller.escalates(0.2, key="x")

    def work(offset: int) -> None:
        for i in range(200):
            controller.escalates((i * 7 + offset) % 100 / 100, key=f"{offset}:{i}")

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert controller.decisions == 81 + 800
    assert abs(controller.state()["realized_share"] - 0.4) < 0.1


def test_a_router_decides_with_the_controller() -> None:
    sure = generation([math.log(0.9)] * 2, text="edge")
    controller = BudgetController(1.0, window=10, warmup=1)
    router = CascadeRouter(
        ScriptedBackend([sure] * 3),
        ScriptedBackend([generation([], text="cloud")] * 3),
        threshold=controller,
    )
    assert all(router.route("q").route == "cloud" for _ in range(3))  # share 1: all
    assert controller.decisions == 3
