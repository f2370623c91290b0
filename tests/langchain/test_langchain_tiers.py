"""LangChain chat models as tiers (`ChatOpenAI` against the local server), `tool_choice` and
structured output through the router, and no token leaks from the inner calls."""

from __future__ import annotations

from typing import Any

import pytest
from langchain.agents import create_agent
from langchain_core.callbacks import BaseCallbackHandler, get_usage_metadata_callback
from langchain_core.messages import AIMessage, AIMessageChunk
from langchain_openai import ChatOpenAI
from pydantic import BaseModel, Field, SecretStr

from confidence_router import OpenAIChatModel
from confidence_router.errors import CapabilityError
from confidence_router.models.llama_cpp import LlamaCppModel
from confidence_router.server import LlamaCppServer
from langchain_confidence_router import ChatConfidenceRouter
from tests.tools import WEATHER


class Place(BaseModel):
    """A place mentioned in the text."""

    city: str = Field(description="the city's name")
    country: str = Field(description="the country the city is in")


def chat_openai(server: LlamaCppServer, **kwargs: Any) -> ChatOpenAI:
    return ChatOpenAI(
        model=server.model_alias,
        base_url=server.base_url,
        api_key=SecretStr("sk-local"),
        max_retries=1,
        temperature=0,
        **kwargs,
    )


class Recorder(BaseCallbackHandler):
    """Counts chat-model runs and collects every streamed token the outer caller can see."""

    def __init__(self) -> None:
        self.starts = 0
        self.tokens: list[str] = []

    def on_chat_model_start(self, *args: Any, **kwargs: Any) -> None:
        self.starts += 1

    def on_llm_new_token(self, token: str, **kwargs: Any) -> None:
        self.tokens.append(token)


@pytest.fixture(scope="module")
def routed_chat_openai(
    small_edge: LlamaCppModel, cloud_server: LlamaCppServer
) -> ChatConfidenceRouter:
    return ChatConfidenceRouter(
        edge=small_edge,  # no tools: the forced tool choice below goes to the cloud
        cloud=chat_openai(cloud_server),
        threshold=1.0,  # every answer escalates to the ChatOpenAI cloud
        max_new_tokens=16,
        cloud_max_new_tokens=48,
    )


def test_chat_openai_as_the_cloud(routed_chat_openai: ChatConfidenceRouter) -> None:
    msg = routed_chat_openai.invoke("What is the capital of France? One word.")
    routing = msg.response_metadata["routing"]
    assert routing["route"] == "cloud" and "Paris" in msg.text
    assert routing["cloud_model"] == "qwen2.5-coder-0.5b-instruct"
    cloud_usage = routing["usage"]["cloud"]
    assert cloud_usage["input_tokens"] > 0 and cloud_usage["output_tokens"] > 0
    assert msg.usage_metadata is not None  # the answering tier's, under its model name
    assert msg.usage_metadata["output_tokens"] == cloud_usage["output_tokens"]
    assert msg.response_metadata["model_name"] == routing["cloud_model"]


def test_usage_trackers_see_each_tier_under_its_own_model(
    routed_chat_openai: ChatConfidenceRouter,
) -> None:
    with get_usage_metadata_callback() as tracker:
        msg = routed_chat_openai.invoke("What is the capital of Spain? One word.")
    routing = msg.response_metadata["routing"]
    assert routing["route"] == "cloud"
    by_model = tracker.usage_metadata
    assert set(by_model) == {routing["edge_model"], routing["cloud_model"]}
    for tier in ("edge", "cloud"):
        seen = by_model[routing[f"{tier}_model"]]
        assert seen["input_tokens"] == routing["usage"][tier]["input_tokens"] > 0
        assert seen["output_tokens"] == routing["usage"][tier]["output_tokens"] > 0


def test_inner_calls_do_not_reach_outer_callbacks(
    routed_chat_openai: ChatConfidenceRouter,
) -> None:
    recorder = Recorder()
    chunks = list(
        routed_chat_openai.stream("Count from one to three.", config={"callbacks": [recorder]})
    )
    text = "".join(c.text for c in chunks)
    assert chunks[-1].response_metadata["routing"]["route"] == "cloud" and text
    assert recorder.starts == 1  # the router's run only: the ChatOpenAI call stays quiet
    assert "".join(recorder.tokens) == text  # each token seen once


def test_stream_mode_messages_sees_each_token_once(
    routed_chat_openai: ChatConfidenceRouter,
) -> None:
    agent = create_agent(model=routed_chat_openai, tools=[])
    streamed: list[AIMessageChunk] = []
    final: list[AIMessage] = []
    for mode, data in agent.stream(
        {"messages": [{"role": "user", "content": "Name three primary colours."}]},
        stream_mode=["messages", "values"],
    ):
        if mode == "messages":
            message, _ = data
            if isinstance(message, AIMessageChunk):
                streamed.append(message)
        else:
            final[:] = [m for m in data["messages"] if isinstance(m, AIMessage)]
    assert final and final[-1].response_metadata["routing"]["route"] == "cloud"
    assert "".join(c.text for c in streamed) == final[-1].text
    assert len({c.id for c in streamed}) == 1  # one model run, not the router plus the cloud


def test_chat_openai_with_logprobs_as_the_edge(
    cloud_server: LlamaCppServer, cloud: OpenAIChatModel
) -> None:
    edge = chat_openai(cloud_server, logprobs=True, top_logprobs=5)
    chat = ChatConfidenceRouter(edge=edge, cloud=cloud, threshold=0.0, max_new_tokens=16)
    msg = chat.invoke("What is the capital of France? One word.")
    routing = msg.response_metadata["routing"]
    assert routing["route"] == "edge" and "Paris" in msg.text
    assert 0.0 < routing["confidence"] <= 1.0 and routing["edge_model"] == cloud.model_name
    with pytest.raises(CapabilityError, match="log"):
        ChatConfidenceRouter(edge=chat_openai(cloud_server), cloud=cloud)  # no log-probs


def test_structured_output_and_tool_choice(routed_chat_openai: ChatConfidenceRouter) -> None:
    place = routed_chat_openai.with_structured_output(Place).invoke(
        "I flew to Paris, France last week. Where did I go?"
    )
    assert isinstance(place, Place) and place.city == "Paris" and place.country == "France"
    forced = routed_chat_openai.bind_tools(WEATHER, tool_choice="get_weather").invoke(
        "Tell me about Lyon."
    )
    assert forced.response_metadata["routing"]["reason"] == "edge_no_tools"
    assert [c["name"] for c in forced.tool_calls] == ["get_weather"]


def test_tool_choice_reaches_the_edge_policy(edge: LlamaCppModel, cloud: OpenAIChatModel) -> None:
    # a text-only edge cannot satisfy a required call: the cloud gets it (and honours it)
    chat = ChatConfidenceRouter(edge=edge, cloud=cloud, threshold=0.0, cloud_max_new_tokens=64)
    msg = chat.bind_tools(WEATHER, tool_choice="any").invoke("What's the weather in Rome?")
    assert msg.tool_calls and msg.tool_calls[0]["name"] == "get_weather"
    assert msg.tool_calls[0]["args"]["city"].lower().startswith("rome")
