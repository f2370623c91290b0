"""Any LangChain chat model as a core backend (edge or cloud)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any, TypeVar

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    BaseMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)
from langchain_core.runnables import RunnableBinding, RunnableConfig
from langchain_core.tracers import context as _tracing_context

from confidence_router import ConfigurationError
from confidence_router.generation import Answer, Generation, GenerationOptions, Usage
from confidence_router.messages import ChatMessage, ToolCall
from confidence_router.models.base import Capabilities, ChatBackend, StreamChunk
from confidence_router.models.openai.logprobs import parse_logprobs
from confidence_router.secrets import secret_values
from confidence_router.tools.choice import openai_tool_choice
from confidence_router.uncertainty import Statistic

# Inner calls run with no callbacks: their tokens must not reach the outer run's handlers
# (LangGraph's stream_mode="messages" would show them twice) and usage is counted once, by us.
_QUIET: RunnableConfig = {"callbacks": []}
_C = TypeVar("_C")


@contextlib.contextmanager
def _hooks_off() -> Iterator[None]:
    """No context-registered handler (`get_usage_metadata_callback`'s, ...) sees an inner call
    either: those reach every LangChain call made in the context, whatever its `callbacks`."""
    tokens = [(var, var.set(None)) for var, *_ in getattr(_tracing_context, "_configure_hooks", [])]
    try:
        yield
    finally:
        for var, token in reversed(tokens):
            var.reset(token)


def _quiet_iter(chunks: Iterator[_C]) -> Iterator[_C]:
    """An inner stream, each step run with the context handlers off."""
    while True:
        with _hooks_off():
            chunk = next(chunks, None)
        if chunk is None:
            return
        yield chunk


async def _aquiet_iter(chunks: AsyncIterator[_C]) -> AsyncIterator[_C]:
    """Async `_quiet_iter`."""
    while True:
        with _hooks_off():
            try:
                chunk = await anext(chunks)
            except StopAsyncIteration:
                return
        yield chunk


def from_core_messages(messages: Sequence[ChatMessage]) -> list[BaseMessage]:
    out: list[BaseMessage] = []
    for m in messages:
        if m.role == "system":
            out.append(SystemMessage(content=m.content))
        elif m.role == "user":
            content: Any = [dict(p) for p in m.parts] if m.parts else m.content
            out.append(HumanMessage(content=content))
        elif m.role == "assistant":
            calls = [
                {"name": c.name, "args": c.arguments, "id": c.id, "type": "tool_call"}
                for c in m.tool_calls
            ]
            out.append(AIMessage(content=m.content, tool_calls=calls))  # type: ignore[arg-type]
        else:
            out.append(ToolMessage(content=m.content, tool_call_id=m.tool_call_id or ""))
    return out


def to_generation(message: AIMessage, model: str) -> Generation:
    """An `AIMessage` as a core `Generation` (log-probs from OpenAI-style response metadata)."""
    logprobs, entropies = parse_logprobs(message.response_metadata.get("logprobs"))
    calls = tuple(
        ToolCall(id=c.get("id") or f"call_{i}", name=c["name"], arguments=c.get("args") or {})
        for i, c in enumerate(message.tool_calls)
    )
    usage: dict[str, Any] = dict(message.usage_metadata or {})
    answer = Answer(
        text=message.text.strip(),
        token_logprobs=logprobs,
        token_entropies=entropies,
        tool_calls=calls,
        finish_reason="tool_calls" if calls else "stop",
    )
    return Generation(
        greedy=answer,
        usage=Usage(
            input_tokens=int(usage.get("input_tokens", 0)),
            output_tokens=int(usage.get("output_tokens", 0)),
        ),
        model=model,
    )


class LangChainChatBackend(ChatBackend):
    """Wraps a LangChain chat model. Log-probs are available when the model returns them
    (e.g. `ChatOpenAI(logprobs=True, top_logprobs=5)`); samples are not. Token usage is what
    the model reports: a streamed call to a server that sends no usage chunk (llama.cpp's
    OpenAI-compatible server) counts as zero tokens."""

    def __init__(self, model: BaseChatModel, tier: str, *, logprobs: bool | None = None) -> None:
        self.model = model
        self.tier = tier
        has_logprobs = bool(getattr(model, "logprobs", False)) if logprobs is None else logprobs
        tools = type(model).bind_tools is not BaseChatModel.bind_tools
        stats = (
            frozenset({Statistic.GREEDY_LOGPROBS, Statistic.GREEDY_ENTROPY})
            if has_logprobs
            else frozenset()
        )
        self._capabilities = Capabilities(statistics=stats, tools=tools)

    def secret_values(self) -> list[str]:
        """The wrapped model's keys (masked in every record and error)."""
        return secret_values(getattr(self.model, "bound", self.model))

    @property
    def capabilities(self) -> Capabilities:
        return self._capabilities

    @property
    def model_name(self) -> str:
        name = getattr(self.model, "model_name", None) or getattr(self.model, "model", None)
        return str(name or self.model._llm_type)

    def _call(
        self, tools: Sequence[dict[str, Any]] | None, options: GenerationOptions | None
    ) -> dict[str, Any]:
        """The call kwargs: tools and `tool_choice` (as the model's `bind_tools` shapes them),
        stop sequences and the token cap.

        `bind_tools` returns a `RunnableBinding`; only its kwargs are used, because calling the
        binding merges the caller's context callbacks back into the inner call (LangGraph's
        `stream_mode="messages"` would then see every token twice).
        """
        kwargs: dict[str, Any] = {"config": _QUIET}
        if tools:
            choice = openai_tool_choice(options.tool_choice if options else None)
            extra: dict[str, Any] = {"tool_choice": choice} if choice is not None else {}
            bound = self.model.bind_tools(list(tools), **extra)
            kwargs.update(bound.kwargs if isinstance(bound, RunnableBinding) else {})
        if options is not None:
            if options.stop:
                kwargs["stop"] = list(options.stop)
            if "max_tokens" in type(self.model).model_fields:
                kwargs["max_tokens"] = options.max_new_tokens
        return kwargs

    def generate(
        self,
        messages: Sequence[ChatMessage],
        options: GenerationOptions | None = None,
        tools: Sequence[dict[str, Any]] | None = None,
    ) -> Generation:
        with _hooks_off():
            reply = self.model.invoke(from_core_messages(messages), **self._call(tools, options))
        return to_generation(reply, self.model_name)

    async def agenerate(
        self,
        messages: Sequence[ChatMessage],
        options: GenerationOptions | None = None,
        tools: Sequence[dict[str, Any]] | None = None,
    ) -> Generation:
        with _hooks_off():
            reply = await self.model.ainvoke(
                from_core_messages(messages), **self._call(tools, options)
            )
        return to_generation(reply, self.model_name)

    def stream(
        self,
        messages: Sequence[ChatMessage],
        options: GenerationOptions | None = None,
        tools: Sequence[dict[str, Any]] | None = None,
    ) -> Iterator[StreamChunk]:
        total: AIMessageChunk | None = None
        inner = self.model.stream(from_core_messages(messages), **self._call(tools, options))
        for chunk in _quiet_iter(inner):
            total = chunk if total is None else total + chunk
            if chunk.text:
                yield StreamChunk(text=chunk.text)
        yield StreamChunk(
            generation=to_generation(total or AIMessageChunk(content=""), self.model_name)
        )

    async def astream(
        self,
        messages: Sequence[ChatMessage],
        options: GenerationOptions | None = None,
        tools: Sequence[dict[str, Any]] | None = None,
    ) -> AsyncIterator[StreamChunk]:
        total: AIMessageChunk | None = None
        inner = self.model.astream(from_core_messages(messages), **self._call(tools, options))
        async for chunk in _aquiet_iter(inner):
            total = chunk if total is None else total + chunk
            if chunk.text:
                yield StreamChunk(text=chunk.text)
        yield StreamChunk(
            generation=to_generation(total or AIMessageChunk(content=""), self.model_name)
        )


def as_backend(model: Any, tier: str) -> ChatBackend:
    """A core backend as is, a LangChain chat model wrapped; anything else is an error."""
    if isinstance(model, ChatBackend):
        return model
    if isinstance(model, BaseChatModel):
        return LangChainChatBackend(model, tier)
    raise ConfigurationError(
        tier, f"expected a confidence_router backend or a LangChain chat model, got {model!r}"
    )
