"""N-tier cascades (`tiered`) and sticky routing (`StickyRouting`) on scripted tiers."""

from __future__ import annotations

import asyncio
import math

import pytest

from confidence_router import CascadeRouter, Reason
from confidence_router.errors import CapabilityError, ConfigurationError
from confidence_router.messages import ChatMessage
from confidence_router.routing.decision import Pricing
from confidence_router.routing.sticky import StickyRouting
from confidence_router.routing.tiers import tier_models, tier_routers, tiered

from .helpers import ScriptedBackend, generation


def answer(p: float, text: str) -> object:
    return generation([math.log(p)] * 3, text=text)


def three(small: list, medium: list, large: list, **kw: object):  # type: ignore[no-untyped-def]
    tiers = [
        ScriptedBackend(small, name="small"),
        ScriptedBackend(medium, name="medium"),
        ScriptedBackend(large, name="large"),
    ]
    return tiers, tiered(tiers, [0.8, 0.6], **kw)


def test_each_tier_answers_what_it_is_sure_of() -> None:
    sure, unsure, big = answer(0.9, "small"), answer(0.5, "x"), answer(0.9, "large")
    _, router = three([sure], [], [])
    kept = router.route("q")
    assert (kept.route, kept.tier_index, kept.tier, kept.text) == ("edge", 0, "small", "small")
    assert [t.model for t in kept.tiers] == ["small"] and kept.tiers[0].answered

    _, router = three([unsure], [answer(0.7, "medium")], [])
    mid = router.route("q")
    assert (mid.route, mid.reason, mid.tier_index, mid.tier) == (
        "cloud", Reason.LOW_CONFIDENCE, 1, "medium",
    )  # fmt: skip
    assert [(t.index, t.model, t.answered) for t in mid.tiers] == [
        (0, "small", False), (1, "medium", True),
    ]  # fmt: skip
    assert mid.tiers[0].confidence == pytest.approx(0.5)
    assert mid.tiers[1].confidence == pytest.approx(0.7)

    _, router = three([unsure], [answer(0.5, "y")], [big])
    top = router.route("q")
    assert (top.tier_index, top.tier, top.text) == (2, "large", "large")
    assert [t.reason for t in top.tiers] == [Reason.LOW_CONFIDENCE, Reason.LOW_CONFIDENCE, None]
    assert sum(t.usage.output_tokens for t in top.tiers) == top.total_usage.output_tokens == 9


def test_costs_add_up_over_the_tiers_each_at_its_own_price() -> None:
    prices = {"edge": Pricing(output_per_million=1e6), "cloud": Pricing(output_per_million=2e6)}
    _, router = three([answer(0.5, "x")], [answer(0.5, "y")], [answer(0.9, "z")], prices=prices)
    out = router.route("q")
    # every router prices its first tier as "edge" and its last as "cloud": 3 + 3 + 3 * 2
    assert out.cost == pytest.approx(12.0)


def test_tiers_are_checked_at_construction() -> None:
    with pytest.raises(ConfigurationError, match="one per tier"):
        tiered([ScriptedBackend([]), ScriptedBackend([]), ScriptedBackend([])], [0.5])
    with pytest.raises(ConfigurationError, match="at least two"):
        tiered([ScriptedBackend([])], [])
    blind = ScriptedBackend([], stats=frozenset(), name="blind")
    with pytest.raises(CapabilityError):
        tiered([ScriptedBackend([]), blind, ScriptedBackend([])], [0.5, 0.5])
    assert tier_models(three([], [], [])[1]) == ["small", "medium", "large"]


def test_streaming_and_async_through_three_tiers() -> None:
    _, router = three([answer(0.5, "x")], [answer(0.5, "y")], [answer(0.9, "large answer")])
    chunks = list(router.stream("q"))
    assert "".join(c.text for c in chunks) == "large answer"
    assert chunks[-1].response is not None and chunks[-1].response.tier_index == 2
    _, router = three([answer(0.5, "x")], [answer(0.7, "medium")], [])
    out = asyncio.run(router.aroute("q"))
    assert (out.tier, out.text) == ("medium", "medium")


