"""The failure policy through the LangChain adapter, with faults in front of the real server."""

from __future__ import annotations

import pytest
from langchain_core.messages import AIMessage

from confidence_router import (
    CloudUnavailableError,
    DeadlineExceededError,
    FailurePolicy,
    OpenAIChatModel,
)
from confidence_router.models.llama_cpp import LlamaCppModel
from confidence_router.server import LlamaCppServer
from confidence_router.testing import FaultProxy
from langchain_confidence_router import ChatConfidenceRouter

QUESTION = "What is the capital of France? Answer in one word."


def chat(
    edge: LlamaCppModel, proxy: FaultProxy, server: LlamaCppServer, **kwargs: object
) -> ChatConfidenceRouter:
    cloud = OpenAIChatModel(
        server.model_alias, base_url=proxy.base_url, max_attempts=2, initial_backoff=0.05
    )
    return ChatConfidenceRouter(edge=edge, cloud=cloud, threshold=1.0, max_new_tokens=8, **kwargs)


def test_cloud_outage_gives_the_degraded_edge_answer_in_metadata(
    edge: LlamaCppModel, cloud_server: LlamaCppServer
) -> None:
    with FaultProxy(cloud_server.base_url, ["500"]) as proxy:
        message = chat(edge, proxy, cloud_server).invoke(QUESTION)
        chunks = list(chat(edge, proxy, cloud_server).stream(QUESTION))
    assert isinstance(message, AIMessage) and message.content
    routing = message.response_metadata["routing"]
    assert routing["route"] == "edge" and routing["degraded"] is True
    assert routing["degraded_reason"] == "cloud_unavailable" and "500" not in message.content
    streamed = chunks[-1].response_metadata["routing"]
    assert streamed["degraded"] is True
    assert "".join(str(c.content) for c in chunks) == message.content


def test_fallback_raise_is_a_typed_error_with_fallbacks_can_catch(
    edge: LlamaCppModel, cloud_server: LlamaCppServer
) -> None:
    with FaultProxy(cloud_server.base_url, ["500"]) as proxy:
        strict = chat(edge, proxy, cloud_server, failure_policy=FailurePolicy(fallback="raise"))
        with pytest.raises(CloudUnavailableError) as info:
            strict.invoke(QUESTION)
        assert info.value.edge_answer is not None and info.value.edge_answer.degraded
        proxy.set_schedule(["ok"])
        backup = chat(edge, proxy, cloud_server)
        message = strict.with_fallbacks(
            [backup], exceptions_to_handle=(CloudUnavailableError,)
        ).invoke(QUESTION)
    assert message.response_metadata["routing"]["route"] == "cloud"


def test_deadline_is_a_call_option(edge: LlamaCppModel, cloud_server: LlamaCppServer) -> None:
    with FaultProxy(cloud_server.base_url, ["slow"], slow_s=20.0) as proxy:
        strict = chat(edge, proxy, cloud_server, failure_policy=FailurePolicy(fallback="raise"))
        with pytest.raises(DeadlineExceededError):
            strict.bind(deadline_s=3.0).invoke(QUESTION)
