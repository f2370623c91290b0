"""Three tiers and sticky routing behind the LangChain adapter (scripted tiers)."""

from __future__ import annotations

import math

from confidence_router import StickyRouting
from langchain_confidence_router import ChatConfidenceRouter
from tests.unit.helpers import ScriptedBackend, generation


def answer(p: float, text: str) -> object:
    return generation([math.log(p)] * 3, text=text)


def test_three_tiers_and_a_conversation_id_through_langchain() -> None:
    small = ScriptedBackend([answer(0.5, "s"), answer(0.99, "s2")], name="small")
    medium = ScriptedBackend([answer(0.5, "m")], name="medium")
    large = ScriptedBackend([answer(0.9, "large"), answer(0.9, "large again")], name="large")
    chat = ChatConfidenceRouter(
        tiers=[small, medium, large], threshold=[0.8, 0.6], sticky=StickyRouting()
    )
    assert chat.threshold == 0.8
    first = chat.invoke("hard", conversation_id="c1")
    routing = first.response_metadata["routing"]
    assert (first.content, routing["tier_index"], routing["tier"]) == ("large", 2, "large")
    assert [t["model"] for t in routing["tiers"]] == ["small", "medium", "large"]
    again = chat.invoke("a different text, the same conversation", conversation_id="c1")
    assert again.content == "large again" and again.response_metadata["routing"]["sticky"]
    assert [len(t.calls) for t in (small, medium, large)] == [1, 1, 2]
    assert chat.invoke("fresh", conversation_id="c2").content == "s2"
