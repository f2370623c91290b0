"""The cascade on the real edge model and the real local cloud server."""

from __future__ import annotations

import pytest

from confidence_router import (
    CascadeRouter,
    FailurePolicy,
    OpenAIChatModel,
    Reason,
    calibrate_threshold,
)
from confidence_router.errors import CloudUnavailableError, ConfigurationError, InvalidInputError
from confidence_router.models.llama_cpp import LlamaCppModel
from confidence_router.server import free_port
from confidence_router.uncertainty import MeanTokenEntropy, Perplexity
from tests.tools import WEATHER

PROMPTS = [
    "What is the capital of France?",
    "What color is grass?",
    "Spell the word 'cat' backwards.",
    "Explain quantum chromodynamics confinement in one sentence.",
    "Who was the 14th person to walk on the moon?",
    "What is 17 times 23?",
    "Name a mammal that lays eggs.",
    "Summarise the plot of an obscure 1911 Estonian novel.",
]


@pytest.fixture(scope="module")
def router(edge: LlamaCppModel, cloud: OpenAIChatModel) -> CascadeRouter:
    return CascadeRouter(
        edge,
        cloud,
        extra_estimators=[Perplexity(), MeanTokenEntropy()],
        max_new_tokens=24,
        cloud_max_new_tokens=80,
    )


def test_threshold_zero_never_escalates(router: CascadeRouter) -> None:
    outs = router.with_threshold(0.0).batch(PROMPTS[:3])
    assert [o.route for o in outs] == ["edge"] * 3
    assert all(o.reason is Reason.CONFIDENT and o.text for o in outs)
    assert all(set(o.usage) == {"edge"} and o.latency.cloud_s == 0 for o in outs)


def test_threshold_one_escalates_every_unsure_answer(router: CascadeRouter) -> None:
    outs = router.with_threshold(1.0).batch(PROMPTS[:3])
    for out in outs:
        assert out.confidence is not None and out.confidence < 1.0
        assert out.route == "cloud" and out.reason is Reason.LOW_CONFIDENCE and out.text
        assert out.edge_text and out.latency.edge_s > 0 and out.latency.cloud_s > 0
        assert set(out.usage) == {"edge", "cloud"} and out.usage["cloud"].output_tokens > 0
        assert set(out.scores) == {"max_sequence_probability", "perplexity", "mean_token_entropy"}


def test_easy_fact_is_more_confident_than_gibberish(router: CascadeRouter) -> None:
    easy = router.assess("What is the capital of France?")
    gibberish = router.assess("Blorfen quaxle zimdrop vantic sprellow, trindle maffwick?")
    assert easy.confidence > gibberish.confidence
    assert easy.scores["mean_token_entropy"] > gibberish.scores["mean_token_entropy"]


def test_calibrated_threshold_escalates_the_requested_share(router: CascadeRouter) -> None:
    cal = calibrate_threshold(router, PROMPTS, target_cloud_share=0.5)
    assert cal.n == len(PROMPTS) and abs(cal.achieved_cloud_share - 0.5) <= 1 / len(PROMPTS)
    outs = router.with_threshold(cal.threshold).batch(PROMPTS)
    escalated = sum(o.escalated for o in outs)
    assert abs(escalated - 4) <= 1


def test_tools_go_to_the_cloud_when_the_edge_cannot_call_them(
    small_edge: LlamaCppModel, cloud: OpenAIChatModel
) -> None:
    router = CascadeRouter(
        small_edge, cloud, threshold=0.0, max_new_tokens=24, cloud_max_new_tokens=80
    )
    out = router.route("What's the weather in Paris?", tools=WEATHER)
    assert out.route == "cloud" and out.reason is Reason.EDGE_NO_TOOLS
    assert out.tool_calls and out.tool_calls[0].name == "get_weather"
    assert "edge" not in out.usage


async def test_async_routes_in_order(router: CascadeRouter) -> None:
    outs = await router.with_threshold(0.0).abatch(PROMPTS[:2])
    sync = router.with_threshold(0.0).batch(PROMPTS[:2])
    assert [o.text for o in outs] == [o.text for o in sync]
    single = await router.with_threshold(1.0).aroute(PROMPTS[0])
    assert single.route == "cloud"


def test_bad_input_is_rejected_before_generation(router: CascadeRouter) -> None:
    with pytest.raises(InvalidInputError):
        router.route([])
    with pytest.raises(InvalidInputError):
        router.route("   ")
    with pytest.raises(InvalidInputError, match="unknown role"):
        router.route([{"role": "robot", "content": "hi"}])
    with pytest.raises(ConfigurationError, match="threshold"):
        router.route("hi", threshold=2.0)


def test_refusing_cloud_url_is_a_typed_error(edge: LlamaCppModel) -> None:
    dead = OpenAIChatModel(
        "m",
        base_url=f"http://127.0.0.1:{free_port()}/v1",
        max_attempts=2,
        initial_backoff=0.05,
        max_backoff=0.1,
    )
    router = CascadeRouter(edge, dead, threshold=1.0, max_new_tokens=8)
    degraded = router.route("What is the capital of France?")  # fallback="edge", the default
    assert degraded.route == "edge" and degraded.degraded
    assert degraded.degraded_reason == "cloud_unavailable"
    strict = router.with_failure_policy(FailurePolicy(fallback="raise"))
    with pytest.raises(CloudUnavailableError) as info:
        strict.route("What is the capital of France?")
    assert info.value.edge_answer is not None
