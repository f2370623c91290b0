"""`langchain.agents.create_agent` with the router: a real tool loop, routed per step.

The edge is Qwen2.5-Coder-0.5B-Instruct in-process (its chat template has tools); the cloud is the
local llama.cpp server. At threshold 0.98 the edge's tool call (scored on the tool-name and
argument tokens) stays at the edge and its weaker final answer is escalated.
"""

from __future__ import annotations

from langchain.agents import create_agent
from langchain_core.messages import AIMessage, ToolMessage
from langchain_core.tools import tool

from confidence_router import OpenAIChatModel
from confidence_router.models.llama_cpp import LlamaCppModel
from langchain_confidence_router import ChatConfidenceRouter

CALLS: list[str] = []


@tool
def get_weather(city: str) -> str:
    """Get the current weather for a city."""
    CALLS.append(city)
    return f"It is sunny and 22 degrees Celsius in {city}."


def test_agent_routes_each_step(qwen_edge: LlamaCppModel, cloud: OpenAIChatModel) -> None:
    chat = ChatConfidenceRouter(
        edge=qwen_edge, cloud=cloud, threshold=0.98, max_new_tokens=64, cloud_max_new_tokens=128
    )
    agent = create_agent(model=chat, tools=[get_weather])
    result = agent.invoke(
        {"messages": [{"role": "user", "content": "What's the weather in Paris?"}]}
    )
    steps = [m for m in result["messages"] if isinstance(m, AIMessage)]
    routes = [(m.response_metadata["routing"]["route"], bool(m.tool_calls)) for m in steps]
    assert ("edge", True) in routes, routes  # a tool step answered at the edge
    assert any(route == "cloud" for route, _ in routes), routes  # and one escalated
    assert any(isinstance(m, ToolMessage) and "sunny" in m.text for m in result["messages"])
    assert CALLS and CALLS[0].lower().startswith("paris")
    final = steps[-1]
    assert not final.tool_calls and "22" in final.text
