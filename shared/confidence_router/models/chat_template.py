"""Hugging Face-style chat templates rendered with jinja2 alone: no tokenizer, no backend.

A model's chat template (a GGUF's `tokenizer.chat_template`, a tokenizer_config's
`chat_template`) turns a conversation into the prompt text. `ChatTemplate` renders it the way
`transformers`' `apply_chat_template` does: a sandboxed environment (`trim_blocks`,
`lstrip_blocks`, loop controls), `tojson` that keeps non-ASCII text and takes `indent` /
`separators` / `sort_keys`, and the `raise_exception` / `strftime_now` globals. Messages may be
`ChatMessage`s or OpenAI-style dicts; a tool call's `arguments` reach the template as a dict
(a JSON string, as the OpenAI wire form has it, is parsed first), so templates that
`tojson` them never double-encode.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import jinja2
import jinja2.meta
from jinja2.ext import Extension, loopcontrols
from jinja2.sandbox import ImmutableSandboxedEnvironment

from confidence_router.errors import InvalidInputError
from confidence_router.messages import ChatMessage


def _raise_exception(message: str) -> None:
    raise jinja2.exceptions.TemplateError(message)


def _tojson(
    value: Any,
    ensure_ascii: bool = False,
    indent: int | None = None,
    separators: tuple[str, str] | None = None,
    sort_keys: bool = False,
) -> str:
    # jinja's own `tojson` escapes HTML characters; chat templates expect plain JSON
    return json.dumps(
        value, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys
    )


def _strftime_now(fmt: str) -> str:
    return datetime.now().strftime(fmt)


class _GenerationBlock(Extension):
    """`{% generation %}...{% endgeneration %}` (assistant-mask markers): rendered as its body."""

    tags = {"generation"}  # noqa: RUF012 - jinja's Extension API

    def parse(self, parser: Any) -> Any:
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(("name:endgeneration",), drop_needle=True)
        return jinja2.nodes.CallBlock(self.call_method("_body"), [], [], body).set_lineno(lineno)

    def _body(self, caller: Any) -> str:
        return str(caller())


def _environment() -> ImmutableSandboxedEnvironment:
    env = ImmutableSandboxedEnvironment(
        trim_blocks=True, lstrip_blocks=True, extensions=[_GenerationBlock, loopcontrols]
    )
    env.filters["tojson"] = _tojson
    env.globals["raise_exception"] = _raise_exception
    env.globals["strftime_now"] = _strftime_now
    return env


def _arguments_as_dict(arguments: Any) -> Any:
    """A tool call's arguments as the template should see them: a JSON string parsed."""
    if isinstance(arguments, str):
        try:
            parsed = json.loads(arguments) if arguments.strip() else {}
        except json.JSONDecodeError:
            return arguments
        return parsed if isinstance(parsed, dict) else arguments
    return arguments


def _template_message(message: ChatMessage | Mapping[str, Any]) -> dict[str, Any]:
    """One message in the shape chat templates read (None values dropped, as transformers does)."""
    if isinstance(message, ChatMessage):
        return message.to_template()
    if not isinstance(message, Mapping):
        raise InvalidInputError(f"chat template: expected a message, got {type(message).__name__}")
    out = {key: value for key, value in message.items() if value is not None}
    calls = out.get("tool_calls")
    if calls:
        fixed = []
        for call in calls:
            call = dict(call)
            if isinstance(call.get("function"), Mapping):
                function = dict(call["function"])
                function["arguments"] = _arguments_as_dict(function.get("arguments", {}))
                call["function"] = function
            elif "arguments" in call:
                call["arguments"] = _arguments_as_dict(call["arguments"])
            fixed.append(call)
        out["tool_calls"] = fixed
    return out


class ChatTemplate:
    """A chat template with the special tokens it may print (`bos_token`, `eos_token`, ...).

    `render(messages, tools)` returns the prompt text; tokenize it with the model's own
    tokenizer, special tokens parsed and none added (the template writes them).
    """

    def __init__(self, template: str, *, bos_token: str = "", eos_token: str = "", **tokens: str):
        if not template.strip():
            raise InvalidInputError("chat template: the template is empty")
        env = _environment()
        try:
            self._template = env.from_string(template)
            variables = jinja2.meta.find_undeclared_variables(env.parse(template))
        except jinja2.exceptions.TemplateSyntaxError as exc:
            raise InvalidInputError(f"chat template does not parse: {exc}") from exc
        self.source = template
        self.tokens: dict[str, str] = {"bos_token": bos_token, "eos_token": eos_token, **tokens}
        self._supports_tools = "tools" in variables

    @property
    def supports_tools(self) -> bool:
        """Whether the template renders tool definitions (it reads a `tools` variable)."""
        return self._supports_tools

    def render(
        self,
        messages: Sequence[ChatMessage | Mapping[str, Any]],
        tools: Sequence[Mapping[str, Any]] | None = None,
        add_generation_prompt: bool = True,
        **variables: Any,
    ) -> str:
        """The prompt text of a conversation; `tools` only reach a template that reads them."""
        conversation = [_template_message(m) for m in messages]
        if not conversation:
            raise InvalidInputError("chat template: the conversation is empty")
        context: dict[str, Any] = {**self.tokens, **variables}
        try:
            return self._template.render(
                messages=conversation,
                tools=[dict(t) for t in tools] if tools else None,
                documents=None,
                add_generation_prompt=add_generation_prompt,
                **context,
            )
        except jinja2.exceptions.TemplateError as exc:
            raise InvalidInputError(f"chat template refused the conversation: {exc}") from exc

    def __repr__(self) -> str:
        return f"ChatTemplate({len(self.source)} chars, tools={self._supports_tools})"
