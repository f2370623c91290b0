"""The local server's chat handler's pure parts: tool calls out of the answer text, and a
finished response as OpenAI stream chunks."""

from __future__ import annotations

import json

from confidence_router.local_chat_handler import _as_stream, _offered, _with_tool_calls

TOOLS = [{"type": "function", "function": {"name": "get_weather", "parameters": {}}}]


def response(content: str) -> dict:  # type: ignore[type-arg]
    return {
        "id": "x",
        "created": 1,
        "model": "m",
        "choices": [
            {"message": {"role": "assistant", "content": content}, "finish_reason": "stop"}
        ],
    }


def test_a_tool_call_in_the_text_becomes_tool_calls() -> None:
    text = '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>'
    out = _with_tool_calls(response(text), _offered(TOOLS, None))
    choice = out["choices"][0]
    assert choice["finish_reason"] == "tool_calls" and choice["message"]["content"] is None
    call = choice["message"]["tool_calls"][0]
    assert call["function"]["name"] == "get_weather"
    assert json.loads(call["function"]["arguments"]) == {"city": "Paris"}


def test_prose_and_tool_choice_none_stay_text() -> None:
    assert (
        "tool_calls"
        not in _with_tool_calls(response("It is sunny."), ["get_weather"])["choices"][0]["message"]
    )
    assert _offered(TOOLS, "none") == [] and _offered(None, None) == []


def test_a_response_as_stream_chunks() -> None:
    text = '{"name": "get_weather", "arguments": {"city": "Oslo"}}'
    chunks = list(_as_stream(_with_tool_calls(response(text), ["get_weather"])))
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant"}
    delta = chunks[1]["choices"][0]["delta"]["tool_calls"][0]
    assert delta["index"] == 0 and delta["function"]["name"] == "get_weather"
    assert chunks[-1]["choices"][0]["finish_reason"] == "tool_calls"
    plain = list(_as_stream(response("Hello")))
    assert [c["choices"][0]["delta"].get("content") for c in plain[1:2]] == ["Hello"]
    assert plain[-1]["choices"][0]["finish_reason"] == "stop"
