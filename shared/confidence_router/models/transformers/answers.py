"""One decoded row as an `Answer`: cut at the end token or a stop string, tool calls parsed."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from confidence_router.generation import Answer
from confidence_router.messages import ToolCall
from confidence_router.tools.parsing import answer_focus, parse_tool_calls, tool_names


def assemble_answer(
    tokenizer: Any,
    end_ids: Sequence[int],
    tokens: torch.Tensor,
    logprobs: torch.Tensor,
    entropies: torch.Tensor | None,
    tools: Sequence[dict[str, Any]] | None,
    stop: Sequence[str] = (),
    cut: str = "length",
) -> Answer:
    """One row as an answer; `cut` is the finish reason when no end token was produced. Tool
    calls are parsed when `tools` is given (None when the chat template cannot offer them)."""
    ids = tokens.tolist()
    length, finish = len(ids), cut
    for i, tok in enumerate(ids):
        if tok in end_ids:
            length, finish = i, "stop"
            break
    raw = tokenizer.decode(ids[:length], skip_special_tokens=True)
    at = min((raw.find(s) for s in stop if s in raw), default=-1)
    if at >= 0:
        raw, finish = raw[:at], "stop"
    text = raw.strip()
    calls: tuple[ToolCall, ...] = ()
    focus: tuple[bool, ...] = ()
    if tools:
        text, calls = parse_tool_calls(text, tool_names(tools))
        if calls:
            finish = "tool_calls"
    if calls or "Action:" in raw:  # a tool call or a ReAct step: scored on its action
        ends = [
            len(tokenizer.decode(ids[: i + 1], skip_special_tokens=True)) for i in range(length)
        ]
        focus = answer_focus(raw, ends, calls)
    return Answer(
        text=text,
        token_ids=tuple(ids[:length]),
        token_logprobs=tuple(logprobs[:length].tolist()),
        token_entropies=tuple(entropies[:length].tolist()) if entropies is not None else (),
        tool_calls=calls,
        finish_reason=finish,
        focus=focus,
    )
