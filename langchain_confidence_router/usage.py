"""Each tier's token usage where LangChain's trackers read it.

A tracker such as `get_usage_metadata_callback` sums `usage_metadata` per `model_name`, one
message per LLM run. A routed answer's message carries the answering tier's usage under that
tier's model name; an escalated request's edge tokens are reported as a child LLM run of the
router's run, named after the edge model, so they are not priced at the cloud's rate.
"""

from __future__ import annotations

from langchain_core.callbacks import (
    AsyncCallbackManager,
    AsyncCallbackManagerForLLMRun,
    CallbackManager,
    CallbackManagerForLLMRun,
)
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.messages.ai import UsageMetadata
from langchain_core.outputs import ChatGeneration, LLMResult

from confidence_router import RoutedResponse


def _edge_result(response: RoutedResponse) -> LLMResult | None:
    """The edge's part of an escalated request, as an LLM result (None: nothing to report)."""
    usage = response.usage.get("edge")
    if response.route != "cloud" or usage is None or usage.total_tokens == 0:
        return None
    message = AIMessage(
        content=response.edge_text or "",
        usage_metadata=UsageMetadata(
            input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens,
            total_tokens=usage.total_tokens,
        ),
        response_metadata={"model_name": response.edge_model, "escalated": True},
    )
    return LLMResult(generations=[[ChatGeneration(message=message)]])


def _serialized(response: RoutedResponse) -> dict[str, object]:
    return {"name": response.edge_model, "id": ["confidence_router", "edge"]}


def _child_manager(run_manager: CallbackManagerForLLMRun | None) -> CallbackManager:
    """Callbacks for a child run of `run_manager`'s run. LangChain's public `stream()` gives
    `_stream` no run manager: then the handlers registered for the context (such as
    `get_usage_metadata_callback`'s, or tracing) get a run of their own."""
    if run_manager is None:
        return CallbackManager.configure()
    return CallbackManager(
        handlers=run_manager.inheritable_handlers,
        inheritable_handlers=run_manager.inheritable_handlers,
        parent_run_id=run_manager.run_id,
        tags=run_manager.inheritable_tags,
        inheritable_tags=run_manager.inheritable_tags,
        metadata=run_manager.inheritable_metadata,
        inheritable_metadata=run_manager.inheritable_metadata,
    )


def report_edge_usage(
    run_manager: CallbackManagerForLLMRun | None,
    messages: list[BaseMessage],
    response: RoutedResponse,
) -> None:
    """Report an escalated request's edge tokens as a child run of `run_manager`'s run."""
    result = _edge_result(response)
    if result is None:
        return
    manager = _child_manager(run_manager)
    for child in manager.on_chat_model_start(
        _serialized(response), [messages], name=response.edge_model
    ):
        child.on_llm_end(result)


def _achild_manager(run_manager: AsyncCallbackManagerForLLMRun | None) -> AsyncCallbackManager:
    """Async `_child_manager`."""
    if run_manager is None:
        return AsyncCallbackManager.configure()
    return AsyncCallbackManager(
        handlers=run_manager.inheritable_handlers,
        inheritable_handlers=run_manager.inheritable_handlers,
        parent_run_id=run_manager.run_id,
        tags=run_manager.inheritable_tags,
        inheritable_tags=run_manager.inheritable_tags,
        metadata=run_manager.inheritable_metadata,
        inheritable_metadata=run_manager.inheritable_metadata,
    )


async def areport_edge_usage(
    run_manager: AsyncCallbackManagerForLLMRun | None,
    messages: list[BaseMessage],
    response: RoutedResponse,
) -> None:
    """Async `report_edge_usage`."""
    result = _edge_result(response)
    if result is None:
        return
    manager = _achild_manager(run_manager)
    for child in await manager.on_chat_model_start(
        _serialized(response), [messages], name=response.edge_model
    ):
        await child.on_llm_end(result)
