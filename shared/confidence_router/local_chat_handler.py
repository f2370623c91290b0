"""The local cloud server's chat handler: the model's own chat template, real tool calls.

llama-cpp-python's server renders the GGUF's template with tool-call arguments double-encoded
(`"arguments": "{\\"city\\": ...}"`) and returns a model's tool call as JSON text in `content`.
This handler, registered under `HANDLER` by `local_server_main`, renders conversations with the
project's `ChatTemplate` (the renderer the in-process llama.cpp edge uses: arguments reach the
template as objects) and parses the answer with the same tool-call parser as the in-process
backends, so the OpenAI response carries `tool_calls` (streamed too). Generation, sampling,
log-probs and named `tool_choice` grammars are llama-cpp-python's own.
"""

from __future__ import annotations

import time
import uuid
import weakref
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from llama_cpp import llama_chat_format

from confidence_router.models.chat_template import ChatTemplate
from confidence_router.tools.parsing import parse_tool_calls, tool_names

HANDLER = "confidence-router"
_templates: weakref.WeakKeyDictionary[Any, tuple[ChatTemplate, str]] = weakref.WeakKeyDictionary()


def _special(llama: Any, token: int) -> str:
    if token < 0:
        return ""
    return bytes(llama.detokenize([token], special=True)).decode("utf-8", errors="replace")


def _template(llama: Any) -> tuple[ChatTemplate, str]:
    """The model's chat template and end-of-turn text, read once per loaded model."""
    cached = _templates.get(llama)
    if cached is None:
        source = llama.metadata.get("tokenizer.chat_template", "")
        eos = _special(llama, llama.token_eos())
        template = ChatTemplate(source, bos_token=_special(llama, llama.token_bos()), eos_token=eos)
        eot = "<|im_end|>" if "<|im_end|>" in source else eos
        cached = _templates[llama] = (template, eot)
    return cached


def _offered(tools: Sequence[Mapping[str, Any]] | None, tool_choice: Any) -> list[str]:
    """Names of the tools whose calls are parsed out of the answer (none for `none`)."""
    if not tools or tool_choice == "none":
        return []
    return sorted(tool_names([dict(t) for t in tools]))


def _with_tool_calls(response: dict[str, Any], names: list[str]) -> dict[str, Any]:
    """The response with the tool calls its text spells moved into `tool_calls`."""
    choice = response["choices"][0]
    message = choice["message"]
    text, calls = parse_tool_calls(message.get("content") or "", names)
    if calls:
        message["tool_calls"] = [call.to_openai() for call in calls]
        message["content"] = text or None
        choice["finish_reason"] = "tool_calls"
    return response


def _as_stream(response: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """A finished response as OpenAI stream chunks (role, content or tool calls, finish)."""
    choice = response["choices"][0]
    message = choice["message"]
    base = {
        "id": response.get("id", f"chatcmpl-{uuid.uuid4().hex}"),
        "object": "chat.completion.chunk",
        "created": response.get("created", int(time.time())),
        "model": response.get("model", ""),
    }

    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {
            **base,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}],
        }

    yield chunk({"role": "assistant"})
    if message.get("content"):
        yield chunk({"content": message["content"]})
    for index, call in enumerate(message.get("tool_calls") or ()):
        yield chunk({"tool_calls": [{"index": index, **call}]})
    yield chunk({}, choice.get("finish_reason") or "stop")


def chat_handler(
    *,
    llama: Any,
    messages: list[dict[str, Any]],
    tools: list[dict[str, Any]] | None = None,
    tool_choice: Any = None,
    stream: bool = False,
    **kwargs: Any,
) -> Any:
    """A llama-cpp-python chat completion handler (see the module docstring)."""
    template, eot = _template(llama)

    def formatter(
        *, messages: list[dict[str, Any]], tools: Any = None, **_: Any
    ) -> llama_chat_format.ChatFormatterResponse:
        prompt = template.render(messages, tools)
        return llama_chat_format.ChatFormatterResponse(prompt=prompt, stop=eot, added_special=True)

    complete = llama_chat_format.chat_formatter_to_chat_completion_handler(formatter)
    names = _offered(tools, tool_choice)
    if not names or isinstance(tool_choice, Mapping):  # a named choice: llama.cpp's grammar
        return complete(
            llama=llama, messages=messages, tools=tools, tool_choice=tool_choice, stream=stream,
            **kwargs,
        )  # fmt: skip
    response = complete(
        llama=llama, messages=messages, tools=tools, tool_choice=tool_choice, stream=False,
        **kwargs,
    )  # fmt: skip
    response = _with_tool_calls(response, names)
    return _as_stream(response) if stream else response


def register() -> None:
    """Make `--chat_format confidence-router` name this handler (idempotent)."""
    registry = llama_chat_format.LlamaChatCompletionHandlerRegistry()
    registry.register_chat_completion_handler(HANDLER, chat_handler, overwrite=True)
