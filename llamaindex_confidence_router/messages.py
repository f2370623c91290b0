"""LlamaIndex chat messages to the core's OpenAI-style dicts, and routed answers back."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from llama_index.core.base.llms.types import (
    ChatMessage,
    ChatResponse,
    MessageRole,
    TextBlock,
    ThinkingBlock,
    ToolCallBlock,
)

from confidence_router import InvalidInputError, RoutedResponse
from confidence_router.messages import ChatMessage as CoreMessage
from llamaindex_confidence_router.content import MEDIA_BLOCKS, media_block, media_part

_ROLES = {
    MessageRole.SYSTEM: "system",
    MessageRole.DEVELOPER: "system",
    MessageRole.USER: "user",
    MessageRole.ASSISTANT: "assistant",
    MessageRole.CHATBOT: "assistant",
    MessageRole.MODEL: "assistant",
    MessageRole.TOOL: "tool",
    MessageRole.FUNCTION: "tool",
}


def _content(message: ChatMessage, where: str) -> str | list[dict[str, Any]]:
    """The message's text, or OpenAI content parts when it holds images, audio or documents."""
    texts: list[str] = []
    parts: list[dict[str, Any]] = []
    for block in message.blocks:
        if isinstance(block, TextBlock):
            texts.append(block.text)
            parts.append({"type": "text", "text": block.text})
        elif isinstance(block, MEDIA_BLOCKS):
            parts.append(media_part(block, where))
        elif not isinstance(block, (ToolCallBlock, ThinkingBlock)):
            raise InvalidInputError(
                f"{where}: {type(block).__name__} content is not supported (text, images, "
                "audio, documents and tool calls)"
            )
    return parts if any(p["type"] != "text" for p in parts) else "".join(texts)


def _text(message: ChatMessage, where: str) -> str:
    content = _content(message, where)
    if isinstance(content, str):
        return content
    return "".join(p["text"] for p in content if p["type"] == "text")


def _arguments(value: Any) -> dict[str, Any]:
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, str):
        try:
            parsed = json.loads(value or "{}")
        except json.JSONDecodeError:
            return {}
        return parsed if isinstance(parsed, dict) else {}
    return {}


def _tool_calls(message: ChatMessage) -> list[dict[str, Any]]:
    """Tool calls from `ToolCallBlock`s, else OpenAI-style `additional_kwargs["tool_calls"]`."""
    calls: list[dict[str, Any]] = []
    for i, block in enumerate(b for b in message.blocks if isinstance(b, ToolCallBlock)):
        calls.append(
            {
                "id": block.tool_call_id or f"call_{i}",
                "function": {"name": block.tool_name, "arguments": _arguments(block.tool_kwargs)},
            }
        )
    if calls:
        return calls
    for i, call in enumerate(message.additional_kwargs.get("tool_calls") or ()):
        data = call if isinstance(call, Mapping) else call.model_dump()
        fn = data.get("function") or {}
        calls.append(
            {
                "id": data.get("id") or f"call_{i}",
                "function": {
                    "name": fn.get("name", ""),
                    "arguments": _arguments(fn.get("arguments")),
                },
            }
        )
    return calls


def to_core_messages(messages: Sequence[ChatMessage]) -> list[dict[str, Any]]:
    """Convert LlamaIndex messages (system, user, assistant with tool calls, tool) to core dicts."""
    out: list[dict[str, Any]] = []
    for i, message in enumerate(messages):
        where = f"messages[{i}]"
        role = _ROLES.get(MessageRole(message.role))
        if role is None:  # pragma: no cover - every MessageRole is mapped
            raise InvalidInputError(f"{where}: unknown role {message.role!r}")
        if role == "tool":
            call_id = message.additional_kwargs.get("tool_call_id")
            out.append({"role": "tool", "content": _text(message, where), "tool_call_id": call_id})
        elif role == "assistant":
            text = _text(message, where)
            out.append({"role": "assistant", "content": text, "tool_calls": _tool_calls(message)})
        else:
            out.append({"role": role, "content": _content(message, where)})
    return out


def from_core_messages(messages: Sequence[CoreMessage]) -> list[ChatMessage]:
    """Core messages as LlamaIndex messages (for wrapping a LlamaIndex LLM as a tier)."""
    out: list[ChatMessage] = []
    for m in messages:
        blocks: list[Any] = [TextBlock(text=m.content)]
        if m.parts:
            converted = [
                TextBlock(text=p["text"]) if p.get("type") == "text" else media_block(p)
                for p in m.parts
            ]
            blocks = [b for b in converted if b is not None]
        blocks += [
            ToolCallBlock(tool_call_id=c.id, tool_name=c.name, tool_kwargs=c.arguments)
            for c in m.tool_calls
        ]
        extra = {"tool_call_id": m.tool_call_id} if m.role == "tool" else {}
        out.append(ChatMessage(role=MessageRole(m.role), blocks=blocks, additional_kwargs=extra))
    return out


def usage(response: RoutedResponse) -> dict[str, int]:
    """Token usage of every tier that ran, each counted once, in OpenAI's field names (what
    `TokenCountingHandler` reads from `raw["usage"]`)."""
    total = response.total_usage
    return {
        "prompt_tokens": total.input_tokens,
        "completion_tokens": total.output_tokens,
        "total_tokens": total.total_tokens,
    }


def _raw(response: RoutedResponse) -> dict[str, Any]:
    model = response.cloud_model if response.escalated else response.edge_model
    return {"routing": response.decision(), "usage": usage(response), "model": model}


def answer_message(response: RoutedResponse) -> ChatMessage:
    """The routed answer as an assistant message: text plus `ToolCallBlock`s."""
    blocks: list[Any] = [TextBlock(text=response.text)]
    blocks += [
        ToolCallBlock(tool_call_id=c.id, tool_name=c.name, tool_kwargs=c.arguments)
        for c in response.tool_calls
    ]
    return ChatMessage(role=MessageRole.ASSISTANT, blocks=blocks)


def to_chat_response(response: RoutedResponse, delta: str | None = None) -> ChatResponse:
    """A `ChatResponse` with the decision in `raw["routing"]` and `additional_kwargs["routing"]`."""
    raw = _raw(response)
    return ChatResponse(
        message=answer_message(response),
        raw=raw,
        delta=delta,
        additional_kwargs={"routing": raw["routing"], **raw["usage"]},
    )
