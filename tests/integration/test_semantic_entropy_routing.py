"""Semantic entropy, staged escalation and early exit end to end on the real edge model (and
`LLMEntailment` judged by the real local cloud)."""

from __future__ import annotations

import pytest

from confidence_router import CascadeRouter, OpenAIChatModel, Reason
from confidence_router.models.llama_cpp import LlamaCppModel
from confidence_router.uncertainty import (
    AnswerEquivalence,
    LLMEntailment,
    NumSemanticSets,
    SemanticEntropy,
)

MATH = "What is 12 + 30? Answer with the number only."


def test_routed_request_with_semantic_entropy(edge: LlamaCppModel, cloud: OpenAIChatModel) -> None:
    se = SemanticEntropy(AnswerEquivalence(kind="number"), num_samples=5)
    router = CascadeRouter(
        edge,
        cloud,
        estimator=se,
        extra_estimators=[NumSemanticSets(AnswerEquivalence(kind="number"))],
        threshold=0.0,
        max_new_tokens=16,
    )
    out = router.route(MATH)
    assert out.route == "edge" and out.reason is Reason.CONFIDENT
    assert set(out.scores) >= {"semantic_entropy", "num_semantic_sets"}
    assert 0.0 <= out.scores["semantic_entropy"] <= 1.0
    # K clusters of 5 answers: both estimators saw the same clustering
    k = round(1 + (1 - out.scores["num_semantic_sets"]) * 4)
    assert 1 <= k <= 5 and (k > 1 or out.scores["semantic_entropy"] == 1.0)
    # greedy + 5 samples were generated: more tokens than the greedy answer's, at least 6
    assert (
        out.usage["edge"].output_tokens > out.edge_tokens and out.usage["edge"].output_tokens >= 6
    )


def test_staged_escalation_pays_for_samples_only_in_the_band(
    edge: LlamaCppModel, cloud: OpenAIChatModel
) -> None:
    se = SemanticEntropy(AnswerEquivalence(kind="number"), num_samples=5)
    everything = CascadeRouter(
        edge, cloud, estimator=se, band=(0.0, 1.0), threshold=0.0, max_new_tokens=16
    )
    full = everything.route(MATH)
    assert full.stage == "full" and "semantic_entropy" in full.scores
    assert "max_sequence_probability" in full.scores
    nothing = everything.with_band((0.0, 0.0))  # every cheap score is >= 0: kept at once
    cheap = nothing.route(MATH)
    assert cheap.stage == "cheap" and cheap.route == "edge"
    assert "semantic_entropy" not in cheap.scores
    assert cheap.usage["edge"].output_tokens < full.usage["edge"].output_tokens


def test_early_exit_stops_the_edge_and_escalates(
    edge: LlamaCppModel, cloud: OpenAIChatModel
) -> None:
    router = CascadeRouter(
        edge,
        cloud,
        threshold=0.0,
        max_new_tokens=64,
        cloud_max_new_tokens=16,
        early_exit_floor=0.999,  # no real answer keeps every token this sure
        early_exit_min_tokens=2,
    )
    out = router.route("Write a short poem about the sea.")
    assert out.route == "cloud" and out.reason is Reason.EARLY_EXIT
    assert out.edge_tokens is not None and 2 <= out.edge_tokens < 64
    assert out.usage["edge"].output_tokens < 64 and out.text


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [("Paris.", "The capital of France is Paris.", True), ("Paris.", "Berlin.", False)],
)
def test_llm_entailment_with_the_cloud_as_judge(
    big_cloud: OpenAIChatModel, a: str, b: str, same: bool
) -> None:
    """The 1.5B judges (the 0.5B says "Paris." entails "Berlin.")."""
    judge = LLMEntailment(big_cloud)
    assert judge.equivalent("What is the capital of France?", a, b) is same
