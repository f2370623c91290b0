"""`ConfidenceRouterLLM`: a LlamaIndex `FunctionCallingLLM` that routes every call through the
core's `CascadeRouter`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from llama_index.core.base.llms.generic_utils import (
    achat_to_completion_decorator,
    astream_chat_to_completion_decorator,
    chat_to_completion_decorator,
    stream_chat_to_completion_decorator,
)
from llama_index.core.base.llms.types import (
    ChatMessage,
    ChatResponse,
    ChatResponseAsyncGen,
    ChatResponseGen,
    CompletionResponse,
    CompletionResponseAsyncGen,
    CompletionResponseGen,
    LLMMetadata,
    MessageRole,
    ToolCallBlock,
)
from llama_index.core.constants import DEFAULT_CONTEXT_WINDOW
from llama_index.core.instrumentation import get_dispatcher  # type: ignore[attr-defined]
from llama_index.core.llms.callbacks import llm_chat_callback, llm_completion_callback
from llama_index.core.llms.function_calling import FunctionCallingLLM
from llama_index.core.llms.llm import ToolSelection
from pydantic import Field

from confidence_router import RoutedResponse
from confidence_router.routing.adapter_router import RouterSettings, call_options
from confidence_router.routing.cascade import RouteChunk
from llamaindex_confidence_router.backend import as_backend
from llamaindex_confidence_router.events import RoutingDecisionEvent
from llamaindex_confidence_router.messages import to_chat_response, to_core_messages
from llamaindex_confidence_router.tool_specs import openai_tool_specs

if TYPE_CHECKING:
    from llama_index.core.tools.types import BaseTool

dispatcher = get_dispatcher(__name__)


class ConfidenceRouterLLM(RouterSettings, FunctionCallingLLM):
    """Routes each call: the edge answers when its confidence passes the decision rule
    (`threshold`), else the cloud.

    `edge` and `cloud` are core backends (`LlamaCppModel`, `OpenAIChatModel`, ...) or LlamaIndex
    LLMs; the settings are `RouterSettings`' (or a prebuilt `router=`). The decision is in
    `response.raw["routing"]` (and `additional_kwargs["routing"]`) and is emitted as a
    `RoutingDecisionEvent`. `failure_policy` (a core `FailurePolicy`): by default an answer the
    cloud could not give comes back from the edge with `routing["degraded"]` true; with
    `fallback="raise"` a typed error is raised. Per call: `threshold`, `max_new_tokens`,
    `deadline_s`. Usage (both tiers, each once) is in `raw["usage"]`, where
    `TokenCountingHandler` reads it. The context window is the cloud's: a prompt longer than
    the edge's window goes straight to the cloud. Completion is chat on one user message.
    The signature line LlamaIndex writes in front of a function tool's docstring is dropped
    (the parameters schema carries it) unless `tool_signatures=True`.

        Settings.llm = ConfidenceRouterLLM(edge=LlamaCppModel(), cloud=OpenAIChatModel(...))
    """

    context_window: int | None = Field(
        default=None, description="override the cloud's context window"
    )
    tool_signatures: bool = Field(
        default=False,
        description="send function tools' descriptions with the signature line LlamaIndex "
        "writes in front of the docstring (dropped by default: the parameters schema has it)",
    )

    def __init__(self, **data: Any) -> None:
        super().__init__(**data)
        self._build_router(as_backend)

    @classmethod
    def class_name(cls) -> str:
        return "ConfidenceRouterLLM"

    @property
    def metadata(self) -> LLMMetadata:
        window = (
            self.context_window
            or self._router.cloud.capabilities.context_window
            or DEFAULT_CONTEXT_WINDOW
        )
        return LLMMetadata(
            context_window=window,
            num_output=self.cloud_max_new_tokens or self.max_new_tokens,
            is_chat_model=True,
            is_function_calling_model=True,
            model_name=f"{self._router.edge.model_name} -> {self._router.cloud.model_name}",
        )

    # -- routing ----------------------------------------------------------------------------

    def _args(
        self, messages: Sequence[ChatMessage], kwargs: dict[str, Any]
    ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        return to_core_messages(messages), call_options(kwargs, "ConfidenceRouterLLM")

    @staticmethod
    def _emit(response: RoutedResponse) -> RoutedResponse:
        dispatcher.event(RoutingDecisionEvent(decision=response.decision()))
        return response

    def _chunk_response(self, chunk: RouteChunk, text: str) -> ChatResponse:
        if chunk.response is not None:
            return to_chat_response(self._emit(chunk.response), delta="")
        message = ChatMessage(role=MessageRole.ASSISTANT, content=text)
        return ChatResponse(message=message, delta=chunk.text)

    def _chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        core, args = self._args(messages, kwargs)
        return to_chat_response(self._emit(self._router.route(core, **args)))

    async def _achat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        core, args = self._args(messages, kwargs)
        return to_chat_response(self._emit(await self._router.aroute(core, **args)))

    def _stream_chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponseGen:
        core, args = self._args(messages, kwargs)

        def gen() -> ChatResponseGen:
            text = ""
            for chunk in self._router.stream(core, **args):
                text += chunk.text
                yield self._chunk_response(chunk, text)

        return gen()

    async def _astream_chat(
        self, messages: Sequence[ChatMessage], **kwargs: Any
    ) -> ChatResponseAsyncGen:
        core, args = self._args(messages, kwargs)

        async def gen() -> ChatResponseAsyncGen:
            text = ""
            async for chunk in self._router.astream(core, **args):
                text += chunk.text
                yield self._chunk_response(chunk, text)

        return gen()

    # -- chat: the edge answer arrives whole once its confidence is known, an escalated answer
    # streams as the cloud writes it; the last response carries the decision --

    @llm_chat_callback()
    def chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        return self._chat(messages, **kwargs)

    @llm_chat_callback()
    async def achat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        return await self._achat(messages, **kwargs)

    @llm_chat_callback()
    def stream_chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponseGen:
        return self._stream_chat(messages, **kwargs)

    @llm_chat_callback()
    async def astream_chat(
        self, messages: Sequence[ChatMessage], **kwargs: Any
    ) -> ChatResponseAsyncGen:
        return await self._astream_chat(messages, **kwargs)

    # -- completion: chat on one user message (LlamaIndex's own converters) --

    @llm_completion_callback()
    def complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        return chat_to_completion_decorator(self._chat)(prompt, **kwargs)

    @llm_completion_callback()
    async def acomplete(
        self, prompt: str, formatted: bool = False, **kwargs: Any
    ) -> CompletionResponse:
        return await achat_to_completion_decorator(self._achat)(prompt, **kwargs)

    @llm_completion_callback()
    def stream_complete(
        self, prompt: str, formatted: bool = False, **kwargs: Any
    ) -> CompletionResponseGen:
        return stream_chat_to_completion_decorator(self._stream_chat)(prompt, **kwargs)

    @llm_completion_callback()
    async def astream_complete(
        self, prompt: str, formatted: bool = False, **kwargs: Any
    ) -> CompletionResponseAsyncGen:
        return await astream_chat_to_completion_decorator(self._astream_chat)(prompt, **kwargs)

    # -- tools ------------------------------------------------------------------------------

    def _prepare_chat_with_tools(
        self,
        tools: Sequence[BaseTool],
        user_msg: str | ChatMessage | None = None,
        chat_history: list[ChatMessage] | None = None,
        verbose: bool = False,
        allow_parallel_tool_calls: bool = False,
        tool_required: bool = False,
        tool_choice: str | dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> dict[str, Any]:
        """The chat kwargs: messages, OpenAI-style tool specs and `tool_choice`."""
        specs = openai_tool_specs(tools, signatures=self.tool_signatures)
        messages = list(chat_history or [])
        if isinstance(user_msg, str):
            user_msg = ChatMessage(role=MessageRole.USER, content=user_msg)
        if user_msg is not None:
            messages.append(user_msg)
        if tool_choice is None and tool_required and specs:
            tool_choice = "required"
        return {
            "messages": messages,
            "tools": specs or None,
            "tool_choice": tool_choice if specs else None,
            **kwargs,
        }

    def _validate_chat_with_tools_response(
        self,
        response: ChatResponse,
        tools: Sequence[BaseTool],
        allow_parallel_tool_calls: bool = False,
        **kwargs: Any,
    ) -> ChatResponse:
        """Keep only the first tool call unless parallel calls are allowed."""
        if not allow_parallel_tool_calls:
            calls = [b for b in response.message.blocks if isinstance(b, ToolCallBlock)]
            for extra in calls[1:]:
                response.message.blocks.remove(extra)
        return response

    def get_tool_calls_from_response(
        self, response: ChatResponse, error_on_no_tool_call: bool = True, **kwargs: Any
    ) -> list[ToolSelection]:
        """The response's `ToolCallBlock`s as `ToolSelection`s."""
        calls = [b for b in response.message.blocks if isinstance(b, ToolCallBlock)]
        if not calls and error_on_no_tool_call:
            raise ValueError("Expected at least one tool call, but got 0 tool calls.")
        return [
            ToolSelection(
                tool_id=call.tool_call_id or f"call_{i}",
                tool_name=call.tool_name,
                tool_kwargs=call.tool_kwargs if isinstance(call.tool_kwargs, dict) else {},
            )
            for i, call in enumerate(calls)
        ]
