"""Review fixes in the LangChain adapter, on scripted tiers: multimodal input is not flattened,
and usage trackers see each tier's tokens under its own model name."""

from __future__ import annotations

import asyncio
import math

from langchain_core.callbacks import get_usage_metadata_callback
from langchain_core.messages import HumanMessage

from confidence_router import CascadeRouter, Reason
from langchain_confidence_router import ChatConfidenceRouter
from tests.unit.helpers import ScriptedBackend, generation

UNSURE = generation([math.log(0.2)] * 3, text="edge unsure")
SURE = generation([math.log(0.95)] * 3, text="edge sure")
CLOUD = generation([], text="cloud answer")
IMAGE = "data:image/png;base64,iVBORw0KGgo="


def chat(edge_out: list[object], cloud_out: list[object]) -> ChatConfidenceRouter:
    edge = ScriptedBackend(edge_out, name="edge-model")
    cloud = ScriptedBackend(cloud_out, name="cloud-model")
    return ChatConfidenceRouter(router=CascadeRouter(edge, cloud, threshold=0.5))


def test_an_image_goes_to_the_cloud_with_its_blocks() -> None:
    router = chat([SURE], [CLOUD])
    for block in (
        {"type": "image_url", "image_url": {"url": IMAGE}},
        {"type": "image", "base64": "iVBORw0KGgo=", "mime_type": "image/png"},
    ):
        message = HumanMessage(content=[{"type": "text", "text": "What is this?"}, block])
        router.router.cloud.outputs.append(CLOUD)  # type: ignore[attr-defined]
        answer = router.invoke([message])
        routing = answer.response_metadata["routing"]
        assert routing["route"] == "cloud"
        assert routing["reason"] == Reason.UNSUPPORTED_CONTENT.value
        sent = router.router.cloud.calls[-1][0][-1]  # type: ignore[attr-defined]
        assert sent.content == "What is this?"
        assert sent.to_openai()["content"][1] == {"type": "image_url", "image_url": {"url": IMAGE}}
    assert router.router.edge.calls == []  # type: ignore[attr-defined]


def test_text_blocks_alone_stay_text() -> None:
    router = chat([SURE], [])
    message = HumanMessage(content=[{"type": "text", "text": "Hi "}, {"type": "text", "text": "!"}])
    assert router.invoke([message]).response_metadata["routing"]["route"] == "edge"
    assert router.router.edge.calls[0][0][-1].parts == ()  # type: ignore[attr-defined]


def test_usage_by_model_prices_each_tier_on_its_own() -> None:
    for call in ("invoke", "stream", "ainvoke", "astream"):
        router = chat([UNSURE], [CLOUD])
        with get_usage_metadata_callback() as tracker:
            if call == "invoke":
                router.invoke("q")
            elif call == "stream":
                list(router.stream("q"))
            elif call == "ainvoke":
                asyncio.run(router.ainvoke("q"))
            else:

                async def consume(model: ChatConfidenceRouter) -> None:
                    async for _ in model.astream("q"):
                        pass

                asyncio.run(consume(router))
        usage = tracker.usage_metadata
        assert set(usage) == {"edge-model", "cloud-model"}, call
        assert usage["edge-model"]["output_tokens"] == 3  # the edge's greedy answer
        assert usage["edge-model"]["input_tokens"] == 5
        assert usage["cloud-model"]["output_tokens"] == 0 and call


def test_an_edge_answer_is_counted_once_under_the_edge_model() -> None:
    router = chat([SURE], [])
    with get_usage_metadata_callback() as tracker:
        message = router.invoke("q")
    assert set(tracker.usage_metadata) == {"edge-model"}
    assert tracker.usage_metadata["edge-model"]["output_tokens"] == 3
    assert message.usage_metadata is not None and message.usage_metadata["output_tokens"] == 3


def test_both_adapters_take_a_decision_rule_and_a_budget_controller() -> None:
    from confidence_router import BudgetController, DecisionRule
    from llamaindex_confidence_router import ConfidenceRouterLLM

    rule = DecisionRule(threshold=0.5, boundary=1.0)  # ties at 0.5 escalate
    controller = BudgetController(1.0, window=10, warmup=1)
    for threshold in (rule, controller):
        edge = ScriptedBackend([SURE, SURE], name="edge-model")
        cloud = ScriptedBackend([CLOUD, CLOUD], name="cloud-model")
        chat = ChatConfidenceRouter(edge=edge, cloud=cloud, threshold=threshold)
        assert chat.router.rule is threshold
        llm = ConfidenceRouterLLM(edge=edge, cloud=cloud, threshold=threshold)
        assert llm._router.rule is threshold
        adopted = ChatConfidenceRouter(router=CascadeRouter(edge, cloud, threshold=threshold))
        assert adopted.threshold is threshold
    assert chat.invoke("q").response_metadata["routing"]["route"] == "cloud"  # the controller
