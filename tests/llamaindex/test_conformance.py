"""Conformance of `ConfidenceRouterLLM` to LlamaIndex's LLM interface, on the real models.

LlamaIndex has no standard test suite like `langchain-tests`; this module plays that part:
every public method (sync, async, streaming), metadata, tools, structured output,
instrumentation and token counting, with the SmolLM2 edge in-process and the llama.cpp cloud.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from llama_index.core.base.llms.types import ChatMessage, ChatResponse, CompletionResponse
from llama_index.core.callbacks import CallbackManager, TokenCountingHandler
from llama_index.core.instrumentation import get_dispatcher  # type: ignore[attr-defined]
from llama_index.core.instrumentation.event_handlers import BaseEventHandler
from llama_index.core.instrumentation.events import BaseEvent
from llama_index.core.llms.function_calling import FunctionCallingLLM
from llama_index.core.tools import FunctionTool
from pydantic import BaseModel, Field

from confidence_router import OpenAIChatModel
from confidence_router.errors import CapabilityError, ConfigurationError, InvalidInputError
from confidence_router.models.llama_cpp import LlamaCppModel
from llamaindex_confidence_router import ConfidenceRouterLLM, RoutingDecisionEvent

QUESTION = [ChatMessage(role="user", content="What is the capital of France?")]


def get_weather(city: str) -> str:
    """Get the current weather for a city."""
    return f"It is sunny in {city}."


WEATHER = FunctionTool.from_defaults(fn=get_weather)


class Place(BaseModel):
    """A place mentioned in the text."""

    city: str
    country: str


class Recorder(BaseEventHandler):
    events: list[BaseEvent] = Field(default_factory=list)

    @classmethod
    def class_name(cls) -> str:
        return "Recorder"

    def handle(self, event: BaseEvent, **kwargs: Any) -> None:
        if isinstance(event, RoutingDecisionEvent):
            self.events.append(event)


@pytest.fixture(scope="module")
def llm(edge: LlamaCppModel, cloud: OpenAIChatModel) -> ConfidenceRouterLLM:
    return ConfidenceRouterLLM(
        edge=edge, cloud=cloud, threshold=0.0, max_new_tokens=24, cloud_max_new_tokens=64
    )


@pytest.fixture()
def decisions() -> Iterator[list[BaseEvent]]:
    recorder = Recorder(events=[])
    root = get_dispatcher()
    root.add_event_handler(recorder)
    yield recorder.events
    root.event_handlers.remove(recorder)


def routing(response: ChatResponse | CompletionResponse) -> dict[str, Any]:
    assert isinstance(response.raw, dict)
    assert response.additional_kwargs["routing"] == response.raw["routing"]
    return dict(response.raw["routing"])


def test_metadata(llm: ConfidenceRouterLLM, edge: LlamaCppModel) -> None:
    meta = llm.metadata
    assert isinstance(llm, FunctionCallingLLM)
    assert meta.is_chat_model and meta.is_function_calling_model
    assert meta.context_window == 8192  # the cloud's (llama.cpp n_ctx), not the edge's
    assert meta.model_name == f"{edge.model_name} -> qwen2.5-coder-0.5b-instruct"
    assert meta.num_output == 64
    assert ConfidenceRouterLLM.class_name() == "ConfidenceRouterLLM"


def test_chat_and_complete(llm: ConfidenceRouterLLM, decisions: list[BaseEvent]) -> None:
    reply = llm.chat(QUESTION)
    decision = routing(reply)
    assert decision["route"] == "edge" and decision["reason"] == "confident"
    assert "Paris" in (reply.message.content or "")
    done = llm.complete("What is the capital of France?")
    assert "Paris" in done.text and routing(done)["route"] == "edge"
    escalated = llm.chat(QUESTION, threshold=1.0)
    assert routing(escalated)["route"] == "cloud" and "Paris" in str(escalated.message.content)
    assert [e.decision["route"] for e in decisions] == ["edge", "edge", "cloud"]  # type: ignore[attr-defined]


def test_streaming(llm: ConfidenceRouterLLM) -> None:
    pieces = list(llm.stream_chat(QUESTION, threshold=1.0))
    assert len(pieces) > 2 and routing(pieces[-1])["route"] == "cloud"
    assert "".join(p.delta or "" for p in pieces).strip() == pieces[-1].message.content
    assert all(p.raw is None for p in pieces[:-1])  # the decision comes last, once
    completions = list(llm.stream_complete("What is the capital of France?"))
    assert routing(completions[-1])["route"] == "edge"
    assert "".join(c.delta or "" for c in completions) == completions[-1].text


async def test_async(llm: ConfidenceRouterLLM) -> None:
    reply = await llm.achat(QUESTION)
    assert routing(reply)["route"] == "edge"
    done = await llm.acomplete("What is the capital of France?", threshold=1.0)
    assert routing(done)["route"] == "cloud"
    pieces = [p async for p in await llm.astream_chat(QUESTION)]
    assert routing(pieces[-1])["route"] == "edge"
    completions = [c async for c in await llm.astream_complete("Name a colour.", threshold=1.0)]
    assert routing(completions[-1])["route"] == "cloud" and completions[-1].text


def test_tools_through_an_edge_without_tools(
    small_edge: LlamaCppModel, cloud: OpenAIChatModel
) -> None:
    llm = ConfidenceRouterLLM(
        edge=small_edge, cloud=cloud, max_new_tokens=24, cloud_max_new_tokens=80
    )
    reply = llm.chat_with_tools([WEATHER], user_msg="What's the weather in Paris?")
    assert routing(reply)["reason"] == "edge_no_tools"
    calls = llm.get_tool_calls_from_response(reply)
    assert [c.tool_name for c in calls] == ["get_weather"]
    assert calls[0].tool_kwargs["city"].lower().startswith("paris")
    output = llm.predict_and_call([WEATHER], user_msg="What's the weather in Oslo?")
    assert "sunny in Oslo" in str(output)
    with pytest.raises(ValueError, match="tool call"):
        llm.get_tool_calls_from_response(llm.chat(QUESTION))
    assert llm.get_tool_calls_from_response(llm.chat(QUESTION), error_on_no_tool_call=False) == []


async def test_async_tools_and_required_call(llm: ConfidenceRouterLLM) -> None:
    reply = await llm.achat_with_tools(
        [WEATHER], user_msg="Tell me about Lyon.", tool_required=True
    )
    assert [c.tool_name for c in llm.get_tool_calls_from_response(reply)] == ["get_weather"]
    pieces = [
        p
        async for p in await llm.astream_chat_with_tools(
            [WEATHER], user_msg="What's the weather in Rome?"
        )
    ]
    assert llm.get_tool_calls_from_response(pieces[-1])[0].tool_name == "get_weather"


def test_structured_predict(llm: ConfidenceRouterLLM) -> None:
    from llama_index.core.prompts import PromptTemplate

    place = llm.structured_predict(
        Place, PromptTemplate("I flew to {city}, France last week. Where did I go?"), city="Paris"
    )
    assert isinstance(place, Place) and place.city == "Paris" and place.country == "France"


def test_token_counting_reads_routed_usage(llm: ConfidenceRouterLLM, edge: LlamaCppModel) -> None:
    counter = TokenCountingHandler(tokenizer=lambda text: [0] * edge.count_text_tokens(text))
    llm.callback_manager = CallbackManager([counter])
    try:
        reply = llm.chat(QUESTION, threshold=1.0)
    finally:
        llm.callback_manager = CallbackManager([])
    usage = reply.raw["usage"]  # type: ignore[index]
    routed = routing(reply)["usage"]
    assert (
        usage["prompt_tokens"] == routed["edge"]["input_tokens"] + routed["cloud"]["input_tokens"]
    )
    assert counter.prompt_llm_token_count == usage["prompt_tokens"] > 0
    assert counter.completion_llm_token_count == usage["completion_tokens"] > 0


def test_errors_are_typed(llm: ConfidenceRouterLLM, edge: LlamaCppModel) -> None:
    with pytest.raises(ConfigurationError, match="temperature"):
        llm.chat(QUESTION, temperature=0.3)
    with pytest.raises(InvalidInputError):
        llm.chat([ChatMessage(role="user", content="   ")])
    with pytest.raises(ConfigurationError, match="cloud"):
        ConfidenceRouterLLM(edge=edge, cloud="not a model")
    with pytest.raises(ConfigurationError, match="threshold"):
        ConfidenceRouterLLM(edge=edge, cloud=edge, threshold=2)


def test_a_llamaindex_llm_as_a_tier(edge: LlamaCppModel, cloud: OpenAIChatModel) -> None:
    """Any LlamaIndex LLM can be a tier (here another router, itself a LlamaIndex LLM); one that
    supplies no log-probs is refused as the edge for an estimator that needs them."""
    inner = ConfidenceRouterLLM(edge=edge, cloud=cloud, threshold=1.0, cloud_max_new_tokens=32)
    outer = ConfidenceRouterLLM(edge=edge, cloud=inner, threshold=1.0, max_new_tokens=16)
    reply = outer.chat(QUESTION)
    assert routing(reply)["route"] == "cloud" and "Paris" in str(reply.message.content)
    assert routing(reply)["cloud_model"] == inner.metadata.model_name
    with pytest.raises(CapabilityError):
        ConfidenceRouterLLM(edge=inner, cloud=cloud)