def test_a_failed_top_tier_falls_back_to_the_tier_below() -> None:
    _, router = three([answer(0.5, "x")], [answer(0.5, "medium")], [RuntimeError("down")])
    out = router.route("q")
    assert (out.route, out.tier_index, out.text) == ("cloud", 1, "medium")
    assert out.tiers[-1].model == "medium"


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_sticky_conversation_never_drops_a_tier_within_its_time_to_live() -> None:
    clock = Clock()
    sticky = StickyRouting(ttl_s=60, clock=clock)
    sure = answer(0.95, "sure")
    edge = ScriptedBackend([answer(0.2, "unsure"), sure, sure, sure], name="edge")
    cloud = ScriptedBackend([answer(0.9, "cloud 1"), answer(0.9, "cloud 2")], name="cloud")
    router = CascadeRouter(edge, cloud, sticky=sticky)
    turn1 = [ChatMessage(role="user", content="Plan my trip.")]
    first = router.route(turn1)
    assert (first.route, first.sticky) == ("cloud", False)
    turn2 = [*turn1, ChatMessage(role="assistant", content=first.text),
             ChatMessage(role="user", content="And the hotel?")]  # fmt: skip
    clock.now = 30.0
    second = router.route(turn2)
    assert (second.route, second.reason, second.sticky) == ("cloud", Reason.STICKY, True)
    assert len(edge.calls) == 1  # the edge was not asked again
    other = router.route("An unrelated question.")  # another conversation is not affected
    assert other.route == "edge" and not other.sticky
    clock.now = 30.0 + 61.0  # past the time to live (refreshed at the second turn)
    turn3 = [*turn2, ChatMessage(role="assistant", content=second.text),
             ChatMessage(role="user", content="Thanks.")]  # fmt: skip
    assert router.route(turn3).route == "edge"


def test_an_agent_loop_stays_on_the_tier_it_escalated_to() -> None:
    sticky = StickyRouting()
    edge = ScriptedBackend([answer(0.2, "unsure")] + [answer(0.95, "sure")] * 3, name="edge")
    cloud = ScriptedBackend([answer(0.9, "step")] * 3, name="cloud")
    router = CascadeRouter(edge, cloud, sticky=sticky)
    ask = [ChatMessage(role="user", content="What is 17 times 23?")]
    assert router.route(ask).route == "cloud"
    step = [*ask, ChatMessage(role="assistant", content="calling"),
            ChatMessage(role="tool", content="391", tool_call_id="c1")]  # fmt: skip
    assert router.route(step).reason is Reason.STICKY
    unsticky = CascadeRouter(
        ScriptedBackend([answer(0.2, "unsure"), answer(0.95, "sure")]),
        ScriptedBackend([answer(0.9, "step")]),
    )
    assert unsticky.route(ask).route == "cloud" and unsticky.route(step).route == "edge"


def test_ids_the_caller_passes_and_the_table_bound() -> None:
    sticky = StickyRouting(max_conversations=2)
    edge = ScriptedBackend([answer(0.2, "u")] * 3 + [answer(0.95, "s")] * 2, name="edge")
    cloud = ScriptedBackend([answer(0.9, "c")] * 5, name="cloud")
    router = CascadeRouter(edge, cloud, sticky=sticky)
    for name in ("a", "b", "c"):
        router.route(f"hello {name}", conversation_id=name)
    assert len(sticky) == 2  # "a" was the least recently used
    assert router.route("anything", conversation_id="c").reason is Reason.STICKY
    assert router.route("anything", conversation_id="a").route == "edge"
    with pytest.raises(ConfigurationError):
        StickyRouting(ttl_s=0)


def test_sticky_tiers_keep_a_conversation_on_the_highest_tier_it_reached() -> None:
    sticky = StickyRouting()
    low = answer(0.5, "x")
    tiers, router = three([low, low], [low, low], [answer(0.9, "large")] * 2, sticky=sticky)
    ask = [ChatMessage(role="user", content="hard")]
    assert router.route(ask).tier_index == 2
    step = [*ask, ChatMessage(role="assistant", content="large"),
            ChatMessage(role="user", content="harder")]  # fmt: skip
    again = router.route(step)
    assert (again.tier_index, again.sticky) == (2, True)
    assert [len(t.calls) for t in tiers] == [1, 1, 2]  # neither lower tier was asked again


def test_calibration_gives_each_tier_its_share() -> None:
    from confidence_router.routing.tier_calibration import calibrate_tiers

    probs = [0.95, 0.9, 0.85, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2]
    small = ScriptedBackend([answer(p, "s") for p in probs], name="small")
    # the prompts the first tier passes on (its 5 least sure), in order, at the medium tier
    medium = ScriptedBackend([answer(p, "m") for p in (0.9, 0.8, 0.3, 0.2, 0.1)], name="medium")
    large = ScriptedBackend([], name="large")
    router = tiered([small, medium, large], [0.5, 0.5])
    prompts = [f"q{i}" for i in range(10)]
    cal = calibrate_tiers(router, prompts, [0.5, 0.2, 0.3])
    assert cal.achieved_shares == pytest.approx((0.5, 0.2, 0.3))
    assert [m[-1].content for m, _, _ in medium.calls] == ["q5", "q6", "q7", "q8", "q9"]
    assert not large.calls  # calibration never calls the last tier
    thresholds = [r.threshold for r in tier_routers(cal.router)]
    assert thresholds[0] == pytest.approx(0.7) and 0.3 < thresholds[1] <= 0.8
    with pytest.raises(ConfigurationError, match="sum to 1"):
        calibrate_tiers(router, prompts, [0.5, 0.2, 0.2])
