"""Two-step agents on the default local stack: two tools, the second call needs the first's
result ((17 x 23) + 5 = 396). Through LangChain `create_agent`, LlamaIndex `FunctionAgent` and
`ReActAgent`: once with every step forced to the default 1.5B cloud (threshold 1.0), once at
the default threshold with the default edge (the test reports which steps stayed at the edge).
The cloud answers over the wire through the local server's chat handler (real `tool_calls`)."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from langchain.agents import create_agent
from langchain_core.messages import AIMessage
from langchain_core.tools import tool
from llama_index.core.agent.workflow import AgentOutput, FunctionAgent, ReActAgent
from llama_index.core.tools import FunctionTool

from confidence_router import OpenAIChatModel, StickyRouting
from confidence_router.models.llama_cpp import LlamaCppModel
from langchain_confidence_router import ChatConfidenceRouter
from llamaindex_confidence_router import ConfidenceRouterLLM

QUESTION = (
    "What is 17 times 23, plus 5? First use the multiply tool, then use the add tool on its "
    "result. Answer with the final number."
)
ANSWER = "396"
# Measured on the default local models (greedy), with the messages that reached the cloud
# recorded: LangChain finishes at both thresholds (at the default one the 0.5B edge makes the
# first call; its second step, the answered call and the next one as JSON lines, escalates as a
# repeat; its third, a run of calls cut off at the token limit, as an invalid call; the cloud
# answers 396). LlamaIndex's FunctionAgent finishes at both since the adapter drops the
# signature line LlamaIndex writes in front of a tool's docstring ("multiply(a: 'int', b:
# 'int') -> 'int'", with which the 1.5B called `multiply` again after 396); at the default
# threshold every step escalates. The ReActAgent's prompt is LlamaIndex's own (tool
# descriptions included): the 1.5B answers 391 right after the first observation ("Observation:
# 391" as a user message), and at the default threshold the 0.5B edge confidently answers 411.
# Rechecked with the ReAct stop (\nObservation:): the same. A known limit of the small
# models, not passed off as working (issue 19).
SMALL_MODELS = pytest.mark.xfail(
    reason="the default 0.5B/1.5B models stop the ReAct loop after the first observation",
    strict=False,
)
THRESHOLDS = [pytest.param(1.0, id="cloud-only"), pytest.param(0.5, id="default-threshold")]


def multiply(a: int, b: int) -> int:
    """Multiply two integers."""
    return a * b


def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


@pytest.mark.parametrize("threshold", THRESHOLDS)
def test_langchain_create_agent(
    qwen_edge: LlamaCppModel, big_cloud: OpenAIChatModel, threshold: float
) -> None:
    chat = ChatConfidenceRouter(
        edge=qwen_edge, cloud=big_cloud, threshold=threshold, max_new_tokens=128,
        cloud_max_new_tokens=256,
    )  # fmt: skip
    agent = create_agent(model=chat, tools=[tool(multiply), tool(add)])
    result = agent.invoke({"messages": [{"role": "user", "content": QUESTION}]})
    steps = [m for m in result["messages"] if isinstance(m, AIMessage)]
    routes = [m.response_metadata["routing"]["route"] for m in steps]
    print(f"create_agent at threshold {threshold}: steps {routes}")
    called = [c["name"] for m in steps for c in m.tool_calls]
    assert called[:2] == ["multiply", "add"], (called, routes)
    assert ANSWER in steps[-1].text, (steps[-1].text, routes)
    if threshold == 1.0:
        assert set(routes) == {"cloud"}


async def _run(agent: Any) -> tuple[list[str], list[str], str]:
    handler = agent.run(user_msg=QUESTION)
    routes: list[str] = []
    tools: list[str] = []
    async for event in handler.stream_events():
        if isinstance(event, AgentOutput) and isinstance(event.raw, dict):
            routes.append(event.raw["routing"]["route"])
            tools += [call.tool_name for call in event.tool_calls]
    return routes, tools, str(await handler)


@pytest.mark.parametrize("threshold", THRESHOLDS)
@pytest.mark.parametrize("kind", ["function", pytest.param("react", marks=SMALL_MODELS)])
async def test_llamaindex_agents(
    qwen_edge: LlamaCppModel, big_cloud: OpenAIChatModel, threshold: float, kind: str
) -> None:
    llm = ConfidenceRouterLLM(
        edge=qwen_edge, cloud=big_cloud, threshold=threshold, max_new_tokens=128,
        cloud_max_new_tokens=256,
    )  # fmt: skip
    tools = [FunctionTool.from_defaults(fn=multiply), FunctionTool.from_defaults(fn=add)]
    agent_type = FunctionAgent if kind == "function" else ReActAgent
    agent = agent_type(tools=tools, llm=llm, streaming=False)
    routes, called, final = await _run(agent)
    print(f"{kind} agent at threshold {threshold}: steps {routes}, tools {called}")
    assert "multiply" in called and "add" in called, (called, routes)
    assert ANSWER in final, (final, routes)
    if threshold == 1.0:
        assert set(routes) == {"cloud"}


def _switches(routes: list[str]) -> int:
    return sum(a != b for a, b in itertools.pairwise(routes))


def test_sticky_routing_keeps_an_agent_on_the_tier_it_escalated_to(
    qwen_edge: LlamaCppModel, big_cloud: OpenAIChatModel
) -> None:
    """The same agent run with and without `sticky`: with it, no step after an escalated one
    goes back to the edge (the test reports the tier switches of both runs)."""
    runs = {}
    for sticky in (None, StickyRouting()):
        chat = ChatConfidenceRouter(
            edge=qwen_edge, cloud=big_cloud, threshold=0.9, max_new_tokens=128,
            cloud_max_new_tokens=256, sticky=sticky,
        )  # fmt: skip
        agent = create_agent(model=chat, tools=[tool(multiply), tool(add)])
        result = agent.invoke({"messages": [{"role": "user", "content": QUESTION}]})
        steps = [m for m in result["messages"] if isinstance(m, AIMessage)]
        runs[sticky is not None] = [m.response_metadata["routing"]["route"] for m in steps]
    print(f"tier switches: without sticky {_switches(runs[False])} {runs[False]}, "
          f"with sticky {_switches(runs[True])} {runs[True]}")  # fmt: skip
    with_sticky = runs[True]
    if "cloud" in with_sticky:
        first = with_sticky.index("cloud")
        assert set(with_sticky[first:]) == {"cloud"}, with_sticky
    assert _switches(with_sticky) <= 1
