"""Three tiers behind the LlamaIndex adapter (scripted tiers)."""

from __future__ import annotations

import math

from llama_index.core.llms import ChatMessage

from llamaindex_confidence_router import ConfidenceRouterLLM
from tests.unit.helpers import ScriptedBackend, generation


def answer(p: float, text: str) -> object:
    return generation([math.log(p)] * 3, text=text)


def test_three_tiers_through_llamaindex() -> None:
    tiers = [
        ScriptedBackend([answer(0.5, "s")], name="small"),
        ScriptedBackend([answer(0.7, "medium")], name="medium"),
        ScriptedBackend([], name="large"),
    ]
    llm = ConfidenceRouterLLM(tiers=tiers, threshold=[0.8, 0.6])
    out = llm.chat([ChatMessage(role="user", content="q")])
    assert out.message.content == "medium"
    assert (out.raw["routing"]["tier_index"], out.raw["routing"]["tier"]) == (1, "medium")
