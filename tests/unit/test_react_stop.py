"""A request whose messages carry ReAct instructions stops both tiers at `\\nObservation:`:
small models go on past the action and invent the observation (LangChain's classic ReAct agent
binds this stop itself; LlamaIndex's `ReActAgent` does not)."""

from __future__ import annotations

import pytest
from llama_index.core.agent.react.formatter import ReActChatFormatter
from llama_index.core.llms import ChatMessage as LIChatMessage
from llama_index.core.tools import FunctionTool

from confidence_router import CascadeRouter
from confidence_router.messages import ChatMessage
from confidence_router.tools.react import REACT_STOP, react_stop, tier_stop
from langchain_confidence_router import ChatConfidenceRouter
from llamaindex_confidence_router import ConfidenceRouterLLM

from .helpers import ScriptedBackend, generation


def multiply(a: int, b: int) -> int:
    """Multiply two integers."""
    return a * b


def _llamaindex_react_messages() -> list[dict[str, str]]:
    """The messages LlamaIndex's ReAct agent sends (its own formatter)."""
    chat = ReActChatFormatter.from_defaults().format(
        [FunctionTool.from_defaults(fn=multiply)], chat_history=[], current_reasoning=[]
    )
    return [{"role": m.role.value, "content": m.content or ""} for m in chat] + [
        {"role": "user", "content": "What is 17 times 23?"}
    ]


def test_react_instructions_add_the_stop() -> None:
    react = [ChatMessage.model_validate(m) for m in _llamaindex_react_messages()]
    assert react_stop(react, None) == (REACT_STOP,)
    assert react_stop(react, ["END"]) == ("END", REACT_STOP)
    assert react_stop(react, [REACT_STOP]) == (REACT_STOP,)
    four = ["a", "b", "c", "d"]  # OpenAI's API takes at most 4
    assert react_stop(react, four) == tuple(four)
    # LangChain's classic ReAct agent binds "\nObservation" (no colon): it stops there already
    assert react_stop(react, ["\nObservation"]) == ("\nObservation",)


def test_other_conversations_keep_their_stops() -> None:
    plain = [ChatMessage(role="user", content="What does Observation: mean in ReAct?")]
    assert react_stop(plain, None) is None
    assert react_stop(plain, ["END"]) == ("END",)
    answer_only = [  # an assistant's own text does not count as instructions
        ChatMessage(role="user", content="hi"),
        ChatMessage(role="assistant", content="Action Input: {}\nObservation: x"),
    ]
    assert react_stop(answer_only, None) is None
    pasted = "Explain this log:\nAction Input: {}\nObservation: x"
    later = [  # a log pasted earlier in a chat does not stop every later turn
        ChatMessage(role="user", content=pasted),
        ChatMessage(role="assistant", content="It is a ReAct trace."),
        ChatMessage(role="user", content="Now write me a haiku."),
    ]
    assert react_stop(later, None) is None


def test_a_model_that_takes_no_stop_is_not_sent_the_react_stop() -> None:
    """OpenAI's reasoning models refuse `stop`: a tier named like one gets the user's only."""
    both = ("END", REACT_STOP)
    assert tier_stop(both, "o4-mini") == ("END",)
    assert tier_stop((REACT_STOP,), "gpt-5-mini") is None
    assert tier_stop(both, "qwen2.5-coder-1.5b-instruct") == both
    assert tier_stop(both, "gpt-4o-mini") == both


def test_both_tiers_get_the_stop_on_a_react_request() -> None:
    edge = ScriptedBackend([generation([-5.0])], name="e")
    cloud = ScriptedBackend([generation([], text="Thought: x\nAction: multiply")], name="c")
    router = CascadeRouter(edge, cloud, threshold=0.5)
    router.route(_llamaindex_react_messages())
    router_plain = CascadeRouter(
        ScriptedBackend([generation([-5.0])]), ScriptedBackend([generation([])])
    )
    router_plain.route("What is 17 times 23?", stop=["END"])
    assert edge.calls[0][1].stop == (REACT_STOP,)
    assert cloud.calls[0][1].stop == (REACT_STOP,)
    assert router_plain.cloud.calls[0][1].stop == ("END",)  # type: ignore[attr-defined]


def test_a_reasoning_cloud_is_not_sent_the_react_stop() -> None:
    edge = ScriptedBackend([generation([-5.0])], name="e")
    cloud = ScriptedBackend([generation([], text="Action: multiply")], name="o4-mini")
    CascadeRouter(edge, cloud, threshold=0.5).route(_llamaindex_react_messages())
    assert edge.calls[0][1].stop == (REACT_STOP,)
    assert cloud.calls[0][1].stop == ()


@pytest.mark.parametrize("adapter", ["langchain", "llamaindex"])
def test_a_stop_given_as_a_string_is_one_stop(adapter: str) -> None:
    edge = ScriptedBackend([generation([-0.01])], name="e")
    cloud = ScriptedBackend([], name="c")
    if adapter == "langchain":
        ChatConfidenceRouter(edge=edge, cloud=cloud).invoke("q", stop="END")  # type: ignore[arg-type]
    else:
        llm = ConfidenceRouterLLM(edge=edge, cloud=cloud)
        llm.chat([LIChatMessage(role="user", content="q")], stop="END")
    assert edge.calls[0][1].stop == ("END",)
