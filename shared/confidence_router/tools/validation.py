"""Checking an edge tool call against the offered tools' JSON schemas (the common subset)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from confidence_router.messages import ChatMessage, ToolCall

_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "array": (list,),
    "object": (dict,),
    "null": (type(None),),
}


def _type_ok(value: Any, schema: dict[str, Any]) -> bool:
    expected = schema.get("type")
    if expected is None:
        return True
    names = expected if isinstance(expected, list) else [expected]
    for name in names:
        kinds = _TYPES.get(name)
        if kinds is None:
            return True  # a type we do not know: do not reject
        if isinstance(value, bool) and name in ("integer", "number"):
            continue
        if isinstance(value, kinds):
            return True
    return False


def tool_call_problem(call: ToolCall, tools: Sequence[dict[str, Any]]) -> str | None:
    """Why `call` does not fit the offered tools, or None when it does.

    Checks the tool name, required arguments, unknown arguments (when the schema forbids them),
    argument types and enums: enough to catch a small model's malformed calls.
    """
    schemas = {t["function"]["name"]: t["function"].get("parameters") or {} for t in tools}
    if call.name not in schemas:
        return f"unknown tool {call.name!r}"
    schema = schemas[call.name]
    properties: dict[str, Any] = schema.get("properties") or {}
    missing = [name for name in schema.get("required") or () if name not in call.arguments]
    if missing:
        return f"{call.name}: missing required argument(s) {', '.join(missing)}"
    for name, value in call.arguments.items():
        prop = properties.get(name)
        if prop is None:
            if schema.get("additionalProperties") is False:
                return f"{call.name}: unexpected argument {name!r}"
            continue
        if not _type_ok(value, prop):
            return f"{call.name}: argument {name!r} should be {prop.get('type')}"
        if "enum" in prop and value not in prop["enum"]:
            return f"{call.name}: argument {name!r} must be one of {prop['enum']}"
    return None


def repeats_an_answered_call(calls: Sequence[ToolCall], messages: Sequence[ChatMessage]) -> bool:
    """Whether one of `calls` repeats (same tool, same arguments) a call the conversation
    already made and got a result for: a small model stuck in a tool loop."""
    answered = {m.tool_call_id for m in messages if m.role == "tool" and m.tool_call_id}
    earlier = {
        (c.name, _canonical(c.arguments))
        for m in messages
        if m.role == "assistant"
        for c in m.tool_calls
        if c.id in answered
    }
    return any((c.name, _canonical(c.arguments)) in earlier for c in calls)


def _canonical(arguments: dict[str, Any]) -> str:
    return json.dumps(arguments, sort_keys=True, default=str)
