"""The routing server on the real models, with real clients: the `openai` client (sync, async,
stream, tools, a two-step tool loop, structured output), LangChain's `ChatOpenAI` (invoke,
stream, bind_tools, create_agent) and the project's own `OpenAIChatModel` as a tier."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator

import openai
import pytest
import uvicorn

from confidence_router import CascadeRouter, OpenAIChatModel
from confidence_router.models.llama_cpp import LlamaCppModel
from confidence_router.serve import ServeSettings, create_app
from confidence_router.serve.health import cloud_health
from confidence_router.server import free_port

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "multiply",
            "description": "Multiply two integers.",
            "parameters": {
                "type": "object",
                "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}},
                "required": ["a", "b"],
            },
        },
    }
]

# "... Use the multiply tool." alone: after the tool's result both the 0.5B and the 1.5B call
# the tool again (the router escalates the edge's repeat as `repeated_tool_call`, the 1.5B
# repeats too); asked for the number, both answer it.
MULTIPLY = "What is 17 times 23? Use the multiply tool, then answer with the number."


@pytest.fixture(scope="module")
def served(edge: LlamaCppModel, big_cloud: OpenAIChatModel) -> Iterator[str]:
    """The app over the default local models (the 0.5B edge in-process, the 1.5B cloud on
    the local server), on a free port; yields its /v1 URL."""
    router = CascadeRouter(edge, big_cloud, max_new_tokens=64, cloud_max_new_tokens=128)
    app = create_app(router, ServeSettings(max_concurrency=4), health=cloud_health(big_cloud))
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, port=port, log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}/v1"
    server.should_exit = True
    thread.join(10)


def client(url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=url, api_key="none", timeout=300, max_retries=0)


def test_openai_client_sync_async_and_headers(served: str) -> None:
    raw = client(served).chat.completions.with_raw_response.create(
        model="confidence-router",
        messages=[{"role": "user", "content": "What is the capital of France?"}],
        extra_body={"threshold": 1.0},
    )
    reply = raw.parse()
    assert "Paris" in (reply.choices[0].message.content or "")
    assert raw.headers["x-routing-route"] == "cloud"
    assert reply.model_extra is not None and reply.model_extra["routing"]["route"] == "cloud"

    async def ask() -> str:
        api = openai.AsyncOpenAI(base_url=served, api_key="none", timeout=300, max_retries=0)
        answer = await api.chat.completions.create(
            model="m", messages=[{"role": "user", "content": "Say hello."}]
        )
        return answer.choices[0].message.content or ""

    assert asyncio.run(ask())


def test_openai_client_stream_with_usage(served: str) -> None:
    chunks = list(
        client(served).chat.completions.create(
            model="m",
            messages=[{"role": "user", "content": "Count from one to five."}],
            stream=True,
            stream_options={"include_usage": True},
            extra_body={"threshold": 1.0},
        )
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert "three" in text.lower() or "3" in text
    assert chunks[-1].usage is not None and chunks[-1].usage.total_tokens > 0


def test_a_two_step_tool_loop_over_the_wire(served: str) -> None:
    api = client(served)
    messages: list[dict[str, object]] = [{"role": "user", "content": MULTIPLY}]
    cloud = {"threshold": 1.0}  # the wire is under test here; agents at the default: see
    # test_two_step_agents.py
    first = api.chat.completions.create(model="m", messages=messages, tools=TOOLS, extra_body=cloud)  # type: ignore[arg-type]
    call = first.choices[0].message.tool_calls[0]  # type: ignore[index]
    args = json.loads(call.function.arguments)  # type: ignore[union-attr]
    assert call.function.name == "multiply" and {args["a"], args["b"]} == {17, 23}  # type: ignore[union-attr]
    messages += [
        first.choices[0].message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": call.id, "content": str(args["a"] * args["b"])},
    ]
    final = api.chat.completions.create(model="m", messages=messages, tools=TOOLS, extra_body=cloud)  # type: ignore[arg-type]
    routing = final.model_extra["routing"] if final.model_extra else {}
    assert "391" in (final.choices[0].message.content or ""), routing


def test_structured_output_over_the_wire(served: str) -> None:
    schema = {
        "type": "object",
        "properties": {"city": {"type": "string"}, "country": {"type": "string"}},
        "required": ["city", "country"],
    }
    reply = client(served).chat.completions.create(
        model="m",
        messages=[{"role": "user", "content": "I flew to Paris, France. Where did I go?"}],
        response_format={"type": "json_schema", "json_schema": {"name": "place", "schema": schema}},
    )
    place = json.loads(reply.choices[0].message.content or "{}")
    assert place["city"] == "Paris" and place["country"] == "France"


def test_langchain_chat_openai_through_the_server(served: str) -> None:
    from langchain_core.tools import tool
    from langchain_openai import ChatOpenAI

    chat = ChatOpenAI(model="m", base_url=served, api_key="none", timeout=300)  # type: ignore[arg-type]
    assert "Paris" in chat.invoke("What is the capital of France? One word.").text
    streamed = "".join(c.text for c in chat.stream("Name two colours."))
    assert streamed

    @tool
    def multiply(a: int, b: int) -> int:
        """Multiply two integers."""
        return a * b

    bound = chat.bind_tools([multiply]).invoke("What is 6 times 7? Use the multiply tool.")
    assert bound.tool_calls and bound.tool_calls[0]["name"] == "multiply"

    from langchain.agents import create_agent
    from langchain_core.messages import AIMessage

    # every step on the cloud: the wire is under test (at the default threshold the 0.5B edge's
    # second step is the answered call again, which escalates, and the 1.5B then repeats it too;
    # this test used to pass on that step's raw JSON, kept as text, whose arguments held 391)
    on_cloud = ChatOpenAI(
        model="m",
        base_url=served,
        api_key="none",  # type: ignore[arg-type]
        timeout=300,
        extra_body={"threshold": 1.0},
    )
    agent = create_agent(model=on_cloud, tools=[multiply])
    result = agent.invoke({"messages": [("user", MULTIPLY)]})
    final = [m for m in result["messages"] if isinstance(m, AIMessage)][-1]
    assert "391" in final.text and '"name"' not in final.text, final.text


def test_the_server_as_a_tier_of_another_router(served: str, edge: LlamaCppModel) -> None:
    remote = OpenAIChatModel("confidence-router", base_url=served, timeout=300)
    outer = CascadeRouter(edge, remote, threshold=1.0, max_new_tokens=16)
    answer = outer.route("What is the capital of Italy?")
    assert answer.route == "cloud" and "Rome" in answer.text


def test_health_and_metrics(served: str) -> None:
    import httpx

    root = served.removesuffix("/v1")
    assert httpx.get(f"{root}/health", timeout=10).json()["status"] == "ok"
    metrics = httpx.get(f"{root}/metrics", timeout=10).text
    assert "confidence_router_requests_total" in metrics
