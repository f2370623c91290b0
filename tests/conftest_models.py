"""Real-model fixtures: the bundled edge in-process, a real llama.cpp server on 127.0.0.1."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from confidence_router import OpenAIChatModel
from confidence_router.models.transformers import TransformersModel
from confidence_router.server import LlamaCppServer

# CI serves Qwen2.5-Coder-0.5B as the cloud to stay fast; the demo uses the 1.5B.
CLOUD_MODEL = os.environ.get("CONFIDENCE_ROUTER_TEST_CLOUD", "qwen2.5-coder-0.5b-instruct")


@pytest.fixture(scope="session")
def edge() -> TransformersModel:
    return TransformersModel("smollm2-135m-instruct")


@pytest.fixture(scope="session")
def cloud_server() -> Iterator[LlamaCppServer]:
    with LlamaCppServer(CLOUD_MODEL, n_ctx=8192) as server:
        yield server


@pytest.fixture(scope="session")
def cloud(cloud_server: LlamaCppServer) -> OpenAIChatModel:
    return OpenAIChatModel(
        cloud_server.model_alias,
        base_url=cloud_server.base_url,
        timeout=120,
        max_attempts=2,
        context_window=cloud_server.n_ctx,
    )


@pytest.fixture(scope="session")
def big_cloud() -> Iterator[OpenAIChatModel]:
    """Qwen2.5-Coder-1.5B-Instruct behind its own server, for what the 0.5B cannot do (ReAct's
    `Action Input`, judging entailment)."""
    with LlamaCppServer("qwen2.5-coder-1.5b-instruct", n_ctx=8192) as server:
        yield OpenAIChatModel(
            server.model_alias, base_url=server.base_url, timeout=300, context_window=8192
        )


@pytest.fixture(scope="session")
def qwen_edge() -> TransformersModel:
    """A tool-capable edge in-process (its chat template has tools), for the agent tests."""
    return TransformersModel("qwen2.5-coder-0.5b-instruct")
