"""Chat-completion responses as `Answer`s, and one call's responses as a `Generation`."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from confidence_router.errors import BackendError
from confidence_router.generation import Answer, Generation, Usage
from confidence_router.messages import ToolCall
from confidence_router.models.openai.logprobs import parse_logprobs
from confidence_router.tools.parsing import parse_tool_calls, tool_names


def parse_response(
    response: Any,
    tools: Sequence[dict[str, Any]] | None,
    *,
    parse_text_tool_calls: bool,
    tier: str,
    model: str,
) -> tuple[Answer, Usage]:
    """The first choice as an answer (tool calls from the message, else from its text when
    `parse_text_tool_calls`), and the response's token usage."""
    if not getattr(response, "choices", None):
        raise BackendError(f"{tier} model {model!r}: response has no choices", tier=tier)
    choice = response.choices[0]
    message = choice.message
    text = message.content or ""
    calls: tuple[ToolCall, ...] = tuple(
        ToolCall(
            id=call.id or f"call_{i}",
            name=call.function.name,
            arguments=json.loads(call.function.arguments or "{}"),
        )
        for i, call in enumerate(message.tool_calls or ())
    )
    if tools and not calls and parse_text_tool_calls:
        text, calls = parse_tool_calls(text, tool_names(tools))
    logprobs, entropies = parse_logprobs(choice.logprobs)
    usage = response.usage
    finish = "tool_calls" if calls else (choice.finish_reason or "stop")
    answer = Answer(
        text=text.strip(),
        token_logprobs=logprobs,
        token_entropies=entropies,
        tool_calls=calls,
        finish_reason=finish,
    )
    counted = Usage(
        input_tokens=int(getattr(usage, "prompt_tokens", 0) or 0),
        output_tokens=int(getattr(usage, "completion_tokens", 0) or 0),
    )
    return answer, counted


def collect(
    responses: Sequence[Any],
    tools: Sequence[dict[str, Any]] | None,
    *,
    samples_only: bool,
    parse_text_tool_calls: bool,
    tier: str,
    model: str,
) -> Generation:
    """The greedy answer (an empty one when `samples_only`) and the samples, in order; a
    malformed response is a `BackendError`."""
    try:
        parsed = [
            parse_response(
                r, tools, parse_text_tool_calls=parse_text_tool_calls, tier=tier, model=model
            )
            for r in responses
        ]
    except (AttributeError, TypeError, ValueError) as exc:  # JSONDecodeError is a ValueError
        raise BackendError(
            f"{tier} model {model!r}: malformed response ({type(exc).__name__})", tier=tier
        ) from exc
    usage = Usage(  # every request sent the prompt: each one's prompt tokens count
        input_tokens=sum(u.input_tokens for _, u in parsed),
        output_tokens=sum(u.output_tokens for _, u in parsed),
    )
    answers = [a for a, _ in parsed]
    if samples_only:
        answers.insert(0, Answer(text=""))
    return Generation(greedy=answers[0], samples=tuple(answers[1:]), usage=usage, model=model)
