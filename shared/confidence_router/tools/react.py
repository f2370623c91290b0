"""The ReAct stop: a request that asks for ReAct steps stops at `\\nObservation:`.

A ReAct agent (LlamaIndex's `ReActAgent`, LangChain's classic ReAct prompt) tells the model to
write `Thought:` / `Action:` / `Action Input:` and says the tool answers with `Observation:`.
Small local models go on past the action and write the observation themselves, then the steps
after it: tokens the agent throws away (it acts on the first action), paid for on both tiers.
LangChain's `create_react_agent` binds `\\nObservation` itself (a prefix of it: nothing is
added then); LlamaIndex's `ReActAgent` binds none. So the router adds it when a system message
or the latest user message carries the instructions (a line beginning `Action Input:` and one
beginning `Observation:`; a log of that shape pasted into the latest user message counts too).
OpenAI's API takes at most 4 stop sequences: a request that already has 4 keeps them as they
are; and OpenAI's reasoning models (o1, o3, o4-mini, gpt-5, ...) take none, so a tier named
like one is not sent it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from confidence_router.messages import ChatMessage

REACT_STOP = "\nObservation:"
_ACTION_INPUT = re.compile(r"^[ \t]*Action Input:", re.MULTILINE)
_OBSERVATION = re.compile(r"^[ \t]*Observation:", re.MULTILINE)
_NO_STOP_MODELS = re.compile(r"^(?:openai/)?(?:o\d|gpt-5)", re.IGNORECASE)
_MAX_STOPS = 4


def _instructs(message: ChatMessage) -> bool:
    return bool(_ACTION_INPUT.search(message.content) and _OBSERVATION.search(message.content))


def asks_for_react(messages: Sequence[ChatMessage]) -> bool:
    """Whether a system message or the latest user message carries ReAct instructions."""
    users = [m for m in messages if m.role == "user"]
    latest = users[-1:] if users else []
    return any(_instructs(m) for m in [*(m for m in messages if m.role == "system"), *latest])


def react_stop(
    messages: Sequence[ChatMessage], stop: Sequence[str] | None
) -> tuple[str, ...] | None:
    """`stop`, with `REACT_STOP` added when the messages ask for ReAct steps."""
    given = tuple(stop or ())
    covered = any(s and REACT_STOP.startswith(s) for s in given)  # e.g. LangChain's own
    if covered or len(given) >= _MAX_STOPS or not asks_for_react(messages):
        return given or None
    return (*given, REACT_STOP)


def tier_stop(stop: Sequence[str] | None, model_name: str) -> Sequence[str] | None:
    """The stop sequences one tier is sent: without `REACT_STOP` for a model that takes none."""
    if not stop or REACT_STOP not in stop or not _NO_STOP_MODELS.match(model_name):
        return stop
    rest = tuple(s for s in stop if s != REACT_STOP)
    return rest or None
