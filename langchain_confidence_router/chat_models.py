"""`ChatConfidenceRouter`: a LangChain chat model that answers at the edge when confident."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel, LangSmithParams, LanguageModelInput
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.runnables import Runnable
from langchain_core.tools import BaseTool
from langchain_core.utils.function_calling import convert_to_openai_tool
from pydantic import ConfigDict

from confidence_router import RoutedResponse
from confidence_router.models.base import ChatBackend
from confidence_router.routing.adapter_router import RouterSettings, call_options
from langchain_confidence_router.backend import as_backend
from langchain_confidence_router.messages import final_chunk, to_ai_message, to_core_messages
from langchain_confidence_router.usage import areport_edge_usage, report_edge_usage


class ChatConfidenceRouter(RouterSettings, BaseChatModel):
    """Routes each call: the edge answers when its confidence passes the decision rule
    (`threshold`), else the cloud.

    `edge` and `cloud` are core backends (`LlamaCppModel`, `OpenAIChatModel`, ...) or LangChain
    chat models; the settings are `RouterSettings`' (or a prebuilt `router=`). The decision
    (route, reason, confidence, scores, threshold, cost, latency) is in
    `response_metadata["routing"]`; when streaming, on the final chunk with `usage_metadata`.
    `failure_policy` (a core `FailurePolicy`): by default an answer the cloud could not give
    comes back from the edge with `routing["degraded"]` true; with `fallback="raise"` a typed
    error (`CloudUnavailableError`, ...) is raised, which `with_fallbacks` can catch. Per call:
    `threshold`, `max_new_tokens`, `deadline_s`.

        router = ChatConfidenceRouter(edge=LlamaCppModel(), cloud=ChatOpenAI(...))
        chain = prompt | router | StrOutputParser()
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    def __init__(self, **data: Any) -> None:
        super().__init__(**data)
        self._build_router(as_backend)

    @property
    def _llm_type(self) -> str:
        return "confidence-router"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {
            "edge_model": self._router.edge.model_name,
            "cloud_model": self._router.cloud.model_name,
            "estimator": self._router.estimator.name,
            "threshold": self._router.threshold,
            "max_new_tokens": self.max_new_tokens,
        }

    def _get_ls_params(self, stop: list[str] | None = None, **kwargs: Any) -> LangSmithParams:
        params = super()._get_ls_params(stop=stop, **kwargs)
        params["ls_provider"] = "confidence-router"
        params["ls_model_name"] = kwargs.get("model") or (
            f"{self._router.edge.model_name} -> {self._router.cloud.model_name}"
        )
        params["ls_max_tokens"] = self.max_new_tokens
        return params

    # -- calls ----------------------------------------------------------------------------------

    def _route_args(
        self, messages: list[BaseMessage], stop: list[str] | None, kwargs: dict[str, Any]
    ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        options = call_options(kwargs, "ChatConfidenceRouter")
        return to_core_messages(messages), {**options, "stop": stop}

    @staticmethod
    def _result(response: RoutedResponse) -> ChatResult:
        return ChatResult(generations=[ChatGeneration(message=to_ai_message(response))])

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        core, args = self._route_args(messages, stop, kwargs)
        response = self._router.route(core, **args)
        report_edge_usage(run_manager, messages, response)
        return self._result(response)

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        core, args = self._route_args(messages, stop, kwargs)
        response = await self._router.aroute(core, **args)
        await areport_edge_usage(run_manager, messages, response)
        return self._result(response)

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        core, args = self._route_args(messages, stop, kwargs)
        for piece in self._router.stream(core, **args):
            if piece.response is not None:
                report_edge_usage(run_manager, messages, piece.response)
                yield ChatGenerationChunk(message=final_chunk(piece.response))
                continue
            chunk = ChatGenerationChunk(message=AIMessageChunk(content=piece.text))
            if run_manager:
                run_manager.on_llm_new_token(piece.text, chunk=chunk)
            yield chunk

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        core, args = self._route_args(messages, stop, kwargs)
        async for piece in self._router.astream(core, **args):
            if piece.response is not None:
                await areport_edge_usage(run_manager, messages, piece.response)
                yield ChatGenerationChunk(message=final_chunk(piece.response))
                continue
            chunk = ChatGenerationChunk(message=AIMessageChunk(content=piece.text))
            if run_manager:
                await run_manager.on_llm_new_token(piece.text, chunk=chunk)
            yield chunk

    # -- tools and tokens -----------------------------------------------------------------------

    def bind_tools(
        self,
        tools: Sequence[dict[str, Any] | type | Callable[..., Any] | BaseTool],
        *,
        tool_choice: str | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, AIMessage]:
        """Bind tools (any form LangChain accepts); tool-bound calls route like any other."""
        formatted = [convert_to_openai_tool(tool) for tool in tools]
        if tool_choice is not None:
            kwargs["tool_choice"] = tool_choice
        return self.bind(tools=formatted, **kwargs)

    def get_num_tokens(self, text: str) -> int:
        """Tokens by the edge model's own tokenizer, offline."""
        edge: ChatBackend = self._router.edge
        counter = getattr(edge, "count_text_tokens", None)
        return int(counter(text)) if counter else super().get_num_tokens(text)

    def get_num_tokens_from_messages(
        self, messages: list[BaseMessage], tools: Sequence[Any] | None = None
    ) -> int:
        """Prompt tokens of a conversation under the edge's chat template, offline."""
        from confidence_router.messages import normalize_messages

        counted = self._router.edge.count_tokens(normalize_messages(to_core_messages(messages)))
        if counted is None:
            return super().get_num_tokens_from_messages(messages, tools)
        return counted
