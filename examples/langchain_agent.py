"""A LangChain agent (`create_agent`) on the router, offline: each step's route is printed.

The edge is Qwen2.5-Coder-0.5B-Instruct in-process (its chat template supports tools); the cloud is
the default, Qwen2.5-Coder-1.5B-Instruct behind the local llama.cpp server, which returns real
`tool_calls` (the project's chat handler).

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
def get_weather(city: str) -> str:
    """Get the current weather for a city."""
    return f"It is sunny and 22 degrees Celsius in {city}."


edge = LlamaCppModel()
with LlamaCppServer("qwen2.5-coder-1.5b-instruct") as server:
    cloud = OpenAIChatModel(server.model_alias, base_url=server.base_url, timeout=300)
    chat = ChatConfidenceRouter(edge=edge, cloud=cloud, threshold=0.98, max_new_tokens=96)
    agent = create_agent(model=chat, tools=[get_weather])
    result = agent.invoke(
        {"messages": [{"role": "user", "content": "What's the weather in Paris?"}]}
    )
    for step, message in enumerate(m for m in result["messages"] if isinstance(m, AIMessage)):
        routing = message.response_metadata["routing"]
        action = f"calls {message.tool_calls[0]['name']}" if message.tool_calls else "answers"
        print(
            f"step {step}: {routing['route']:<5} ({routing['reason']}, confidence "
            f"{routing['confidence']}) {action}: {message.text[:80]!r}"
        )
