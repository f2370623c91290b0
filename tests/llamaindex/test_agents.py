"""LlamaIndex agents on the router: real tool loops, routed per step.

The edge is Qwen2.5-Coder-0.5B-Instruct in-process (its chat template has tools), the cloud the
local llama.cpp server. At threshold 0.98 the edge's tool call (scored on its tool-name and
argument tokens) stays at the edge and the weaker final answer is escalated.
"""

from __future__ import annotations

from typing import Any

import pytest
from llama_index.core.agent.workflow import (
    AgentOutput,
    AgentWorkflow,
    FunctionAgent,
    ReActAgent,
    ToolCallResult,
)
from llama_index.core.tools import FunctionTool

from confidence_router import OpenAIChatModel
from confidence_router.models.llama_cpp import LlamaCppModel
from llamaindex_confidence_router import ConfidenceRouterLLM

QUESTION = "What's the weather in Paris?"


def get_weather(city: str) -> str:
    """Get the current weather for a city."""
    return f"It is sunny and 22 degrees Celsius in {city}."


WEATHER = FunctionTool.from_defaults(fn=get_weather)


@pytest.fixture(scope="module")
def router(qwen_edge: LlamaCppModel, cloud: OpenAIChatModel) -> ConfidenceRouterLLM:
    return ConfidenceRouterLLM(
        edge=qwen_edge, cloud=cloud, threshold=0.98, max_new_tokens=96, cloud_max_new_tokens=128
    )


async def run(agent: Any) -> tuple[list[tuple[str, bool]], list[ToolCallResult], str]:
    """(route and whether it called a tool, per step), the tool results, the final answer."""
    handler = agent.run(user_msg=QUESTION)
    steps: list[tuple[str, bool]] = []
    results: list[ToolCallResult] = []
    async for event in handler.stream_events():
        if isinstance(event, AgentOutput) and isinstance(event.raw, dict):
            steps.append((event.raw["routing"]["route"], bool(event.tool_calls)))
        elif isinstance(event, ToolCallResult):
            results.append(event)
    final = await handler
    return steps, results, str(final)


def called_the_tool(results: list[ToolCallResult]) -> bool:
    return any(
        r.tool_name == "get_weather" and str(r.tool_kwargs.get("city", "")).lower() == "paris"
        for r in results
    )


@pytest.mark.parametrize("streaming", [False, True], ids=["blocking", "streaming"])
async def test_function_agent(router: ConfidenceRouterLLM, streaming: bool) -> None:
    agent = FunctionAgent(tools=[WEATHER], llm=router, streaming=streaming)
    steps, results, final = await run(agent)
    assert ("edge", True) in steps, steps  # a tool step answered at the edge
    assert any(route == "cloud" for route, _ in steps), steps  # and one escalated
    assert called_the_tool(results) and "22" in final


async def test_react_agent(qwen_edge: LlamaCppModel, big_cloud: OpenAIChatModel) -> None:
    """Streaming on (the FunctionAgent tests cover both; each ReAct run costs minutes here)."""
    router = ConfidenceRouterLLM(
        edge=qwen_edge, cloud=big_cloud, threshold=0.98, max_new_tokens=96, cloud_max_new_tokens=128
    )
    agent = ReActAgent(tools=[WEATHER], llm=router, streaming=True)
    steps, results, final = await run(agent)
    assert steps and {route for route, _ in steps} <= {"edge", "cloud"}
    assert called_the_tool(results), (steps, results)
    assert "22" in final or "sunny" in final.lower()


async def test_agent_workflow(router: ConfidenceRouterLLM) -> None:
    weather_agent = FunctionAgent(
        name="weather",
        description="Answers weather questions.",
        tools=[WEATHER],
        llm=router,
        streaming=True,
    )
    workflow = AgentWorkflow(agents=[weather_agent], root_agent="weather")
    steps, results, final = await run(workflow)
    assert ("edge", True) in steps and any(route == "cloud" for route, _ in steps), steps
    assert called_the_tool(results) and "22" in final
