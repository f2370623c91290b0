"""The wire format: chat-completion request bodies (messages, options, tools, log-probs)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from confidence_router.generation import GenerationOptions
from confidence_router.messages import ChatMessage
from confidence_router.tools.choice import openai_tool_choice


def request_body(
    model: str,
    messages: Sequence[ChatMessage],
    options: GenerationOptions,
    tools: Sequence[dict[str, Any]] | None,
    *,
    sample: bool,
    logprobs: bool,
    top_logprobs: int,
) -> dict[str, Any]:
    """One request: greedy (temperature 0) or one sample. Log-probs (with at least one top
    alternative) are asked for when the server gives them (`logprobs`) and the options want
    log-probs or entropies."""
    body: dict[str, Any] = {
        "model": model,
        "messages": [m.to_openai() for m in messages],
        "max_tokens": options.max_new_tokens,
        "temperature": options.temperature if sample else 0.0,
    }
    if sample and options.top_p < 1.0:
        body["top_p"] = options.top_p
    if options.stop:
        body["stop"] = list(options.stop)
    if options.seed is not None:
        body["seed"] = options.seed
    if tools:
        body["tools"] = list(tools)
        choice = openai_tool_choice(options.tool_choice)
        if choice is not None:
            body["tool_choice"] = choice
    if options.response_format is not None:
        body["response_format"] = dict(options.response_format)
    wants_logprobs = options.logprobs or options.entropy
    if logprobs and wants_logprobs:
        body["logprobs"] = True
        body["top_logprobs"] = max(1, top_logprobs)
    return body


def streamed(body: dict[str, Any]) -> dict[str, Any]:
    """`body` as a streamed request with usage in the last chunk, without log-probs."""
    body.update(stream=True, stream_options={"include_usage": True})
    body.pop("logprobs", None)
    body.pop("top_logprobs", None)
    return body
