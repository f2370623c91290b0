"""Any LlamaIndex LLM as a core backend (edge or cloud)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from llama_index.core.base.llms.types import ChatMessage, ChatResponse
from llama_index.core.callbacks.token_counting import get_tokens_from_response
from llama_index.core.llms.function_calling import FunctionCallingLLM
from llama_index.core.llms.llm import LLM
from llama_index.core.tools.types import AsyncBaseTool, ToolMetadata, ToolOutput

from confidence_router import ConfigurationError
from confidence_router.generation import Answer, Generation, GenerationOptions, Usage
from confidence_router.messages import ChatMessage as CoreMessage
from confidence_router.messages import ToolCall
from confidence_router.models.base import Capabilities, ChatBackend, StreamChunk
from confidence_router.secrets import secret_values
from llamaindex_confidence_router.messages import from_core_messages


@dataclass
class _SchemaMetadata(ToolMetadata):
    """Tool metadata carrying a JSON schema as is (LlamaIndex's own wants a pydantic class)."""

    parameters: dict[str, Any] | None = None

    def get_parameters_dict(self) -> dict[str, Any]:
        return dict(self.parameters or {"type": "object", "properties": {}})


class _SchemaTool(AsyncBaseTool):
    """An OpenAI-style tool definition in the shape a LlamaIndex LLM's `chat_with_tools` takes.
    It is only described to the model, never called."""

    def __init__(self, definition: dict[str, Any]) -> None:
        fn = definition["function"]
        self._metadata = _SchemaMetadata(
            description=fn.get("description", ""), name=fn["name"], parameters=fn.get("parameters")
        )

    @property
    def metadata(self) -> ToolMetadata:
        return self._metadata

    def call(self, input: Any) -> ToolOutput:
        raise NotImplementedError("a routed tool definition is not callable")

    async def acall(self, input: Any) -> ToolOutput:
        raise NotImplementedError("a routed tool definition is not callable")


class LlamaIndexLLMBackend(ChatBackend):
    """Wraps a LlamaIndex LLM. It supplies no log-probs or samples, so with it as the edge pick
    an estimator that needs none; tools work when it is a `FunctionCallingLLM`."""

    def __init__(self, llm: LLM, tier: str) -> None:
        self.llm = llm
        self.tier = tier
        tools = isinstance(llm, FunctionCallingLLM) and llm.metadata.is_function_calling_model
        self._capabilities = Capabilities(
            tools=tools, context_window=llm.metadata.context_window or None
        )

    def secret_values(self) -> list[str]:
        """The wrapped model's keys (masked in every record and error)."""
        return secret_values(self.llm)

    @property
    def capabilities(self) -> Capabilities:
        return self._capabilities

    @property
    def model_name(self) -> str:
        return self.llm.metadata.model_name or type(self.llm).__name__

    def _request(
        self,
        messages: Sequence[CoreMessage],
        options: GenerationOptions | None,
        tools: Sequence[dict[str, Any]] | None,
    ) -> tuple[list[ChatMessage], dict[str, Any], list[_SchemaTool]]:
        history = from_core_messages(messages)
        kwargs: dict[str, Any] = {}
        if options is not None and options.stop:
            kwargs["stop"] = list(options.stop)
        specs = [_SchemaTool(t) for t in tools or ()]
        if specs:
            kwargs["tool_required"] = bool(options and options.tool_choice)
        return history, kwargs, specs

    def _generation(self, response: ChatResponse | None, text: str | None = None) -> Generation:
        calls: tuple[ToolCall, ...] = ()
        if response is not None and isinstance(self.llm, FunctionCallingLLM):
            selections = self.llm.get_tool_calls_from_response(
                response, error_on_no_tool_call=False
            )
            calls = tuple(
                ToolCall(id=s.tool_id or f"call_{i}", name=s.tool_name, arguments=s.tool_kwargs)
                for i, s in enumerate(selections)
            )
        if text is None:
            text = response.message.content or "" if response is not None else ""
        prompt, completion = get_tokens_from_response(response) if response else (0, 0)
        answer = Answer(
            text=text.strip(),
            tool_calls=calls,
            finish_reason="tool_calls" if calls else "stop",
        )
        return Generation(
            greedy=answer,
            usage=Usage(input_tokens=int(prompt), output_tokens=int(completion)),
            model=self.model_name,
        )

    def generate(
        self,
        messages: Sequence[CoreMessage],
        options: GenerationOptions | None = None,
        tools: Sequence[dict[str, Any]] | None = None,
    ) -> Generation:
        history, kwargs, specs = self._request(messages, options, tools)
        if specs:
            assert isinstance(self.llm, FunctionCallingLLM)
            response = self.llm.chat_with_tools(specs, chat_history=history, **kwargs)
        else:
            response = self.llm.chat(history, **kwargs)
        return self._generation(response)

    async def agenerate(
        self,
        messages: Sequence[CoreMessage],
        options: GenerationOptions | None = None,
        tools: Sequence[dict[str, Any]] | None = None,
    ) -> Generation:
        history, kwargs, specs = self._request(messages, options, tools)
        if specs:
            assert isinstance(self.llm, FunctionCallingLLM)
            response = await self.llm.achat_with_tools(specs, chat_history=history, **kwargs)
        else:
            response = await self.llm.achat(history, **kwargs)
        return self._generation(response)

    def stream(
        self,
        messages: Sequence[CoreMessage],
        options: GenerationOptions | None = None,
        tools: Sequence[dict[str, Any]] | None = None,
    ) -> Iterator[StreamChunk]:
        history, kwargs, specs = self._request(messages, options, tools)
        if specs:
            assert isinstance(self.llm, FunctionCallingLLM)
            pieces = self.llm.stream_chat_with_tools(specs, chat_history=history, **kwargs)
        else:
            pieces = self.llm.stream_chat(history, **kwargs)
        last: ChatResponse | None = None
        text = ""
        for last in pieces:
            if last.delta:
                text += last.delta
                yield StreamChunk(text=last.delta)
        yield StreamChunk(generation=self._generation(last, text))

    async def astream(
        self,
        messages: Sequence[CoreMessage],
        options: GenerationOptions | None = None,
        tools: Sequence[dict[str, Any]] | None = None,
    ) -> AsyncIterator[StreamChunk]:
        history, kwargs, specs = self._request(messages, options, tools)
        if specs:
            assert isinstance(self.llm, FunctionCallingLLM)
            pieces = await self.llm.astream_chat_with_tools(specs, chat_history=history, **kwargs)
        else:
            pieces = await self.llm.astream_chat(history, **kwargs)
        last: ChatResponse | None = None
        text = ""
        async for last in pieces:
            if last.delta:
                text += last.delta
                yield StreamChunk(text=last.delta)
        yield StreamChunk(generation=self._generation(last, text))


def as_backend(model: Any, tier: str) -> ChatBackend:
    """A core backend as is, a LlamaIndex LLM wrapped; anything else is an error."""
    if isinstance(model, ChatBackend):
        return model
    if isinstance(model, LLM):
        return LlamaIndexLLMBackend(model, tier)
    raise ConfigurationError(
        tier, f"expected a confidence_router backend or a LlamaIndex LLM, got {model!r}"
    )
