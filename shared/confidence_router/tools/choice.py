"""`tool_choice` in the forms OpenAI and LangChain accept, reduced to what the router enforces."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from confidence_router.errors import InvalidInputError

REQUIRED = "required"
ToolChoice = str | bool | Mapping[str, Any] | None
_AUTO = ("auto",)
_NONE = ("none",)
_ANY = ("required", "any")


def normalize_tool_choice(
    choice: ToolChoice, tools: list[dict[str, Any]]
) -> tuple[list[dict[str, Any]], str | None]:
    """The tools to offer and what the answer must be: None (free), `"required"` (some tool
    call) or a tool's name (a call to that tool).

    Accepts `None`/`"auto"`, `"none"` (tools are withheld), `"required"`/`"any"`/`True`, a tool
    name, and `{"type": "function", "function": {"name": ...}}` or `{"name": ...}`. A named
    tool is the only one offered, so neither tier can call another; a required call with a
    single tool offered is a call to that tool.
    """
    if choice is None or choice is False or choice in _AUTO:
        return tools, None
    if choice in _NONE:
        return [], None
    if not tools:
        raise InvalidInputError(f"tool_choice={choice!r} needs tools to choose from")
    if choice is True or choice in _ANY:
        # with one tool, "some call" is "this call": servers can then constrain it (llama.cpp
        # applies a grammar to a named choice, not to "required")
        return tools, REQUIRED if len(tools) > 1 else tools[0]["function"]["name"]
    if isinstance(choice, Mapping):
        fn = choice.get("function")
        name = fn.get("name") if isinstance(fn, Mapping) else choice.get("name")
    else:
        name = choice
    if not isinstance(name, str):
        raise InvalidInputError(f"tool_choice: cannot read a tool name from {choice!r}")
    chosen = [t for t in tools if t["function"]["name"] == name]
    if not chosen:
        offered = ", ".join(t["function"]["name"] for t in tools)
        raise InvalidInputError(f"tool_choice names {name!r}, which is not offered ({offered})")
    return chosen, name


def openai_tool_choice(required: str | None) -> str | dict[str, Any] | None:
    """The OpenAI request field for a normalised choice."""
    if required is None:
        return None
    if required == REQUIRED:
        return REQUIRED
    return {"type": "function", "function": {"name": required}}
