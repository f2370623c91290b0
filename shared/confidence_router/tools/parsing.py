"""Tool calls out of model text.

Two shapes are recognised: Hermes/Qwen `<tool_call>{json}</tool_call>` blocks, and JSON objects
`{"name": ..., "arguments": {...}}` alone in the answer (one, an array of them, or several one
after another as Qwen writes parallel calls, without the tags), bare or in a fenced block, whose
names are offered tools (Qwen2.5-Coder answers tool requests that way; llama.cpp servers pass it
through as plain content). When the prose holds several fenced calls (a whole tool loop written
at once, the later calls on made-up results) only the first counts. Anything else stays
content.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Collection
from typing import Any

from confidence_router.messages import ToolCall

_BLOCK = re.compile(r"<tool_call>\s*(.*?)\s*(?:</tool_call>|$)", re.DOTALL)
_FENCED = re.compile(r"^\s*```(?:json)?\s*(.*?)\s*```\s*$", re.DOTALL)
_FENCED_ANYWHERE = re.compile(r"```(?:json)?\s*(\{.*?\})\s*```", re.DOTALL)


def _as_call(obj: Any, names: Collection[str] | None) -> ToolCall | None:
    if not isinstance(obj, dict) or not isinstance(obj.get("name"), str):
        return None
    if names is not None and obj["name"] not in names:
        return None
    args = obj.get("arguments", obj.get("parameters", {}))
    if isinstance(args, str):
        try:
            args = json.loads(args)
        except json.JSONDecodeError:
            return None
    if not isinstance(args, dict):
        return None
    return ToolCall(id=f"call_{uuid.uuid4().hex[:24]}", name=obj["name"], arguments=args)


def _loads(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return None


def _json_values(text: str) -> list[Any]:
    """The JSON values `text` consists of, one after another (whitespace between them); an
    array counts as its items. Empty when anything else is in the text."""
    decoder = json.JSONDecoder()
    values: list[Any] = []
    at, end = 0, len(text)
    while True:
        while at < end and text[at].isspace():
            at += 1
        if at == end:
            return values
        try:
            value, at = decoder.raw_decode(text, at)
        except json.JSONDecodeError:
            return []
        values += value if isinstance(value, list) else [value]


def parse_tool_calls(
    text: str, tool_names: Collection[str] | None = None
) -> tuple[str, tuple[ToolCall, ...]]:
    """Split model text into (remaining content, tool calls).

    `tool_names` limits calls to the offered tools (and is required for the bare-JSON shape).
    """
    calls: list[ToolCall] = []
    kept: list[str] = []
    last = 0
    for match in _BLOCK.finditer(text):
        call = _as_call(_loads(match.group(1)), tool_names)
        if call is None:
            continue
        calls.append(call)
        kept.append(text[last : match.start()])
        last = match.end()
    if calls:
        kept.append(text[last:])
        return "".join(kept).strip(), tuple(calls)
    if tool_names:
        fenced = _FENCED.match(text)
        body = fenced.group(1) if fenced else text.strip()
        items = _json_values(body)
        found = [_as_call(item, tool_names) for item in items]
        if items and all(call is not None for call in found):
            return "", tuple(call for call in found if call is not None)
        blocks = list(_FENCED_ANYWHERE.finditer(text))
        if len(blocks) == 1:  # prose around one fenced call: keep the prose as content
            call = _as_call(_loads(blocks[0].group(1)), tool_names)
            if call is not None:
                block = blocks[0]
                return (text[: block.start()] + text[block.end() :]).strip(), (call,)
        # Several fenced calls in prose: the model wrote a whole tool loop at once, later calls
        # built on results it made up. Only the first call and the prose before it count; the
        # loop asks for the rest once the first call's result is in.
        several = blocks if len(blocks) > 1 else []
        for block in several:
            call = _as_call(_loads(block.group(1)), tool_names)
            if call is not None:
                return text[: block.start()].strip(), (call,)
    return text, ()


_ATTEMPT = re.compile(
    r'\A\s*(?:```(?:json)?\s*)?(?:<tool_call>|\[?\s*\{\s*"name"\s*:\s*"(?P<name>[^"]*)")'
)


def attempted_tool_call(text: str, tool_names: Collection[str]) -> bool:
    """Whether unparsed model text begins as a tool call would (a `<tool_call>` tag, or a JSON
    object naming an offered tool): a call attempt that is not one (cut off by the token limit,
    broken JSON), not an answer."""
    match = _ATTEMPT.match(text)
    return match is not None and (match.group("name") is None or match["name"] in tool_names)


def tool_names(tools: Collection[dict[str, Any]] | None) -> frozenset[str]:
    """The names of OpenAI-style tool definitions."""
    return frozenset(t["function"]["name"] for t in tools or ())


def tool_call_spans(text: str, calls: Collection[ToolCall]) -> list[tuple[int, int]]:
    """Character spans of each call's tool name and argument values in the raw model text."""
    spans: list[tuple[int, int]] = []
    cursor = 0
    for call in calls:
        at = text.find(call.name, cursor)
        if at < 0:
            continue
        spans.append((at, at + len(call.name)))
        cursor = at + len(call.name)
        for value in call.arguments.values():
            needle = value if isinstance(value, str) else json.dumps(value)
            found = text.find(needle, cursor)
            if found >= 0 and needle:
                spans.append((found, found + len(needle)))
                cursor = found + len(needle)
    return spans


_REACT_ACTION = re.compile(r"^[ \t]*Action:[ \t]*(?P<name>\S[^\n]*?)[ \t]*$", re.MULTILINE)
_REACT_INPUT = re.compile(
    r"^[ \t]*Action Input:[ \t]*(?P<value>\S.*?)[ \t]*$", re.MULTILINE | re.DOTALL
)


def react_spans(text: str) -> list[tuple[int, int]]:
    """Character spans of a ReAct step's action (`Action: <tool>`) and its input's values
    (`Action Input: {...}`: each JSON value, or the whole input when it is not JSON): the part
    of the step that decides what runs, as `tool_call_spans` is for a structured call. Empty
    when the text is not a ReAct action step."""
    action = _REACT_ACTION.search(text)
    if action is None:
        return []
    spans = [action.span("name")]
    given = _REACT_INPUT.search(text, action.end())
    if given is None:
        return spans
    value, start = given.group("value"), given.start("value")
    parsed = _loads(value)
    if not isinstance(parsed, dict) or not parsed:
        return [*spans, (start, start + len(value))]
    cursor = start
    for item in parsed.values():
        needle = item if isinstance(item, str) else json.dumps(item)
        found = text.find(needle, cursor) if needle else -1
        if found >= 0:
            spans.append((found, found + len(needle)))
            cursor = found + len(needle)
    return spans


def answer_focus(
    raw: str, token_ends: Collection[int], calls: Collection[ToolCall]
) -> tuple[bool, ...]:
    """The focus mask of an answer (see `Answer.focus`): a structured call's name and argument
    values, else a ReAct step's action and input; empty when neither."""
    spans = tool_call_spans(raw, calls) if calls else react_spans(raw)
    return focus_mask(token_ends, spans) if spans else ()


def focus_mask(token_ends: Collection[int], spans: Collection[tuple[int, int]]) -> tuple[bool, ...]:
    """Which tokens (given each token's end offset in the text) overlap any of the spans."""
    mask: list[bool] = []
    start = 0
    for end in token_ends:
        mask.append(any(start < s_end and s_start < end for s_start, s_end in spans))
        start = end
    return tuple(mask)
