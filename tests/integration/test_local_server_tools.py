"""The local cloud server's chat handler: real `tool_calls` over the wire, plain and streamed,
and tool-call turns rendered as the model's template expects (the raw openai client, no parsing
of ours on the client side)."""

from __future__ import annotations

import json

import openai

from confidence_router.server import LlamaCppServer
from tests.tools import WEATHER


def client(server: LlamaCppServer) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.base_url, api_key="none", max_retries=0, timeout=120)


def test_tool_calls_come_back_as_tool_calls(cloud_server: LlamaCppServer) -> None:
    reply = client(cloud_server).chat.completions.create(
        model=cloud_server.model_alias,
        messages=[{"role": "user", "content": "What's the weather in Paris?"}],
        tools=WEATHER,  # type: ignore[arg-type]
        temperature=0,
        max_tokens=64,
    )
    choice = reply.choices[0]
    assert choice.finish_reason == "tool_calls" and choice.message.tool_calls
    call = choice.message.tool_calls[0]
    assert call.function.name == "get_weather"  # type: ignore[union-attr]
    assert json.loads(call.function.arguments)["city"].lower().startswith("paris")  # type: ignore[union-attr]
    assert not choice.message.content or "get_weather" not in choice.message.content


def test_streamed_tool_calls_arrive_as_deltas(cloud_server: LlamaCppServer) -> None:
    chunks = list(
        client(cloud_server).chat.completions.create(
            model=cloud_server.model_alias,
            messages=[{"role": "user", "content": "What's the weather in Oslo?"}],
            tools=WEATHER,  # type: ignore[arg-type]
            temperature=0,
            max_tokens=64,
            stream=True,
        )
    )
    calls = [c for chunk in chunks for c in (chunk.choices[0].delta.tool_calls or [])]
    assert calls and calls[0].function.name == "get_weather"  # type: ignore[union-attr]
    assert chunks[-1].choices[0].finish_reason == "tool_calls"


def test_a_tool_result_turn_leads_to_a_final_answer(cloud_server: LlamaCppServer) -> None:
    arguments = json.dumps({"city": "Paris"})
    reply = client(cloud_server).chat.completions.create(
        model=cloud_server.model_alias,
        messages=[
            {"role": "user", "content": "What's the weather in Paris?"},
            {
                "role": "assistant",
                "content": "",  # llama-cpp-python's server refuses None here
                "tool_calls": [
                    {
                        "id": "c1",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": arguments},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "c1", "content": "Sunny, 31 degrees Celsius."},
        ],
        tools=WEATHER,  # type: ignore[arg-type]
        temperature=0,
        max_tokens=48,
    )
    message = reply.choices[0].message
    assert not message.tool_calls and message.content and "31" in message.content
