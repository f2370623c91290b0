"""The ReAct stop: a request that asks for ReAct steps stops at `\\nObservation:`.

A ReAct agent (LlamaIndex's `ReActAgent`, LangChain's classic ReAct prompt) tells the model to
write `Thought:` / `Action:` / `Action Input:` and says the tool answers with `Observation:`.
Small local models go on past the action and write the observation themselves, then the steps
after it: tokens the agent throws away (it acts on the first action), paid for on both tiers.
LangChain's `create_react_agent` binds this stop itself; LlamaIndex's `ReActAgent` does not.
So the router adds it to a request whose system or user messages carry the instructions (a
line beginning `Action Input:` and one beginning `Observation:`). OpenAI's API takes at most
4 stop sequences: a request that already has 4 keeps them as they are.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from confidence_router.messages import ChatMessage

REACT_STOP = "\nObservation:"
_ACTION_INPUT = re.compile(r"^[ \t]*Action Input:", re.MULTILINE)
_OBSERVATION = re.compile(r"^[ \t]*Observation:", re.MULTILINE)
_MAX_STOPS = 4


def asks_for_react(messages: Sequence[ChatMessage]) -> bool:
    """Whether a system or user message carries ReAct instructions (see the module)."""
    return any(
        m.role in ("system", "user")
        and _ACTION_INPUT.search(m.content)
        and _OBSERVATION.search(m.content)
        for m in messages
    )


def react_stop(
    messages: Sequence[ChatMessage], stop: Sequence[str] | None
) -> tuple[str, ...] | None:
    """`stop`, with `REACT_STOP` added when the messages ask for ReAct steps."""
    given = tuple(stop or ())
    if REACT_STOP in given or len(given) >= _MAX_STOPS or not asks_for_react(messages):
        return given or None
    return (*given, REACT_STOP)
