"""Defects a code review found in the core's composition, one test (or a few) each.

Scripted tiers stand in for the models: each case is a routing-logic case the real models cannot
produce on demand (a NaN statistic, a deadline that cuts only the samples, a half-open breaker).
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest
from pydantic import SecretStr

from confidence_router import (
    BackendError,
    CascadeRouter,
    CircuitOpenError,
    CloudUnavailableError,
    ConfigurationError,
    FailurePolicy,
    PredictiveRouter,
    PromptTooLongError,
    Reason,
    calibrate_threshold,
)
from confidence_router.generation import DEADLINE, Answer, Generation, Usage
from confidence_router.routers import KNNRouter
from confidence_router.routing.quality_calibration import threshold_for_quality
from confidence_router.uncertainty import (
    MaxSequenceProbability,
    MeanTokenEntropy,
    Perplexity,
    SemanticEntropy,
    Statistic,
)
from confidence_router.uncertainty.semantic_entropy import cluster_log_probs, rao_entropy

from .helpers import ScriptedBackend, generation, samples, stats
from .sample_helpers import FirstLetter, sample_stats

SURE = generation([math.log(0.95)] * 3, text="edge sure")
UNSURE = generation([math.log(0.2)] * 3, text="edge unsure")
CLOUD = generation([], text="cloud answer")
VECTORS = {"hard": [1.0, 0.0], "easy": [0.0, 1.0]}
PREDICTOR = KNNRouter(k=1).fit([[1.0, 0.0], [0.0, 1.0]], ["cloud", "edge"])


def embed(texts: Sequence[str]) -> np.ndarray:
    return np.array([VECTORS[t] for t in texts])


def predictive(edge_out: list[Any], cloud_out: list[Any], **kw: Any) -> PredictiveRouter:
    edge = ScriptedBackend(edge_out, name="edge", early_exit=True)
    cloud = ScriptedBackend(cloud_out, name="cloud")
    return PredictiveRouter(edge, cloud, PREDICTOR, embed, **kw)


# -- 1. copies keep their class ----------------------------------------------------------------


def test_with_star_copies_keep_predictive_routing() -> None:
    router = predictive([], [CLOUD] * 5)
    copies = [
        router.with_threshold(0.4),
        router.with_band((0.2, 0.6)),
        router.with_failure_policy(FailurePolicy(fallback="raise")),
        router.with_early_exit(0.1),
    ]
    for copy in copies:
        assert isinstance(copy, PredictiveRouter)
        response = copy.route("hard")
        assert response.reason is Reason.PREDICTED_CLOUD  # decided before any edge call
    assert router.edge.calls == []  # type: ignore[attr-defined]


def test_calibrate_then_with_threshold_keeps_predictive_routing() -> None:
    router = predictive([SURE, UNSURE], [CLOUD])
    cal = calibrate_threshold(router, ["easy", "easy"], target_cloud_share=0.5)
    tuned = router.with_threshold(cal.threshold)
    assert isinstance(tuned, PredictiveRouter)
    assert tuned.route("hard").reason is Reason.PREDICTED_CLOUD


# -- 2. scores keyed per configuration, not per class -------------------------------------------


def test_two_configurations_of_one_estimator_keep_both_scores_and_the_decider_decides() -> None:
    edge = ScriptedBackend([generation([math.log(0.9)] * 10)], name="edge")
    router = CascadeRouter(
        edge,
        ScriptedBackend([CLOUD]),
        estimator=MaxSequenceProbability(),  # 0.9 >= 0.5: keep
        extra_estimators=[MaxSequenceProbability(normalize=False)],  # 0.9**10 = 0.35
        threshold=0.5,
    )
    response = router.route("q")
    assert response.route == "edge" and response.confidence == pytest.approx(0.9)
    assert len(response.scores) == 2
    assert sorted(response.scores.values()) == pytest.approx([0.9**10, 0.9])
    assert response.scores[response.estimator] == pytest.approx(0.9)  # type: ignore[index]


def test_discrete_and_weighted_semantic_entropy_are_both_recorded() -> None:
    texts = ["A", "A", "B", "B", "B"]
    sampled = Generation(
        greedy=Answer(text="A", token_ids=(1,), token_logprobs=(-0.1,)),
        samples=tuple(
            Answer(text=t, token_ids=(1,), token_logprobs=(lp,))
            for t, lp in zip(texts, [-0.01, -0.01, -5.0, -5.0, -5.0], strict=True)
        ),
    )
    router = CascadeRouter(
        ScriptedBackend([sampled]),
        ScriptedBackend([CLOUD]),
        estimator=SemanticEntropy(FirstLetter()),
        extra_estimators=[SemanticEntropy(FirstLetter(), form="weighted")],
        threshold=0.0,
    )
    response = router.route("q")
    assert len(response.scores) == 2
    discrete, weighted = response.scores.values()
    assert discrete != pytest.approx(weighted)
    assert response.confidence == pytest.approx(discrete)


# -- 3. an edge without token ids is not an empty answer -----------------------------------------


def test_a_text_answer_without_token_ids_is_scored_by_sample_estimators() -> None:
    no_ids = Answer(text="Paris")  # what an OpenAI-compatible edge without log-probs returns
    answers = tuple(Answer(text="Paris") for _ in range(5))
    edge = ScriptedBackend(
        [Generation(greedy=no_ids, samples=answers)], stats=frozenset({Statistic.SAMPLES})
    )
    router = CascadeRouter(
        edge, ScriptedBackend([CLOUD]), estimator=SemanticEntropy(FirstLetter()), threshold=0.5
    )
    response = router.route("q")
    assert response.route == "edge" and response.reason is Reason.CONFIDENT
    assert response.confidence == pytest.approx(1.0)


# -- 4. predicted_edge returns the edge answer ----------------------------------------------------


def test_predicted_edge_is_kept_whatever_the_band_says() -> None:
    router = predictive([UNSURE], [CLOUD], band=(0.5, 0.9))  # cheap confidence 0.2 < low
    response = router.route("easy")
    assert response.route == "edge" and response.reason is Reason.PREDICTED_EDGE
    assert response.text == "edge unsure"
    assert router.cloud.calls == []  # type: ignore[attr-defined]


def test_predicted_edge_is_not_cut_by_early_exit() -> None:
    router = predictive([UNSURE], [CLOUD], early_exit_floor=0.5)
    response = router.route("easy")
    assert response.route == "edge" and response.reason is Reason.PREDICTED_EDGE
    options = router.edge.calls[0][1]  # type: ignore[attr-defined]
    assert options.early_exit_floor is None and options.num_samples == 0


# -- 5. NaN and infinite statistics never give high confidence -----------------------------------


@pytest.mark.parametrize(
    "estimator", [MaxSequenceProbability(), Perplexity(), MaxSequenceProbability(normalize=False)]
)
def test_nan_logprobs_give_zero_confidence(estimator: Any) -> None:
    assert estimator.confidence(stats([-0.1, math.nan, -0.2])) == 0.0


@pytest.mark.parametrize("bad", [math.nan, -math.inf])
def test_nan_or_negative_infinite_entropy_gives_zero_confidence(bad: float) -> None:
    assert MeanTokenEntropy().confidence(stats([-0.1, -0.1], [0.1, bad])) == 0.0


def test_semantic_entropy_with_a_nan_or_minus_inf_likelihood() -> None:
    assert math.isfinite(rao_entropy(cluster_log_probs([0, 0, 1], [-1.0, -2.0, -math.inf])))
    assert math.isnan(rao_entropy([math.nan, -0.1]))
    weighted = SemanticEntropy(FirstLetter(), form="weighted")
    nan_stats = sample_stats(["A", "A", "B", "B", "C"], [[-0.1], [math.nan], [-1], [-1], [-1]])
    assert weighted.confidence(nan_stats) == 0.0
    minus_inf = sample_stats(["A", "A", "B", "B", "C"], [[-0.1], [-0.1], [-1], [-1], [-math.inf]])
    assert 0.0 < weighted.confidence(minus_inf) < 1.0


def test_a_nan_confidence_escalates_as_low_confidence_not_as_an_empty_answer() -> None:
    nan_answer = generation([-0.1, math.nan, -0.2], text="edge answer")
    router = CascadeRouter(ScriptedBackend([nan_answer]), ScriptedBackend([CLOUD]))
    response = router.route("q")
    assert response.route == "cloud" and response.reason is Reason.LOW_CONFIDENCE
    assert response.confidence == 0.0


# -- 6. samples cut by the edge deadline: edge_timeout, staged or not ---------------------------


def test_samples_cut_by_the_deadline_escalate_as_edge_timeout_without_staging() -> None:
    cut = tuple(Answer(text=t, token_ids=(1,), finish_reason=DEADLINE) for t in "AAAAA")
    whole = Generation(greedy=SURE.greedy, samples=cut, usage=Usage(input_tokens=5))
    router = CascadeRouter(
        ScriptedBackend([whole]),
        ScriptedBackend([CLOUD]),
        estimator=SemanticEntropy(FirstLetter()),
        threshold=0.5,
    )
    response = router.route("q")
    assert response.route == "cloud" and response.reason is Reason.EDGE_TIMEOUT


# -- 7. a bad request never leaks the half-open breaker's probe slot -----------------------------


def test_bad_per_call_tokens_do_not_leak_the_probe_slot() -> None:
    router = CascadeRouter(
        ScriptedBackend([UNSURE] * 3),
        ScriptedBackend([CloudUnavailableError("down"), CLOUD]),
        failure_policy=FailurePolicy(breaker_failures=1, breaker_cooldown_s=0.05),
    )
    assert router.route("q").degraded  # the breaker opens
    time.sleep(0.06)  # half-open
    with pytest.raises(ConfigurationError, match="max_new_tokens"):
        router.route("q", max_new_tokens=0)
    response = router.route("q")  # the probe slot is still free
    assert response.route == "cloud" and not response.degraded


def test_cloud_max_new_tokens_and_temperature_are_validated_at_construction() -> None:
    edge, cloud = ScriptedBackend([]), ScriptedBackend([])
    for kwargs, field in (
        ({"cloud_max_new_tokens": 0}, "cloud_max_new_tokens"),
        ({"cloud_max_new_tokens": 10**9}, "cloud_max_new_tokens"),
        ({"temperature": 0.0}, "temperature"),
        ({"temperature": -1.0}, "temperature"),
        ({"max_new_tokens": 10**9}, "max_new_tokens"),
    ):
        with pytest.raises(ConfigurationError) as info:
            CascadeRouter(edge, cloud, **kwargs)
        assert info.value.field == field


# -- 8. edge errors in edge-only use are masked ----------------------------------------------------

KEY = "sk-secret-0123456789abcdef"


class KeyedEdge(ScriptedBackend):
    def __init__(self, outputs: list[Any]) -> None:
        super().__init__(outputs, name="edge")
        self.api_key = SecretStr(KEY)


def test_assess_masks_a_key_in_an_edge_error() -> None:
    router = CascadeRouter(KeyedEdge([RuntimeError(f"bad key {KEY}")]), ScriptedBackend([]))
    with pytest.raises(BackendError) as info:
        router.assess("q")
    assert KEY not in str(info.value) and info.value.tier == "edge"
    assert info.value.__cause__ is None or KEY not in str(info.value.__cause__)


def test_aassess_masks_a_key_in_an_edge_error() -> None:
    router = CascadeRouter(KeyedEdge([RuntimeError(f"bad key {KEY}")]), ScriptedBackend([]))
    with pytest.raises(BackendError) as info:
        asyncio.run(router.aassess("q"))
    assert KEY not in str(info.value)


# -- 9. "everything escalates" really escalates everything ----------------------------------------


def test_unreachable_quality_target_escalates_answers_at_confidence_one() -> None:
    cal = threshold_for_quality([0.2, 0.6, 1.0], [0, 0, 0], target=0.9)
    assert cal.kept_share == 0.0
    certain = generation([0.0, 0.0], text="edge certain")  # confidence exactly 1.0
    router = CascadeRouter(ScriptedBackend([certain]), ScriptedBackend([CLOUD]))
    response = router.with_threshold(cal.threshold).route("q")
    assert response.route == "cloud"


def test_threshold_one_escalates_everything_and_calibration_ties_at_one_do_not() -> None:
    certain = generation([0.0, 0.0], text="edge certain")
    router = CascadeRouter(ScriptedBackend([certain] * 4), ScriptedBackend([CLOUD]))
    assert router.route("q", threshold=1.0).route == "cloud"
    cal = calibrate_threshold(router, ["a", "b", "c"], target_cloud_share=0.3)
    # three answers tied at 1.0: the rule escalates 30% of them in expectation, not all
    assert cal.achieved_cloud_share == pytest.approx(0.3) and cal.rule is not None
    assert cal.rule.threshold == 1.0 and cal.rule.boundary == pytest.approx(0.3)


# -- 10. usage: every request's prompt counted, nothing dropped on a failed samples call ----------


def test_a_failed_samples_call_keeps_the_first_calls_edge_usage() -> None:
    mid = generation([math.log(0.5)] * 4, text="edge middling")
    router = CascadeRouter(
        ScriptedBackend([mid, RuntimeError("samples failed")]),
        ScriptedBackend([CLOUD]),
        estimator=SemanticEntropy(FirstLetter()),
        band=(0.3, 0.7),
    )
    response = router.route("q")
    assert response.route == "cloud" and response.reason is Reason.EDGE_FAILED
    assert response.usage["edge"] == mid.usage and response.edge_tokens == 4
    assert response.latency.edge_s > 0 and response.error is not None


def test_samples_cut_by_the_deadline_keep_both_calls_usage() -> None:
    mid = generation([math.log(0.5)] * 4, text="edge middling")
    cut = samples("A", "A", "B", "B", "C")
    cut = Generation(
        greedy=cut.greedy,
        samples=tuple(
            Answer(text=a.text, token_ids=a.token_ids, finish_reason=DEADLINE) for a in cut.samples
        ),
        usage=cut.usage,
    )
    router = CascadeRouter(
        ScriptedBackend([mid, cut]),
        ScriptedBackend([CLOUD]),
        estimator=SemanticEntropy(FirstLetter()),
        band=(0.3, 0.7),
    )
    response = router.route("q")
    assert response.reason is Reason.EDGE_TIMEOUT
    assert response.usage["edge"] == mid.usage + cut.usage


# -- 13. one backend as both tiers: the unconfident edge answer is never streamed -----------------


def test_streaming_with_one_backend_as_both_tiers_sends_only_the_cloud_answer() -> None:
    both = ScriptedBackend([UNSURE, CLOUD], name="same")
    router = CascadeRouter(both, both, threshold=0.5)
    chunks = list(router.stream("q"))
    text = "".join(c.text for c in chunks)
    assert text == "cloud answer"
    assert chunks[-1].response is not None and chunks[-1].response.route == "cloud"


# -- 14. smaller ones -----------------------------------------------------------------------------


def test_assess_raises_prompt_too_long_with_its_counts() -> None:
    router = CascadeRouter(ScriptedBackend([PromptTooLongError(9000, 8192)]), ScriptedBackend([]))
    with pytest.raises(PromptTooLongError) as info:
        router.assess("q")
    assert (info.value.tokens, info.value.window) == (9000, 8192)


def test_numpy_thresholds_are_accepted() -> None:
    router = CascadeRouter(ScriptedBackend([SURE]), ScriptedBackend([]))
    assert router.with_threshold(np.float32(0.25)).threshold == pytest.approx(0.25)
    assert router.route("q", threshold=np.float64(0.5)).route == "edge"
    with pytest.raises(ConfigurationError):
        router.with_threshold(float("nan"))


def test_abatch_cancels_siblings_when_one_fails() -> None:
    finished: list[str] = []

    class Slow(ScriptedBackend):
        async def agenerate(self, messages: Any, options: Any = None, tools: Any = None) -> Any:
            text = messages[-1].content
            if text == "boom":
                raise ConfigurationError("max_new_tokens", "bad request")
            await asyncio.sleep(0.5)
            finished.append(text)
            return SURE

    router = CascadeRouter(Slow([]), ScriptedBackend([]))

    async def main() -> None:
        with pytest.raises(ConfigurationError):
            await router.abatch(["a", "boom", "b"])
        await asyncio.sleep(0.7)

    asyncio.run(main())
    assert finished == []


def test_predicted_cloud_falls_back_to_the_edge_when_the_cloud_fails() -> None:
    router = predictive([SURE], [CloudUnavailableError("down")])
    response = router.route("hard")
    assert response.route == "edge" and response.degraded
    assert response.reason is Reason.PREDICTED_CLOUD and response.text == "edge sure"
    with pytest.raises(CloudUnavailableError) as info:
        predictive([SURE], [CloudUnavailableError("down")]).with_failure_policy(
            FailurePolicy(fallback="raise")
        ).route("hard")
    assert info.value.edge_answer is not None and info.value.edge_answer.text == "edge sure"


def test_deadline_enforced_calls_do_not_pile_up_threads() -> None:
    class Late(ScriptedBackend):
        def generate(self, messages: Any, options: Any = None, tools: Any = None) -> Any:
            time.sleep(0.5)
            return SURE

    router = CascadeRouter(Late([]), ScriptedBackend([]), max_concurrency=4)
    before = threading.active_count()
    for _ in range(12):
        with pytest.raises(BackendError):
            router.assess("q", deadline_s=0.01)
    assert threading.active_count() - before <= router.max_concurrency


def test_circuit_open_error_is_still_typed_after_the_fixes() -> None:
    router = CascadeRouter(
        ScriptedBackend([UNSURE] * 2),
        ScriptedBackend([CloudUnavailableError("down")]),
        failure_policy=FailurePolicy(fallback="raise", breaker_failures=1),
    )
    with pytest.raises(CloudUnavailableError):
        router.route("q")
    with pytest.raises(CircuitOpenError):
        router.route("q")


# -- 11. content the edge cannot read goes to the cloud intact ------------------------------------


def test_an_image_request_goes_to_the_cloud_with_its_parts() -> None:
    image = {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}
    edge, cloud = ScriptedBackend([SURE]), ScriptedBackend([CLOUD, CLOUD])
    router = CascadeRouter(edge, cloud)
    asked = [{"role": "user", "content": [{"type": "text", "text": "What is it?"}, image]}]
    response = router.route(asked)
    assert response.route == "cloud" and response.reason is Reason.UNSUPPORTED_CONTENT
    sent = cloud.calls[0][0][0]
    assert sent.content == "What is it?" and sent.to_openai()["content"][1] == image
    only_image = router.route([{"role": "user", "content": [image]}])  # no text: still valid
    assert only_image.reason is Reason.UNSUPPORTED_CONTENT and edge.calls == []
