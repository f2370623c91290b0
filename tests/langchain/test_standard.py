"""LangChain's standard chat-model tests against the router on the real local models."""

from __future__ import annotations

from typing import Any

import pytest
from langchain_tests.integration_tests import ChatModelIntegrationTests
from langchain_tests.unit_tests import ChatModelUnitTests

from confidence_router import OpenAIChatModel
from confidence_router.models.llama_cpp import LlamaCppModel
from langchain_confidence_router import ChatConfidenceRouter

MODELS: dict[str, Any] = {}


@pytest.fixture(autouse=True)
def _real_models(edge: LlamaCppModel, cloud: OpenAIChatModel) -> None:
    MODELS.update(edge=edge, cloud=cloud)


class _Params:
    @property
    def chat_model_class(self) -> type[ChatConfidenceRouter]:
        return ChatConfidenceRouter

    @property
    def chat_model_params(self) -> dict[str, Any]:
        return {
            "edge": MODELS["edge"],
            "cloud": MODELS["cloud"],
            "threshold": 0.5,
            "max_new_tokens": 48,
            "cloud_max_new_tokens": 160,
        }

    @property
    def has_tool_choice(self) -> bool:
        return True  # forwarded to both tiers; an edge that ignores it is escalated

    @property
    def returns_usage_metadata(self) -> bool:
        return True

    @property
    def supports_model_override(self) -> bool:
        return False  # two models behind one router: a per-call `model=` has no single meaning


class TestRouterUnit(_Params, ChatModelUnitTests):
    pass


class TestRouterIntegration(_Params, ChatModelIntegrationTests):
    @pytest.mark.xfail(
        reason="capability: with tool_choice='any' and two tools (no grammar: llama.cpp "
        "constrains only a named choice) Qwen2.5-Coder-0.5B (the CI cloud) calls an invented "
        "tool 'hello'; the named choice in the same test is honoured",
        strict=False,
    )
    def test_tool_choice(self, model: Any) -> None:
        super().test_tool_choice(model)


def test_the_suites_run_against_the_router() -> None:
    """The standard suites above assert inside langchain-tests; this pins what they exercise."""
    model = _Params().chat_model_class(**_Params().chat_model_params)
    params = model._get_ls_params()
    assert params["ls_provider"] == "confidence-router"
    assert params["ls_model_name"] == f"{MODELS['edge'].model_name} -> {MODELS['cloud'].model_name}"
