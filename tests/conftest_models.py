"""Real-model fixtures: bundled edges in-process on llama.cpp (the fast default runtime) and on
transformers, a real llama.cpp server on 127.0.0.1."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from confidence_router import OpenAIChatModel
from confidence_router.models.llama_cpp import LlamaCppModel
from confidence_router.models.transformers import TransformersModel
from confidence_router.server import LlamaCppServer

# CI serves Qwen2.5-Coder-0.5B as the cloud to stay fast; the demo uses the 1.5B.
CLOUD_MODEL = os.environ.get("CONFIDENCE_ROUTER_TEST_CLOUD", "qwen2.5-coder-0.5b-instruct")


@pytest.fixture(scope="session")
def edge() -> Iterator[LlamaCppModel]:
    """The default edge: Qwen2.5-Coder-0.5B-Instruct on llama.cpp (tool-capable)."""
    with LlamaCppModel("qwen2.5-coder-0.5b-instruct") as model:
        yield model


@pytest.fixture(scope="session")
def small_edge() -> Iterator[LlamaCppModel]:
    """SmolLM2-135M on llama.cpp: its chat template has no tools (the tests of requests an edge
    cannot take need one)."""
    with LlamaCppModel("smollm2-135m-instruct") as model:
        yield model


@pytest.fixture(scope="session")
def transformers_edge() -> TransformersModel:
    """The transformers runtime, for the tests of that backend itself."""
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
def qwen_edge(edge: LlamaCppModel) -> LlamaCppModel:
    """The tool-capable edge of the agent tests: the default edge."""
    return edge
