"""`ChatConfidenceRouter` in LangChain on the real edge model and the real local server."""

from __future__ import annotations

import pytest
from langchain_core.messages import AIMessage, AIMessageChunk, HumanMessage, SystemMessage
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import ConfigurableField
from langchain_core.tools import tool

from confidence_router import OpenAIChatModel
from confidence_router.errors import ConfigurationError
from confidence_router.models.llama_cpp import LlamaCppModel
from langchain_confidence_router import ChatConfidenceRouter, RoutingDecision


@tool
def get_weather(city: str) -> str:
    """Get the current weather for a city."""
    return f"Sunny in {city}"


@pytest.fixture(scope="module")
def chat(edge: LlamaCppModel, cloud: OpenAIChatModel) -> ChatConfidenceRouter:
    return ChatConfidenceRouter(
        edge=edge, cloud=cloud, threshold=0.0, max_new_tokens=24, cloud_max_new_tokens=80
    )


def test_invoke_keeps_a_confident_edge_answer(chat: ChatConfidenceRouter) -> None:
    msg = chat.invoke(
        [SystemMessage("Answer briefly."), HumanMessage("What is the capital of France?")]
    )
    assert isinstance(msg, AIMessage) and msg.text  # SmolLM2-135M: no quality claim here
    routing = msg.response_metadata["routing"]
    assert routing["route"] == "edge" and routing["reason"] == "confident"
    assert 0 < routing["confidence"] <= 1 and routing["threshold"] == 0.0
    assert (
        msg.usage_metadata
        and msg.usage_metadata["output_tokens"] == routing["usage"]["edge"]["output_tokens"]
    )


def test_lcel_chain(chat: ChatConfidenceRouter) -> None:
    chain = (
        ChatPromptTemplate.from_messages([("user", "What is the capital of {country}?")])
        | chat
        | StrOutputParser()
    )
    assert "Paris" in chain.invoke({"country": "France"})


def test_threshold_per_call_and_configurable(chat: ChatConfidenceRouter) -> None:
    assert (
        chat.invoke("Name a colour.", threshold=1.0).response_metadata["routing"]["route"]
        == "cloud"
    )
    configurable = chat.configurable_fields(threshold=ConfigurableField(id="threshold"))
    msg = configurable.invoke("Name a colour.", config={"configurable": {"threshold": 1.0}})
    assert msg.response_metadata["routing"]["threshold"] == 1.0
    assert msg.response_metadata["routing"]["route"] == "cloud"


def test_stream_escalated_answer_from_the_cloud(chat: ChatConfidenceRouter) -> None:
    chunks = list(chat.stream("Count from one to five in words.", threshold=1.0))
    assert len(chunks) > 2 and all(isinstance(c, AIMessageChunk) for c in chunks)
    final = chunks[-1]
    assert final.response_metadata["routing"]["route"] == "cloud"
    # the answering tier's usage (llama-cpp-python's server sends none with a stream: zeros)
    cloud_usage = final.response_metadata["routing"]["usage"]["cloud"]
    assert final.usage_metadata is not None
    assert final.usage_metadata["output_tokens"] == cloud_usage["output_tokens"]
    assert sum(1 for c in chunks if c.usage_metadata) == 1  # usage on one chunk only
    whole = chunks[0]
    for c in chunks[1:]:
        whole = whole + c
    assert whole.text and whole.response_metadata["routing"]["reason"] == "low_confidence"


async def test_async_and_batch(chat: ChatConfidenceRouter) -> None:
    msg = await chat.ainvoke("What is the capital of France?")
    assert msg.response_metadata["routing"]["route"] == "edge"
    chunks = [c async for c in chat.astream("What is the capital of France?")]
    assert chunks[-1].response_metadata["routing"]["route"] == "edge"
    assert "".join(c.text for c in chunks) == msg.text
    outs = await chat.abatch(["What color is grass?", "What is 1 + 1?"])
    assert len(outs) == 2 and all(o.response_metadata["routing"]["route"] == "edge" for o in outs)
    assert len(chat.batch(["Hi!"])) == 1


def test_tools_go_to_the_cloud_from_an_edge_without_tools(
    small_edge: LlamaCppModel, cloud: OpenAIChatModel
) -> None:
    chat = ChatConfidenceRouter(
        edge=small_edge, cloud=cloud, max_new_tokens=24, cloud_max_new_tokens=80
    )
    msg = chat.bind_tools([get_weather]).invoke("What's the weather in Paris?")
    assert msg.response_metadata["routing"]["reason"] == "edge_no_tools"
    assert msg.tool_calls and msg.tool_calls[0]["name"] == "get_weather"
    assert msg.tool_calls[0]["args"]["city"].lower().startswith("paris")


def test_decision_only_runnable(chat: ChatConfidenceRouter) -> None:
    decision = RoutingDecision(model=chat, threshold=1.0).invoke("What is the capital of France?")
    assert decision["route"] == "cloud" and decision["reason"] == "low_confidence"
    assert "Paris" in decision["edge_answer"] and 0 < decision["confidence"] < 1


def test_offline_token_counts(chat: ChatConfidenceRouter, edge: LlamaCppModel) -> None:
    assert chat.get_num_tokens("hello world") == edge.count_text_tokens("hello world") > 0
    assert chat.get_num_tokens_from_messages([HumanMessage("hi")]) > chat.get_num_tokens("hi")


def test_bad_configuration_is_typed(edge: LlamaCppModel) -> None:
    with pytest.raises(ConfigurationError, match="cloud"):
        ChatConfidenceRouter(edge=edge, cloud="not a model")
    with pytest.raises(ConfigurationError, match="threshold"):
        ChatConfidenceRouter(edge=edge, cloud=edge, threshold=3)
