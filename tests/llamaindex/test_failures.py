"""The failure policy through the LlamaIndex adapter, with faults in front of the real server."""

from __future__ import annotations

import asyncio

import pytest
from llama_index.core.base.llms.types import ChatMessage

from confidence_router import CloudUnavailableError, FailurePolicy, OpenAIChatModel
from confidence_router.models.llama_cpp import LlamaCppModel
from confidence_router.server import LlamaCppServer
from confidence_router.testing import FaultProxy
from llamaindex_confidence_router import ConfidenceRouterLLM

QUESTION = "What is the capital of France? Answer in one word."


def llm(
    edge: LlamaCppModel, proxy: FaultProxy, server: LlamaCppServer, **kwargs: object
) -> ConfidenceRouterLLM:
    cloud = OpenAIChatModel(
        server.model_alias, base_url=proxy.base_url, max_attempts=2, initial_backoff=0.05
    )
    return ConfidenceRouterLLM(edge=edge, cloud=cloud, threshold=1.0, max_new_tokens=8, **kwargs)


def test_cloud_outage_gives_the_degraded_edge_answer(
    edge: LlamaCppModel, cloud_server: LlamaCppServer
) -> None:
    with FaultProxy(cloud_server.base_url, ["drop"]) as proxy:
        router = llm(edge, proxy, cloud_server)
        response = router.chat([ChatMessage(role="user", content=QUESTION)])
        completion = asyncio.run(router.acomplete(QUESTION))
    routing = response.raw["routing"]  # type: ignore[index]
    assert routing["degraded"] is True and routing["degraded_reason"] == "cloud_unavailable"
    assert response.message.content
    assert completion.raw["routing"]["degraded"] is True  # type: ignore[index]


def test_fallback_raise_and_per_call_deadline(
    edge: LlamaCppModel, cloud_server: LlamaCppServer
) -> None:
    with FaultProxy(cloud_server.base_url, ["500"]) as proxy:
        strict = llm(edge, proxy, cloud_server, failure_policy=FailurePolicy(fallback="raise"))
        with pytest.raises(CloudUnavailableError):
            strict.complete(QUESTION)
        proxy.set_schedule(["slow"])
        proxy.slow_s = 20.0
        response = llm(edge, proxy, cloud_server).complete(QUESTION, deadline_s=3.0)
    assert response.raw["routing"]["degraded_reason"] == "deadline_exceeded"  # type: ignore[index]
