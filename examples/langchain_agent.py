"""A LangChain agent (`create_agent`) on the router, offline: each step's route is printed.

Two tools, the second call needs the first's result ((17 x 23) + 5 = 396). The edge is
Qwen2.5-Coder-0.5B-Instruct in-process (its chat template supports tools); the cloud is the
default, Qwen2.5-Coder-1.5B-Instruct behind the local llama.cpp server, which returns real
`tool_calls` (the project's chat handler). At the default threshold the edge makes the first
call; its next steps repeat or garble calls and escalate (`repeated_tool_call`,
`invalid_tool_call`), and the cloud finishes with 396 (what `tests/integration/
test_two_step_agents.py` checks).

    pip install torch==2.13.0 && pip install -e ".[local,langchain]"
    python examples/langchain_agent.py
"""

from langchain.agents import create_agent
from langchain_core.messages import AIMessage
from langchain_core.tools import tool

from confidence_router import LlamaCppModel, OpenAIChatModel
from confidence_router.server import LlamaCppServer
from langchain_confidence_router import ChatConfidenceRouter


@tool
def multiply(a: int, b: int) -> int:
    """Multiply two integers."""
    return a * b


@tool
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


QUESTION = (
    "What is 17 times 23, plus 5? First use the multiply tool, then use the add tool on its "
    "result. Answer with the final number."
)

edge = LlamaCppModel("qwen2.5-coder-0.5b-instruct")
with LlamaCppServer("qwen2.5-coder-1.5b-instruct") as server:
    cloud = OpenAIChatModel(server.model_alias, base_url=server.base_url, timeout=300)
    chat = ChatConfidenceRouter(
        edge=edge, cloud=cloud, max_new_tokens=128, cloud_max_new_tokens=256
    )  # the default threshold, 0.5
    agent = create_agent(model=chat, tools=[multiply, add])
    result = agent.invoke({"messages": [{"role": "user", "content": QUESTION}]})
    for step, message in enumerate(m for m in result["messages"] if isinstance(m, AIMessage)):
        routing = message.response_metadata["routing"]
        calls = ", ".join(f"{c['name']}({c['args']})" for c in message.tool_calls)
        action = f"calls {calls}" if calls else f"answers {message.text[:80]!r}"
        print(
            f"step {step}: {routing['route']:<5} ({routing['reason']}, confidence "
            f"{routing['confidence']}) {action}"
        )
    print("final:", result["messages"][-1].text)
