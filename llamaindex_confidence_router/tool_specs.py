"""LlamaIndex tools as OpenAI tool specs, without the signature line LlamaIndex writes in front.

`FunctionTool.from_defaults` describes a function as `name(signature)\\ndocstring`; the spec's
`parameters` schema already carries the names and types, and with `from __future__ import
annotations` the line reads `multiply(a: 'int', b: 'int') -> 'int'`. Measured on the default
1.5B cloud (issue 19), that line sends a two-step FunctionAgent into repeated calls; with the
docstring alone (what LangChain sends) it finishes. So the line is dropped when it is exactly
the one LlamaIndex generated for the tool's function and a docstring follows; a description
the user wrote is sent as written (unless it begins with that very line).
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, get_origin

from llama_index.core.workflow import Context
from pydantic.fields import FieldInfo

if TYPE_CHECKING:
    from llama_index.core.tools.types import BaseTool


def _is_context(annotation: Any) -> bool:
    return annotation == Context or get_origin(annotation) is Context


def _generated_line(tool: BaseTool) -> str | None:
    """The `name(signature)` line `FunctionTool.from_defaults` would write for the tool's
    function: context, `self` and partial parameters left out, `Field` defaults dropped, as
    it does (None for a tool without a function)."""
    fn = getattr(tool, "real_fn", None)
    if fn is None:
        return None
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError):
        return None
    partial = getattr(tool, "partial_params", None) or {}
    params = [
        p.replace(default=inspect.Parameter.empty) if isinstance(p.default, FieldInfo) else p
        for p in signature.parameters.values()
        if not _is_context(p.annotation) and p.name != "self" and p.name not in partial
    ]
    return f"{tool.metadata.name}{signature.replace(parameters=params)}"


def description(tool: BaseTool) -> str:
    """The tool's description, less LlamaIndex's generated signature line (see the module)."""
    text = tool.metadata.description
    line = _generated_line(tool)
    if line is not None and text.startswith(line + "\n"):
        rest = text[len(line) + 1 :].strip()
        if rest:
            return rest
    return text


def openai_tool_specs(tools: Sequence[BaseTool], *, signatures: bool) -> list[dict[str, Any]]:
    """OpenAI-style specs of LlamaIndex tools; `signatures=True` keeps the descriptions as is."""
    specs = []
    for tool in tools:
        spec = tool.metadata.to_openai_tool(skip_length_check=True)
        if not signatures:
            spec["function"]["description"] = description(tool)
        specs.append(spec)
    return specs
