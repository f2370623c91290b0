"""`ConfidenceRouterLLM`: a LlamaIndex `FunctionCallingLLM` that routes every call through the
core's `CascadeRouter`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

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
from pydantic import Field, PrivateAttr

from confidence_router import (
    CascadeRouter,
    ConfigurationError,
    FailurePolicy,
    Pricing,
    RoutedResponse,
)
from confidence_router.routing.adapter_router import adapter_router, adopted_settings
from confidence_router.routing.cascade import RouteChunk
from confidence_router.uncertainty import Estimator
from llamaindex_confidence_router.backend import as_backend
from llamaindex_confidence_router.events import RoutingDecisionEvent
from llamaindex_confidence_router.messages import (
    to_chat_response,
    to_completion_response,
    to_core_messages,
)

if TYPE_CHECKING:
    from llama_index.core.tools.types import BaseTool

dispatcher = get_dispatcher(__name__)

_OPTIONS = ("tools", "tool_choice", "threshold", "max_new_tokens", "stop", "deadline_s")
# Keyword arguments LlamaIndex components pass that the router does not act on; anything else
# unknown is an error, not silently dropped.
_IGNORED = frozenset({"parallel_tool_calls", "strict", "response_format", "formatted"})


class ConfidenceRouterLLM(FunctionCallingLLM):
    """Routes each call: the edge answers when its confidence >= `threshold`, else the cloud.

    `edge` and `cloud` are core backends (`TransformersModel`, `OpenAIChatModel`) or LlamaIndex
    LLMs. The decision is in `response.raw["routing"]` (and `additional_kwargs["routing"]`) and
    is emitted as a `RoutingDecisionEvent`. `failure_policy` (a core `FailurePolicy`): by
    default an answer the cloud could not give comes back from the edge with
    `routing["degraded"]` true; with `fallback="raise"` a typed error is raised. Per call:
    `threshold`, `max_new_tokens`, `deadline_s`. Usage (both tiers, each once) is in
    `raw["usage"]`, where `TokenCountingHandler` reads it. The context window is the cloud's:
    a prompt longer than the edge's window goes straight to the cloud.

        Settings.llm = ConfidenceRouterLLM(edge=TransformersModel(), cloud=OpenAIChatModel(...))
    """

    edge: Any = Field(default=None, description="edge backend or LlamaIndex LLM")
    cloud: Any = Field(default=None, description="cloud backend or LlamaIndex LLM")
    estimator: str | Estimator = "max_sequence_probability"
    extra_estimators: list[str | Estimator] = Field(default_factory=list)
    # a threshold in [0, 1], a `DecisionRule` (e.g. `calibrate_threshold(...).rule`,
    # `calibrate_risk(...).rule`) or a `BudgetController`
    threshold: Any = 0.5
    max_new_tokens: int = 512
    cloud_max_new_tokens: int | None = None
    prices: dict[str, Pricing] | None = None
    failure_policy: FailurePolicy | None = None
    # A prebuilt core router (CascadeRouter, PredictiveRouter, HybridRouter): when given, the
    # models and settings are its own and the fields above are taken from it.
    router_: Any = Field(default=None, alias="router")
    context_window: int | None = Field(
        default=None, description="override the cloud's context window"
    )
    _router: CascadeRouter = PrivateAttr()

    def __init__(self, **data: Any) -> None:
        super().__init__(**data)
        # Built here, not in a pydantic validator, so configuration errors keep their own type.
        self._router = adapter_router(
            self.router_,
            self.edge,
            self.cloud,
            as_backend,
            estimator=self.estimator,
            extra_estimators=self.extra_estimators,
            threshold=self.threshold,
            max_new_tokens=self.max_new_tokens,
            cloud_max_new_tokens=self.cloud_max_new_tokens,
            prices=self.prices,
            failure_policy=self.failure_policy,
        )
        if self.router_ is not None:
            for name, value in adopted_settings(self._router).items():
                setattr(self, name, value)

    @classmethod
    def class_name(cls) -> str:
        return "ConfidenceRouterLLM"

    @property
    def router(self) -> CascadeRouter:
        """The core router every call goes through."""
        return self._router

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
        unknown = set(kwargs) - set(_OPTIONS) - _IGNORED
        if unknown:
            raise ConfigurationError(
                ",".join(sorted(unknown)), "not a ConfidenceRouterLLM call option"
            )
        return to_core_messages(messages), {k: kwargs.get(k) for k in _OPTIONS}

    @staticmethod
    def _prompt(prompt: str) -> list[ChatMessage]:
        return [ChatMessage(role=MessageRole.USER, content=prompt)]

    @staticmethod
    def _emit(response: RoutedResponse) -> RoutedResponse:
        dispatcher.event(RoutingDecisionEvent(decision=response.decision()))
        return response

    def _route(self, messages: Sequence[ChatMessage], kwargs: dict[str, Any]) -> RoutedResponse:
        core, args = self._args(messages, kwargs)
        return self._emit(self._router.route(core, **args))

    async def _aroute(
        self, messages: Sequence[ChatMessage], kwargs: dict[str, Any]
    ) -> RoutedResponse:
        core, args = self._args(messages, kwargs)
        return self._emit(await self._router.aroute(core, **args))

    def _chunk_response(self, chunk: RouteChunk, text: str) -> ChatResponse:
        if chunk.response is not None:
            return to_chat_response(self._emit(chunk.response), delta="")
        message = ChatMessage(role=MessageRole.ASSISTANT, content=text)
        return ChatResponse(message=message, delta=chunk.text)

    # -- chat -------------------------------------------------------------------------------

    @llm_chat_callback()
    def chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        return to_chat_response(self._route(messages, kwargs))

    @llm_chat_callback()
    async def achat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        return to_chat_response(await self._aroute(messages, kwargs))

    @llm_chat_callback()
    def stream_chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponseGen:
        """The edge answer arrives whole once its confidence is known; an escalated answer
        streams as the cloud writes it. The last response carries the decision."""
        core, args = self._args(messages, kwargs)

        def gen() -> ChatResponseGen:
            text = ""
            for chunk in self._router.stream(core, **args):
                text += chunk.text
                yield self._chunk_response(chunk, text)

        return gen()

    @llm_chat_callback()
    async def astream_chat(
        self, messages: Sequence[ChatMessage], **kwargs: Any
    ) -> ChatResponseAsyncGen:
        core, args = self._args(messages, kwargs)

        async def gen() -> ChatResponseAsyncGen:
            text = ""
            async for chunk in self._router.astream(core, **args):
                text += chunk.text
                yield self._chunk_response(chunk, text)

        return gen()

    # -- completion -------------------------------------------------------------------------

    @llm_completion_callback()
    def complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        return to_completion_response(self._route(self._prompt(prompt), kwargs))

    @llm_completion_callback()
    async def acomplete(
        self, prompt: str, formatted: bool = False, **kwargs: Any
    ) -> CompletionResponse:
        return to_completion_response(await self._aroute(self._prompt(prompt), kwargs))

    @llm_completion_callback()
    def stream_complete(
        self, prompt: str, formatted: bool = False, **kwargs: Any
    ) -> CompletionResponseGen:
        core, args = self._args(self._prompt(prompt), kwargs)

        def gen() -> CompletionResponseGen:
            text = ""
            for chunk in self._router.stream(core, **args):
                text += chunk.text
                if chunk.response is None:
                    yield CompletionResponse(text=text, delta=chunk.text)
                else:
                    yield to_completion_response(self._emit(chunk.response), delta="")

        return gen()

    @llm_completion_callback()
    async def astream_complete(
        self, prompt: str, formatted: bool = False, **kwargs: Any
    ) -> CompletionResponseAsyncGen:
        core, args = self._args(self._prompt(prompt), kwargs)

        async def gen() -> CompletionResponseAsyncGen:
            text = ""
            async for chunk in self._router.astream(core, **args):
                text += chunk.text
                if chunk.response is None:
                    yield CompletionResponse(text=text, delta=chunk.text)
                else:
                    yield to_completion_response(self._emit(chunk.response), delta="")

        return gen()

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
        specs = [tool.metadata.to_openai_tool(skip_length_check=True) for tool in tools]
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
