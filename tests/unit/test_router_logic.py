import math

import pytest

from confidence_router import CascadeRouter, OpenAIChatModel, Pricing, Reason
from confidence_router.errors import CapabilityError, ConfigurationError
from confidence_router.uncertainty import MeanTokenEntropy, Perplexity, Statistic

from .helpers import ScriptedBackend, generation

SURE = generation([math.log(0.9)] * 3, [0.1] * 3, text="edge answer")  # confidence 0.9
UNSURE = generation([math.log(0.2)] * 3, [2.0] * 3, text="edge guess")  # confidence 0.2
CLOUD = generation([], text="cloud answer")


def router(edge_out, threshold, **kw):
    edge = ScriptedBackend(edge_out, name="edge-m")
    cloud = ScriptedBackend([CLOUD] * 3, name="cloud-m", tools=True)
    return CascadeRouter(edge, cloud, threshold=threshold, **kw), edge, cloud


def test_confident_answer_stays_at_edge() -> None:
    r, _, cloud = router([SURE], 0.5)
    out = r.route("q")
    assert (out.route, out.reason, out.text) == ("edge", Reason.CONFIDENT, "edge answer")
    assert out.confidence == pytest.approx(0.9) and not cloud.calls
    assert set(out.usage) == {"edge"}


def test_low_confidence_escalates_and_keeps_edge_record() -> None:
    r, _, cloud = router(
        [UNSURE],
        0.5,
        extra_estimators=[Perplexity(), MeanTokenEntropy()],
        prices={"cloud": Pricing(input_per_million=1e6, output_per_million=0)},
    )
    out = r.route("q")
    assert (out.route, out.reason, out.text) == ("cloud", Reason.LOW_CONFIDENCE, "cloud answer")
    assert out.edge_text == "edge guess" and len(cloud.calls) == 1
    assert set(out.scores) == {"max_sequence_probability", "perplexity", "mean_token_entropy"}
    assert out.scores["mean_token_entropy"] == pytest.approx(math.exp(-2.0))
    assert set(out.usage) == {"edge", "cloud"}
    assert out.cost == pytest.approx(5.0)  # 5 cloud input tokens at 1 per token
    assert out.decision()["reason"] == "low_confidence" and "text" not in out.decision()


def test_escalate_iff_confidence_below_threshold() -> None:
    assert router([SURE], 0.9)[0].route("q").route == "edge"  # 0.9 is not < 0.9
    assert router([SURE], 0.0)[0].route("q").route == "edge"
    assert router([SURE], 1.0)[0].route("q").route == "cloud"


def test_per_call_threshold_and_with_threshold() -> None:
    r, _, _ = router([SURE, SURE], 0.5)
    assert r.route("q", threshold=0.95).route == "cloud"
    assert r.with_threshold(0.1).route("q").route == "edge"
    assert r.threshold == 0.5


def test_tools_skip_an_edge_that_cannot_call_tools() -> None:
    r, edge, cloud = router([SURE], 0.0)
    tools = [{"type": "function", "function": {"name": "w"}}]
    out = r.route("q", tools=tools)
    assert out.reason == Reason.EDGE_NO_TOOLS and out.route == "cloud" and not edge.calls
    assert cloud.calls[0][2][0]["function"]["name"] == "w"


def test_empty_edge_answer_escalates() -> None:
    out = router([generation([], text="")], 0.0)[0].route("q")
    assert (out.route, out.reason, out.confidence) == ("cloud", Reason.EMPTY_EDGE_ANSWER, None)


def test_edge_is_asked_only_for_what_estimators_need() -> None:
    r, edge, _ = router([SURE], 0.5, estimator=MeanTokenEntropy(), max_new_tokens=7)
    r.route("q")
    opts = edge.calls[0][1]
    assert (opts.entropy, opts.logprobs, opts.num_samples, opts.max_new_tokens) == (
        True,
        False,
        0,
        7,
    )


@pytest.mark.parametrize("bad", [-0.01, 1.01, "0.5", True, float("nan")])
def test_threshold_outside_unit_interval(bad: object) -> None:
    with pytest.raises(ConfigurationError, match="threshold"):
        router([SURE], bad)
    r, _, _ = router([SURE], 0.5)
    with pytest.raises(ConfigurationError, match="threshold"):
        r.route("q", threshold=bad)  # type: ignore[arg-type]


def test_edge_without_logprobs_is_rejected_at_construction() -> None:
    edge = OpenAIChatModel("m", base_url="http://127.0.0.1:9/v1", tier="edge")
    assert Statistic.GREEDY_LOGPROBS not in edge.capabilities.statistics
    with pytest.raises(CapabilityError, match="greedy_logprobs"):
        CascadeRouter(edge, ScriptedBackend([]))
    with_lp = OpenAIChatModel("m", base_url="http://127.0.0.1:9/v1", tier="edge", logprobs=True)
    CascadeRouter(with_lp, ScriptedBackend([]), estimator="mean_token_entropy")


async def test_async_route_and_batch_keep_order() -> None:
    r, _, _ = router([SURE, UNSURE, SURE], 0.5, max_concurrency=1)
    outs = await r.abatch(["a", "b", "c"])
    assert [o.route for o in outs] == ["edge", "cloud", "edge"]
