"""The LlamaIndex adapter's tool specs: the signature line LlamaIndex writes in front of a
function tool's docstring is dropped (the parameters schema carries it; the default 1.5B cloud
is thrown by it, issue 19); a description the user wrote is sent as written."""

from __future__ import annotations

from typing import Any

from llama_index.core.tools import FunctionTool
from pydantic import BaseModel

from llamaindex_confidence_router import ConfidenceRouterLLM

from .helpers import ScriptedBackend


def multiply(a: int, b: int) -> int:
    """Multiply two integers.

    Returns their product."""
    return a * b


def undocumented(city: str) -> str:
    return city


def varargs(a: int, *args: int, **kwargs: int) -> int:
    """Sum everything."""
    return a + sum(args) + sum(kwargs.values())


class OnlyA(BaseModel):
    a: int


def _llm(**settings: Any) -> ConfidenceRouterLLM:
    edge, cloud = ScriptedBackend([], name="e"), ScriptedBackend([], name="c")
    return ConfidenceRouterLLM(edge=edge, cloud=cloud, **settings)


def _descriptions(llm: ConfidenceRouterLLM, tools: list[FunctionTool]) -> list[str]:
    specs = llm._prepare_chat_with_tools(tools, user_msg="q")["tools"]
    return [spec["function"]["description"] for spec in specs]


def test_the_generated_signature_line_is_dropped() -> None:
    tool = FunctionTool.from_defaults(fn=multiply)
    assert tool.metadata.description.startswith("multiply(a: 'int', b: 'int') -> 'int'\n")
    assert _descriptions(_llm(), [tool]) == ["Multiply two integers.\n\n    Returns their product."]
    spec = _llm()._prepare_chat_with_tools([tool], user_msg="q")["tools"][0]["function"]
    assert spec["parameters"]["properties"]["a"]["type"] == "integer"


def test_the_line_is_dropped_when_the_schema_differs_from_the_signature() -> None:
    """LlamaIndex writes the line from the signature: `*args` / `**kwargs` are in it though
    not in the schema, and so are parameters an explicit `fn_schema` leaves out."""
    tools = [
        FunctionTool.from_defaults(fn=varargs),
        FunctionTool.from_defaults(fn=multiply, fn_schema=OnlyA),
    ]
    assert _descriptions(_llm(), tools) == [
        "Sum everything.",
        "Multiply two integers.\n\n    Returns their product.",
    ]


def test_user_descriptions_and_bare_signatures_are_sent_as_written() -> None:
    written = FunctionTool.from_defaults(fn=multiply, description="multiply(a, b)\nTimes.")
    named = FunctionTool.from_defaults(fn=multiply, name="times")
    bare = FunctionTool.from_defaults(fn=undocumented)
    assert _descriptions(_llm(), [written, named, bare]) == [
        "multiply(a, b)\nTimes.",
        "Multiply two integers.\n\n    Returns their product.",
        "undocumented(city: 'str') -> 'str'",
    ]


def test_tool_signatures_true_keeps_llamaindex_descriptions() -> None:
    tool = FunctionTool.from_defaults(fn=multiply)
    assert _descriptions(_llm(tool_signatures=True), [tool]) == [tool.metadata.description]
