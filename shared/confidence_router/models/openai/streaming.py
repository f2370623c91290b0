"""Assembling a streamed chat completion: text deltas out, one `Generation` at the end."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from confidence_router.generation import Answer, Generation, Usage
from confidence_router.messages import ToolCall
from confidence_router.tools.parsing import parse_tool_calls, tool_names

_TOOL_TEXT_STARTS = ("```", "{", "[", "<tool_call>")


def _could_be_tool_text(text: str) -> bool:
    head = text.lstrip()
    return not head or any(
        head.startswith(start) or start.startswith(head) for start in _TOOL_TEXT_STARTS
    )


class StreamAssembler:
    """Feeds on stream chunks and says which text may be shown now.

    With tools offered and text tool-call parsing on, text that may still turn out to be a tool
    call written as JSON is held back until it clearly is not (or the stream ends).
    """

    def __init__(self, model: str, tools: Sequence[dict[str, Any]] | None, parse_text: bool):
        self.model = model
        self.tools = tools
        self.hold = bool(tools) and parse_text
        self.text = ""
        self.shown = 0
        self.finish_reason = "stop"
        self.calls: dict[int, dict[str, Any]] = {}
        self.usage = Usage()

    def feed(self, chunk: Any) -> str:
        """The text to emit for this chunk (may be empty)."""
        usage = getattr(chunk, "usage", None)
        if usage is not None:
            self.usage = Usage(
                input_tokens=int(usage.prompt_tokens or 0),
                output_tokens=int(usage.completion_tokens or 0),
            )
        for choice in getattr(chunk, "choices", None) or ():
            delta = choice.delta
            if choice.finish_reason:
                self.finish_reason = choice.finish_reason
            if delta is None:
                continue
            self.text += delta.content or ""
            for call in delta.tool_calls or ():
                slot = self.calls.setdefault(call.index, {"id": "", "name": "", "arguments": ""})
                slot["id"] = call.id or slot["id"]
                if call.function is not None:
                    slot["name"] = _merge_name(slot["name"], call.function.name or "")
                    slot["arguments"] += call.function.arguments or ""
        if self.hold and _could_be_tool_text(self.text):
            return ""
        self.hold = False
        out, self.shown = self.text[self.shown :], len(self.text)
        return out

    def finish(self) -> tuple[str, Generation]:
        """(text still to emit, the assembled generation)."""
        text = self.text
        calls = tuple(
            ToolCall(
                id=slot["id"] or f"call_{i}",
                name=slot["name"],
                arguments=json.loads(slot["arguments"] or "{}"),
            )
            for i, slot in sorted(self.calls.items())
        )
        if self.tools and not calls and self.shown == 0:
            text, calls = parse_tool_calls(text, tool_names(self.tools))
        rest = "" if calls and self.shown == 0 else text[self.shown :]
        answer = Answer(
            text=text.strip(),
            tool_calls=calls,
            finish_reason="tool_calls" if calls else self.finish_reason,
        )
        return rest, Generation(greedy=answer, usage=self.usage, model=self.model)


def _merge_name(current: str, delta: str) -> str:
    """Tool names arrive whole in the first delta (OpenAI) or repeated in every delta (llama.cpp
    with a named `tool_choice`); a repeat is not appended."""
    if not current or delta.startswith(current):
        return delta or current
    return current if current.endswith(delta) else current + delta
