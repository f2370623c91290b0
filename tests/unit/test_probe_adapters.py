"""A saved probe is one estimator in both adapters: the LangChain chat model and the LlamaIndex
LLM ask the edge for hidden states and keep or escalate on the probe's P(acceptable)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from llama_index.core.llms import ChatMessage as LIChatMessage

from confidence_router.generation import Answer, Generation
from confidence_router.uncertainty.probe import ProbeConfidence, save_probe
from langchain_confidence_router import ChatConfidenceRouter
from llamaindex_confidence_router import ConfidenceRouterLLM

from .helpers import ScriptedBackend, generation
from .test_probe import Edge, hidden, probe


def answers() -> list[Generation]:
    """The probe's logit is the state's dimension 0: 2.0 is kept at 0.5, -2.0 escalates."""
    return [
        Generation(greedy=Answer(text=text, token_ids=(1,), token_logprobs=(-0.1,), hidden=h))
        for text, h in (("edge sure", hidden(2.0)), ("edge unsure", hidden(-2.0)))
    ]


@pytest.mark.parametrize("adapter", ["langchain", "llamaindex"])
def test_a_probe_routes_through_each_adapter(tmp_path: Path, adapter: str) -> None:
    estimator = ProbeConfidence(save_probe(probe(), tmp_path / "p"))
    edge = Edge(answers())
    cloud = ScriptedBackend([generation([], text="cloud")], name="c")
    decisions = []
    if adapter == "langchain":
        chat = ChatConfidenceRouter(edge=edge, cloud=cloud, estimator=estimator, threshold=0.5)
        for _ in range(2):
            reply = chat.invoke("q")
            decisions.append((reply.content, reply.response_metadata["routing"]))
    else:
        llm = ConfidenceRouterLLM(edge=edge, cloud=cloud, estimator=estimator, threshold=0.5)
        for _ in range(2):
            response = llm.chat([LIChatMessage(role="user", content="q")])
            decisions.append((response.message.content, response.raw["routing"]))
    (kept, first), (escalated, second) = decisions
    assert kept == "edge sure" and first["route"] == "edge"
    assert first["confidence"] == pytest.approx(1 / (1 + math.exp(-2.0)))
    assert escalated == "cloud" and second["route"] == "cloud"
    assert second["confidence"] == pytest.approx(1 / (1 + math.exp(2.0)))
    assert all(call[1].hidden_states for call in edge.calls)
