"""`response_format` (OpenAI's structured output): what the edge is asked, and whether its
answer fits.

The cloud gets `response_format` as is (an OpenAI-compatible server enforces it; llama.cpp's with
a grammar). An edge that cannot enforce it (`Capabilities.structured_output` off: the in-process
backends) gets the schema as an instruction, and an answer that is not a JSON object fitting the
schema's common subset (required keys, types, enums) escalates (`invalid_output`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from confidence_router.errors import InvalidInputError
from confidence_router.messages import ChatMessage, ToolCall
from confidence_router.tools.validation import tool_call_problem

_FENCE = re.compile(r"^\s*```(?:json)?\s*(.*?)\s*```\s*$", re.DOTALL)


def check_response_format(value: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """`{"type": "json_object"}` or `{"type": "json_schema", "json_schema": {"schema": ...}}`
    (`{"type": "text"}` is no constraint: None)."""
    if value is None:
        return None
    kind = value.get("type")
    if kind == "text":
        return None
    if kind == "json_object":
        return {"type": "json_object"}
    spec = value.get("json_schema")
    schema = spec.get("schema") if isinstance(spec, Mapping) else None
    if kind == "json_schema" and isinstance(spec, Mapping) and isinstance(schema, Mapping):
        return {"type": "json_schema", "json_schema": dict(spec)}
    raise InvalidInputError(
        "response_format: expected {'type': 'json_object'} or {'type': 'json_schema', "
        "'json_schema': {'name': ..., 'schema': {...}}}"
    )


def schema_of(response_format: Mapping[str, Any]) -> dict[str, Any] | None:
    spec = response_format.get("json_schema")
    return dict(spec["schema"]) if isinstance(spec, Mapping) else None


def instruction(response_format: Mapping[str, Any]) -> ChatMessage:
    """The system message that asks an edge for the structured answer."""
    schema = schema_of(response_format)
    text = "Answer with one JSON object and nothing else."
    if schema is not None:
        text += f" It must match this JSON schema: {json.dumps(schema)}"
    return ChatMessage(role="system", content=text)


def with_instruction(
    messages: list[ChatMessage], response_format: Mapping[str, Any]
) -> list[ChatMessage]:
    """The conversation with the instruction after its leading system messages."""
    at = 0
    while at < len(messages) and messages[at].role == "system":
        at += 1
    return [*messages[:at], instruction(response_format), *messages[at:]]


def parsed_object(text: str) -> dict[str, Any] | None:
    """The answer as a JSON object (a fenced block allowed), or None."""
    fenced = _FENCE.match(text)
    body = fenced.group(1) if fenced else text.strip()
    try:
        value = json.loads(body)
    except json.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


def output_problem(text: str, response_format: Mapping[str, Any]) -> str | None:
    """Why an answer does not fit `response_format`, or None when it does."""
    value = parsed_object(text)
    if value is None:
        return "the answer is not a JSON object"
    schema = schema_of(response_format)
    if schema is None:
        return None
    tool = {"type": "function", "function": {"name": "response", "parameters": schema}}
    return tool_call_problem(ToolCall(id="response", name="response", arguments=value), [tool])
