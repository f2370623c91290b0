"""The routing server on Ray Serve, on a local Ray instance (2 CPUs): two replicas, each with its
own real edge (Qwen2.5-Coder-0.5B on llama.cpp, one thread, like the `edge` fixture) over the
real local cloud server. Answers are spread over both replicas; a replica killed while requests
are in flight ends each of them answered or as a clean OpenAI-format error (a 5xx, or an error
event in a stream), none hangs, and Serve replaces it.

Skipped unless the `[ray]` extra is installed and CONFIDENCE_ROUTER_RAY_TESTS=1 (tests/conftest.py):
    CONFIDENCE_ROUTER_RAY_TESTS=1 python -m pytest tests/integration/test_ray_serve.py -v
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import openai
import pytest

from confidence_router.serve.command import DEFAULTS
from confidence_router.serve.ray_app import APP_NAME, REPLICA_HEADER, build_ray_app
from confidence_router.server import LlamaCppServer, free_port

pytestmark = [pytest.mark.integration, pytest.mark.ray]

EDGE = "qwen2.5-coder-0.5b-instruct"  # the `edge` fixture's model; each replica loads its own
DEADLINE_S = 120.0  # each request's client timeout: past it a request counts as hung
QUESTIONS = [
    "What is the capital of France?",
    "Name a primary colour.",
    "What is 7 times 8?",
    "Write a Python expression that adds 2 and 3.",
]


@pytest.fixture(scope="module")
def ray_served(cloud_server: LlamaCppServer) -> Iterator[str]:
    """Two replicas (0.5 CPU, one edge thread each) behind the gateway on a free port; yields
    the /v1 URL. Serve and Ray are shut down afterwards."""
    import ray
    from ray import serve

    ray.init(address="local", num_cpus=2, include_dashboard=False)
    try:
        port = free_port()
        serve.start(http_options={"host": "127.0.0.1", "port": port})
        config = {
            **DEFAULTS,
            "edge_model": EDGE,
            "edge_runtime": "llama_cpp",
            "cloud_base_url": cloud_server.base_url,
            "cloud_model": cloud_server.model_alias,
            "cloud_options": {"timeout": 60.0, "context_window": cloud_server.n_ctx},
            "replicas": 2,
            "ray_num_cpus": 0.5,
            "max_new_tokens": 32,
            "request_timeout_s": 90.0,
        }
        serve.run(build_ray_app(config), name=APP_NAME, route_prefix="/")
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        serve.shutdown()
        ray.shutdown()


def _api(url: str) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=url, api_key="none", timeout=DEADLINE_S, max_retries=0)


def _ask(i: int) -> list[Any]:
    return [{"role": "user", "content": QUESTIONS[i % len(QUESTIONS)]}]


async def _answer(api: openai.AsyncOpenAI, i: int, max_tokens: int = 8) -> tuple[str, str]:
    """One plain request: (the replica that answered, the text)."""
    raw = await api.chat.completions.with_raw_response.create(
        model="confidence-router", messages=_ask(i), max_tokens=max_tokens
    )
    return raw.headers[REPLICA_HEADER], raw.parse().choices[0].message.content or ""


def test_answers_are_spread_over_both_replicas(ray_served: str) -> None:
    async def run() -> list[tuple[str, str]]:
        api = _api(ray_served)
        return list(await asyncio.gather(*(_answer(api, i) for i in range(12))))

    answers = asyncio.run(run())
    replicas = Counter(replica for replica, _ in answers)
    assert len(replicas) == 2, replicas
    assert all(text.strip() for _, text in answers), answers


async def _outcome(api: openai.AsyncOpenAI, i: int, started: asyncio.Queue[str]) -> tuple[str, Any]:
    """How request i ended: answered, `status <code>` with the error body, `error event` (a
    stream that ended with an OpenAI-format error), truncated, dropped or hung. Odd ones stream;
    a stream reports its replica on `started` as soon as its headers are in."""
    try:
        if i % 2:
            stream = await api.chat.completions.create(
                model="confidence-router", messages=_ask(i), max_tokens=32, stream=True
            )
            started.put_nowait(stream.response.headers[REPLICA_HEADER])
            chunks = [c async for c in stream if c.choices]
            if not chunks or chunks[-1].choices[0].finish_reason is None:
                return "truncated", chunks  # ended with neither its finish nor an error
            return "answered", "".join(c.choices[0].delta.content or "" for c in chunks)
        return "answered", (await _answer(api, i, max_tokens=32))[1]
    except openai.APITimeoutError:
        return "hung", None
    except openai.APIConnectionError as exc:
        return "dropped", repr(exc)
    except openai.APIStatusError as exc:
        return f"status {exc.status_code}", exc.body
    except openai.APIError as exc:
        return "error event", exc.body


def _running_replicas() -> int:
    from ray import serve

    app = serve.status().applications.get(APP_NAME)
    if app is None or "RouterReplica" not in app.deployments:
        return 0
    states = app.deployments["RouterReplica"].replica_states
    return sum(n for state, n in states.items() if str(getattr(state, "value", state)) == "RUNNING")


def test_a_killed_replica_ends_its_requests_cleanly_and_is_replaced(ray_served: str) -> None:
    import ray

    async def run() -> tuple[str, list[tuple[str, Any]]]:
        api = _api(ray_served)
        started: asyncio.Queue[str] = asyncio.Queue()
        tasks = [asyncio.create_task(_outcome(api, i, started)) for i in range(12)]
        victim = await asyncio.wait_for(started.get(), DEADLINE_S)  # a stream it is answering
        ray.kill(ray.get_actor(victim, namespace="serve"), no_restart=True)
        outcomes = await asyncio.wait_for(asyncio.gather(*tasks), DEADLINE_S + 30)
        return victim, list(outcomes)

    victim, outcomes = asyncio.run(run())
    kinds = Counter(kind for kind, _ in outcomes)
    assert not {"hung", "dropped", "truncated"} & set(kinds), outcomes
    for kind, detail in outcomes:
        if kind == "answered":
            assert isinstance(detail, str), outcomes
        elif kind.startswith("status "):
            assert int(kind.split()[1]) >= 500, outcomes
            assert isinstance(detail, dict) and detail.get("message") and detail.get("type"), kind
        else:
            assert kind == "error event" and isinstance(detail, dict) and detail.get("message")
    assert kinds["answered"] < len(outcomes), f"the kill interrupted nothing: {kinds}"

    deadline = time.monotonic() + 180
    while _running_replicas() != 2 or victim in _replica_actors() or len(_replica_actors()) != 2:
        assert time.monotonic() < deadline, "Serve did not replace the killed replica"
        time.sleep(1.0)

    async def after() -> set[str]:
        api, seen = _api(ray_served), set[str]()
        while len(seen) < 2 and time.monotonic() < deadline + 60:  # rounds of 8 at once
            answers = await asyncio.gather(
                *(_answer(api, i) for i in range(8)), return_exceptions=True
            )
            seen |= {a[0] for a in answers if isinstance(a, tuple)}  # routing may lag a moment
        return seen

    replicas = asyncio.run(after())
    assert len(replicas) == 2 and victim not in replicas, (victim, replicas)


def _replica_actors() -> set[str]:
    """The names of the live router replicas' Ray actors."""
    import ray

    named = ray.util.list_named_actors(all_namespaces=True)
    return {a["name"] for a in named if a["namespace"] == "serve" and "RouterReplica" in a["name"]}
