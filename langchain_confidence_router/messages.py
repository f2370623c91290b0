"""LangChain messages and tools to the core's OpenAI-style dicts, and routed answers back."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    BaseMessage,
    ChatMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
    convert_to_openai_messages,
)
from langchain_core.messages.ai import UsageMetadata

from confidence_router import InvalidInputError, RoutedResponse, ToolCall
from confidence_router.generation import Usage

_ROLES = {
    "system": "system",
    "human": "user",
    "user": "user",
    "ai": "assistant",
    "assistant": "assistant",
    "tool": "tool",
    "developer": "system",
}


def to_core_messages(messages: Sequence[BaseMessage]) -> list[dict[str, Any]]:
    """Convert LangChain messages (system, human, AI with tool calls, tool) to core dicts."""
    out: list[dict[str, Any]] = []
    for i, message in enumerate(messages):
        if isinstance(message, ToolMessage):
            out.append(
                {"role": "tool", "content": message.text, "tool_call_id": message.tool_call_id}
            )
        elif isinstance(message, AIMessage):
            calls = [
                {
                    "id": call.get("id") or f"call_{j}",
                    "function": {"name": call["name"], "arguments": call.get("args", {})},
                }
                for j, call in enumerate(message.tool_calls)
            ]
            out.append({"role": "assistant", "content": message.text, "tool_calls": calls})
        elif isinstance(message, (SystemMessage, HumanMessage, ChatMessage)):
            role = message.role if isinstance(message, ChatMessage) else message.type
            if role not in _ROLES:
                raise InvalidInputError(
                    f"messages[{i}]: unknown role {role!r}; allowed: {', '.join(sorted(_ROLES))}"
                )
            out.append({"role": _ROLES[role], "content": _content(message)})
        else:
            raise InvalidInputError(
                f"messages[{i}]: unsupported message type {type(message).__name__}"
            )
    return out


def _content(message: BaseMessage) -> str | list[dict[str, Any]]:
    """The message's text, or its OpenAI content parts when it has more than text (an image,
    audio, a file: LangChain's standard or OpenAI-style blocks), so nothing is dropped."""
    blocks = message.content
    if isinstance(blocks, str) or all(
        isinstance(b, str) or (isinstance(b, dict) and b.get("type") == "text") for b in blocks
    ):
        return message.text
    converted = convert_to_openai_messages([message])
    parts = converted[0]["content"] if converted else []
    return parts if isinstance(parts, list) else message.text


def usage_metadata(response: RoutedResponse) -> UsageMetadata:
    """Token usage of the tier that answered (the message's `model_name`). An escalated
    request's edge tokens are reported on their own, under the edge's model name
    (`report_edge_usage`), so trackers that price by model name price each tier right; every
    tier's figures are also in `response_metadata["routing"]["usage"]`."""
    usage = response.usage.get(response.route, Usage())
    return UsageMetadata(
        input_tokens=usage.input_tokens,
        output_tokens=usage.output_tokens,
        total_tokens=usage.total_tokens,
    )


def response_metadata(response: RoutedResponse) -> dict[str, Any]:
    model = response.cloud_model if response.escalated else response.edge_model
    return {
        "routing": response.decision(),
        "model_name": model,
        "finish_reason": response.finish_reason,
        "model_provider": "confidence-router",
    }


def _lc_tool_call(call: ToolCall) -> dict[str, Any]:
    return {"name": call.name, "args": call.arguments, "id": call.id, "type": "tool_call"}


def to_ai_message(response: RoutedResponse) -> AIMessage:
    """A routed answer as an `AIMessage` with the decision in `response_metadata["routing"]`."""
    return AIMessage(
        content=response.text,
        tool_calls=[_lc_tool_call(c) for c in response.tool_calls],  # type: ignore[misc]
        response_metadata=response_metadata(response),
        usage_metadata=usage_metadata(response),
    )


def final_chunk(response: RoutedResponse) -> AIMessageChunk:
    """The closing stream chunk: tool calls, routing decision and usage, no new text."""
    return AIMessageChunk(
        content="",
        tool_call_chunks=[
            {
                "name": c.name,
                "args": json.dumps(c.arguments),
                "id": c.id,
                "index": i,
                "type": "tool_call_chunk",
            }
            for i, c in enumerate(response.tool_calls)
        ],
        response_metadata=response_metadata(response),
        usage_metadata=usage_metadata(response),
        chunk_position="last",
    )
