"""OpenAI's chat-completions wire format: the request the server accepts, the response and
stream chunks it returns, and errors in OpenAI's shape."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from confidence_router.routing.decision import RoutedResponse


class ChatRequest(BaseModel):
    """The fields the router acts on; others OpenAI clients send (temperature, user, ...) are
    accepted and ignored: the router decides how each tier generates."""

    model_config = ConfigDict(extra="allow")

    model: str | None = None
    messages: list[dict[str, Any]] = Field(min_length=1)
    tools: list[dict[str, Any]] | None = None
    tool_choice: str | dict[str, Any] | None = None
    response_format: dict[str, Any] | None = None
    stream: bool = False
    stream_options: dict[str, Any] | None = None
    max_tokens: int | None = Field(default=None, ge=1, le=32768)
    max_completion_tokens: int | None = Field(default=None, ge=1, le=32768)
    stop: str | list[str] | None = None
    n: int = Field(default=1, ge=1)
    threshold: float | None = Field(default=None, ge=0.0, le=1.0)  # an extra body field
    conversation_id: str | None = Field(default=None, max_length=256)  # sticky routing (extra)

    @property
    def token_cap(self) -> int | None:
        return self.max_completion_tokens or self.max_tokens

    @property
    def stop_list(self) -> list[str] | None:
        return [self.stop] if isinstance(self.stop, str) else self.stop

    @property
    def include_usage(self) -> bool:
        return bool((self.stream_options or {}).get("include_usage"))


def error_body(message: str, kind: str = "invalid_request_error", param: str | None = None,
               code: str | None = None) -> dict[str, Any]:  # fmt: skip
    """An error in OpenAI's shape."""
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}


def completion_id() -> str:
    return f"chatcmpl-{uuid.uuid4().hex}"


def _usage(response: RoutedResponse) -> dict[str, int]:
    total = response.total_usage
    return {
        "prompt_tokens": total.input_tokens,
        "completion_tokens": total.output_tokens,
        "total_tokens": total.total_tokens,
    }


def _finish(response: RoutedResponse) -> str:
    if response.tool_calls:
        return "tool_calls"
    return "length" if response.finish_reason == "length" else "stop"


def _message(response: RoutedResponse) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": response.text or None}
    if response.tool_calls:
        message["tool_calls"] = [call.to_openai() for call in response.tool_calls]
    return message


def completion(response: RoutedResponse, model: str, ident: str) -> dict[str, Any]:
    """A `chat.completion` object, with the routing decision under `routing`."""
    return {
        "id": ident,
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": _message(response),
                "finish_reason": _finish(response),
                "logprobs": None,
            }
        ],
        "usage": _usage(response),
        "routing": response.decision(),
    }


def chunk(ident: str, model: str, delta: dict[str, Any], finish: str | None = None,
          **extra: Any) -> str:  # fmt: skip
    """One server-sent event carrying a `chat.completion.chunk`."""
    body = {
        "id": ident,
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}],
        **extra,
    }
    return f"data: {json.dumps(body)}\n\n"


def closing_chunks(
    response: RoutedResponse, ident: str, model: str, include_usage: bool
) -> list[str]:
    """The events after the text: tool calls, the finish reason with the decision, usage."""
    events = []
    for index, call in enumerate(response.tool_calls):
        events.append(chunk(ident, model, {"tool_calls": [{"index": index, **call.to_openai()}]}))
    events.append(chunk(ident, model, {}, _finish(response), routing=response.decision()))
    if include_usage:
        body = {
            "id": ident,
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": model,
            "choices": [],
            "usage": _usage(response),
        }
        events.append(f"data: {json.dumps(body)}\n\n")
    events.append("data: [DONE]\n\n")
    return events


def decision_headers(response: RoutedResponse) -> dict[str, str]:
    """The decision in response headers (for clients that cannot read the body's extras)."""
    headers = {"x-routing-route": response.route, "x-routing-reason": response.reason.value}
    if response.confidence is not None:
        headers["x-routing-confidence"] = f"{response.confidence:.6f}"
    if response.degraded:
        headers["x-routing-degraded"] = response.degraded_reason or "true"
    return headers
