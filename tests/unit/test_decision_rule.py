"""Decision rules that settle ties at the threshold, so a budget calibrated on confidences with
few distinct values (semantic entropy) still sends the target share to the cloud."""

from __future__ import annotations

import math
import random

import pytest

from confidence_router import CascadeRouter, ConfigurationError
from confidence_router.routing.decision_rule import DecisionRule, draw, rule_for_share
from confidence_router.uncertainty import MaxSequenceProbability, RequestStatistics

from .helpers import ScriptedBackend, generation


def expected_share(rule: DecisionRule, conf: list[float], sec: list[float] | None) -> float:
    name = rule.tie_estimator
    scores = [{name: s} if name else {} for s in (sec or [0.0] * len(conf))]
    return sum(rule.probability(c, s) for c, s in zip(conf, scores, strict=True)) / len(conf)


@pytest.mark.parametrize("target", [0.0, 0.1, 0.3, 0.5, 0.77, 1.0])
def test_the_expected_share_is_the_target_despite_ties(target: float) -> None:
    rng = random.Random(0)
    conf = [rng.choice([0.0, 0.2, 0.5, 0.5, 1.0, 1.0, 1.0]) for _ in range(97)]
    sec = [round(rng.random(), 1) for _ in conf]  # ties within ties too
    with_secondary = rule_for_share(conf, target, secondary=sec, tie_estimator="msp")
    assert expected_share(with_secondary, conf, sec) == pytest.approx(target)
    alone = rule_for_share(conf, target)
    assert expected_share(alone, conf, None) == pytest.approx(target)


def test_a_plain_quantile_without_ties() -> None:
    conf = [i / 10 for i in range(10)]
    rule = rule_for_share(conf, 0.3)
    assert rule.threshold == pytest.approx(0.3) and rule.boundary == 0.0
    assert [rule.escalates(c) for c in conf] == [True] * 3 + [False] * 7


def test_the_draw_is_fixed_per_request_and_uniform_over_requests() -> None:
    rule = DecisionRule(threshold=0.5, boundary=0.25, seed=7)
    assert rule.escalates(0.5, key="a") == rule.escalates(0.5, key="a")
    share = sum(rule.escalates(0.5, key=str(i)) for i in range(4000)) / 4000
    assert share == pytest.approx(0.25, abs=0.03)
    assert 0.0 <= draw(1, "x") < 1.0 and draw(1, "x") != draw(2, "x")


def test_tied_answers_are_ordered_by_the_secondary_score() -> None:
    rule = DecisionRule(threshold=0.5, tie_estimator="msp", tie_threshold=0.4, boundary=0.0)
    assert rule.escalates(0.5, {"msp": 0.3}) and not rule.escalates(0.5, {"msp": 0.6})
    assert not rule.escalates(0.5, {"msp": 0.4})  # tied on both, boundary 0: kept
    assert rule.escalates(0.4) and not rule.escalates(0.6)
    assert DecisionRule(threshold=1.0).escalates(1.0)  # threshold 1: everything


def test_a_router_applies_a_rule_and_refuses_one_it_cannot_score() -> None:
    sure = generation([math.log(0.9)] * 2, text="kept")
    unsure = generation([math.log(0.6)] * 2, text="escalated")
    router = CascadeRouter(
        ScriptedBackend([sure, unsure]),
        ScriptedBackend([generation([], text="cloud")]),
        extra_estimators=["perplexity"],
    )
    rule = DecisionRule(threshold=0.0, tie_estimator="perplexity", tie_threshold=0.7)
    with pytest.raises(ConfigurationError, match="does not score"):
        router.with_threshold(rule.model_copy(update={"tie_estimator": "mean_token_entropy"}))

    # rules whose threshold sits exactly at each answer's MSP: the tie score decides
    def msp(gen: object) -> float:
        return MaxSequenceProbability().confidence(RequestStatistics([], gen))  # type: ignore[arg-type]

    kept = router.with_threshold(rule.model_copy(update={"threshold": msp(sure)})).route("a")
    assert kept.route == "edge"  # tied; perplexity 0.9 > 0.7
    cut = rule.model_copy(update={"threshold": msp(unsure)})
    response = router.with_threshold(cut).route("b")  # tied; perplexity 0.6 < 0.7
    assert response.route == "cloud" and response.rule == cut
