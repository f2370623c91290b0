"""A LlamaIndex `FunctionAgent` on the router, offline: each step's route is printed.

The edge is Qwen2.5-Coder-0.5B-Instruct in-process (its chat template supports tools); the cloud
is the default, Qwen2.5-Coder-1.5B-Instruct behind the local llama.cpp server (real `tool_calls`,
the project's chat handler). At
threshold 0.98 the edge's tool call (scored on the tool-name and argument tokens) stays at the
edge and a weaker final answer goes to the cloud.

    pip install torch==2.13.0 && pip install -e ".[local,llamaindex]"
    python examples/llamaindex_agent.py
"""

import asyncio

from llama_index.core.agent.workflow import AgentOutput, FunctionAgent, ToolCallResult

from confidence_router import LlamaCppModel, OpenAIChatModel
from confidence_router.server import LlamaCppServer
from llamaindex_confidence_router import ConfidenceRouterLLM


def get_weather(city: str) -> str:
    """Get the current weather for a city."""
    return f"It is sunny and 22 degrees Celsius in {city}."


async def main() -> None:
    edge = LlamaCppModel()
    with LlamaCppServer("qwen2.5-coder-1.5b-instruct") as server:
        cloud = OpenAIChatModel(
            server.model_alias, base_url=server.base_url, timeout=300, context_window=server.n_ctx
        )
        llm = ConfidenceRouterLLM(edge=edge, cloud=cloud, threshold=0.98, max_new_tokens=96)
        agent = FunctionAgent(tools=[get_weather], llm=llm)
        handler = agent.run(user_msg="What's the weather in Paris?")
        step = 0
        async for event in handler.stream_events():
            if isinstance(event, AgentOutput) and isinstance(event.raw, dict):
                d = event.raw["routing"]
                action = (
                    f"calls {event.tool_calls[0].tool_name}({event.tool_calls[0].tool_kwargs})"
                    if event.tool_calls
                    else f"answers {event.response.content!r}"
                )
                why = f"{d['reason']}, confidence {d['confidence']}"
                print(f"step {step}: {d['route']:<5} ({why}) {action}")
                step += 1
            elif isinstance(event, ToolCallResult):
                print(f"  tool -> {event.tool_output.content}")
        print("final:", await handler)


asyncio.run(main())
