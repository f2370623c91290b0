"""A request whose messages carry ReAct instructions stops both tiers at `\\nObservation:`:
small models go on past the action and invent the observation (LangChain's classic ReAct agent
binds this stop itself; LlamaIndex's `ReActAgent` does not)."""

from __future__ import annotations

from llama_index.core.agent.react.formatter import ReActChatFormatter
from llama_index.core.tools import FunctionTool

from confidence_router import CascadeRouter
from confidence_router.messages import ChatMessage
from confidence_router.tools.react import REACT_STOP, react_stop

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
    react = [ChatMessage(**m) for m in _llamaindex_react_messages()]
    assert react_stop(react, None) == (REACT_STOP,)
    assert react_stop(react, ["END"]) == ("END", REACT_STOP)
    assert react_stop(react, [REACT_STOP]) == (REACT_STOP,)
    four = ["a", "b", "c", "d"]  # OpenAI's API takes at most 4
    assert react_stop(react, four) == tuple(four)


def test_other_conversations_keep_their_stops() -> None:
    plain = [ChatMessage(role="user", content="What does Observation: mean in ReAct?")]
    assert react_stop(plain, None) is None
    assert react_stop(plain, ["END"]) == ("END",)
    answer_only = [  # an assistant's own text does not count as instructions
        ChatMessage(role="user", content="hi"),
        ChatMessage(role="assistant", content="Action Input: {}\nObservation: x"),
    ]
    assert react_stop(answer_only, None) is None


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
