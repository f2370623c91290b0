"""A LlamaIndex `FunctionAgent` on the router, offline: each step's route is printed.

Two tools, the second call needs the first's result ((17 x 23) + 5 = 396). The edge is
Qwen2.5-Coder-0.5B-Instruct in-process (its chat template supports tools); the cloud is the
default, Qwen2.5-Coder-1.5B-Instruct behind the local llama.cpp server (real `tool_calls`, the
project's chat handler). The tools are described by their docstrings: the adapter drops the
signature line LlamaIndex writes in front (`tool_signatures=True` keeps it), on which the 1.5B
loses its way. At the default threshold the edge's steps escalate and the cloud finishes with
396 (what `tests/integration/test_two_step_agents.py` checks).

    pip install torch==2.13.0 && pip install -e ".[local,llamaindex]"
    python examples/llamaindex_agent.py
"""

import asyncio

from llama_index.core.agent.workflow import AgentOutput, FunctionAgent, ToolCallResult

from confidence_router import LlamaCppModel, OpenAIChatModel
from confidence_router.server import LlamaCppServer
from llamaindex_confidence_router import ConfidenceRouterLLM


def multiply(a: int, b: int) -> int:
    """Multiply two integers."""
    return a * b


def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


QUESTION = (
    "What is 17 times 23, plus 5? First use the multiply tool, then use the add tool on its "
    "result. Answer with the final number."
)


async def main() -> None:
    edge = LlamaCppModel("qwen2.5-coder-0.5b-instruct")
    with LlamaCppServer("qwen2.5-coder-1.5b-instruct") as server:
        cloud = OpenAIChatModel(
            server.model_alias, base_url=server.base_url, timeout=300, context_window=server.n_ctx
        )
        llm = ConfidenceRouterLLM(
            edge=edge, cloud=cloud, max_new_tokens=128, cloud_max_new_tokens=256
        )  # the default threshold, 0.5
        agent = FunctionAgent(tools=[multiply, add], llm=llm, streaming=False)
        handler = agent.run(user_msg=QUESTION)
        step = 0
        async for event in handler.stream_events():
            if isinstance(event, AgentOutput) and isinstance(event.raw, dict):
                d = event.raw["routing"]
                calls = ", ".join(f"{c.tool_name}({c.tool_kwargs})" for c in event.tool_calls)
                action = f"calls {calls}" if calls else f"answers {event.response.content!r}"
                why = f"{d['reason']}, confidence {d['confidence']}"
                print(f"step {step}: {d['route']:<5} ({why}) {action}")
                step += 1
            elif isinstance(event, ToolCallResult):
                print(f"  tool -> {event.tool_output.content}")
        print("final:", await handler)


asyncio.run(main())
