"""The routing server's HTTP behaviour on scripted tiers (the real-model server tests are in
tests/integration/test_serve.py): answers, streams, errors in OpenAI's shape, keys, limits."""

from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import AsyncIterator, Sequence
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from confidence_router import CascadeRouter, FailurePolicy
from confidence_router.generation import Generation
from confidence_router.messages import ChatMessage
from confidence_router.models.base import StreamChunk
from confidence_router.serve import ServeSettings, create_app

from .helpers import ScriptedBackend, generation

SURE = generation([math.log(0.95)] * 3, text="edge sure")
UNSURE = generation([math.log(0.2)] * 3, text="edge unsure")
CLOUD = generation([], text="cloud answer")
KEY = "sk-cloud-0123456789abcdef"
ASK = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}


def client(edge: list[Any], cloud: list[Any], **settings: Any) -> TestClient:
    router = CascadeRouter(ScriptedBackend(edge, name="edge"), ScriptedBackend(cloud, name="cloud"))
    return TestClient(create_app(router, ServeSettings(**settings)), raise_server_exceptions=False)


def events(text: str) -> list[Any]:
    out = []
    for line in text.splitlines():
        if line.startswith("data: "):
            body = line[len("data: ") :]
            out.append(body if body == "[DONE]" else json.loads(body))
    return out


def test_an_edge_answer_and_an_escalated_one() -> None:
    api = client([SURE, UNSURE], [CLOUD])
    kept = api.post("/v1/chat/completions", json=ASK)
    assert kept.status_code == 200
    body = kept.json()
    assert (
        body["object"] == "chat.completion"
        and body["choices"][0]["message"]["content"] == "edge sure"
    )
    assert body["routing"]["route"] == "edge" and kept.headers["x-routing-route"] == "edge"
    assert float(kept.headers["x-routing-confidence"]) == pytest.approx(0.95)
    moved = api.post("/v1/chat/completions", json=ASK)
    assert moved.json()["choices"][0]["message"]["content"] == "cloud answer"
    assert moved.headers["x-routing-reason"] == "low_confidence"
    assert moved.json()["usage"]["prompt_tokens"] == 10  # both tiers, 5 each


def test_per_request_threshold_and_models_and_metrics() -> None:
    api = client([SURE], [CLOUD])
    forced = api.post("/v1/chat/completions", json={**ASK, "threshold": 1.0})
    assert forced.json()["routing"]["route"] == "cloud"
    assert api.get("/v1/models").json()["data"][0]["id"] == "confidence-router"
    text = api.get("/metrics").text
    assert 'confidence_router_requests_total{route="cloud",reason="low_confidence"} 1' in text
    assert "confidence_router_cloud_share 1.0" in text
    assert 'confidence_router_circuit_breaker_state{state="closed"} 1' in text


def test_a_stream_in_openai_chunks_with_the_decision_and_usage() -> None:
    api = client([UNSURE], [CLOUD])
    with api.stream(
        "POST", "/v1/chat/completions",
        json={**ASK, "stream": True, "stream_options": {"include_usage": True}},
    ) as reply:  # fmt: skip
        assert reply.headers["content-type"].startswith("text/event-stream")
        got = events(reply.read().decode())
    assert got[-1] == "[DONE]"
    text = "".join(e["choices"][0]["delta"].get("content") or "" for e in got[:-1] if e["choices"])
    assert text == "cloud answer"
    final = next(e for e in got[:-1] if e["choices"] and e["choices"][0]["finish_reason"])
    assert final["routing"]["route"] == "cloud" and final["choices"][0]["finish_reason"] == "stop"
    assert got[-2]["usage"]["total_tokens"] == 13 and got[-2]["choices"] == []


@pytest.mark.parametrize(
    ("body", "status", "param"),
    [
        ({**ASK, "n": 2}, 400, "n"),
        ({"model": "m"}, 400, "messages"),
        ({**ASK, "messages": [{"role": "robot", "content": "hi"}]}, 400, None),
        ({**ASK, "max_tokens": 0}, 400, "max_tokens"),
        ({**ASK, "response_format": {"type": "xml"}}, 400, None),
    ],
)
def test_bad_requests_are_400_in_openai_shape(
    body: dict[str, Any], status: int, param: str | None
) -> None:
    reply = client([SURE], [CLOUD]).post("/v1/chat/completions", json=body)
    assert reply.status_code == status
    error = reply.json()["error"]
    assert error["type"] == "invalid_request_error" and error["message"]
    if param:
        assert error["param"] == param
    assert "Traceback" not in reply.text


def test_malformed_json_and_a_too_large_body() -> None:
    api = client([SURE], [CLOUD], max_body_bytes=2048)
    broken = api.post(
        "/v1/chat/completions",
        content=b'{"messages": [',
        headers={"content-type": "application/json"},
    )
    assert broken.status_code == 400 and "not valid JSON" in broken.json()["error"]["message"]
    big = {**ASK, "messages": [{"role": "user", "content": "x" * 5000}]}
    assert api.post("/v1/chat/completions", json=big).status_code == 413


def test_client_keys_are_checked_and_health_is_open() -> None:
    api = client([SURE, SURE], [], client_keys=(SecretStr("client-key"),))
    assert api.post("/v1/chat/completions", json=ASK).status_code == 401
    wrong = api.post("/v1/chat/completions", json=ASK, headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401 and wrong.json()["error"]["type"] == "authentication_error"
    right = api.post(
        "/v1/chat/completions", json=ASK, headers={"Authorization": "Bearer client-key"}
    )
    assert right.status_code == 200
    assert api.get("/health").status_code == 200
    assert api.get("/metrics").status_code == 401


def test_the_cloud_key_never_reaches_a_client() -> None:
    class KeyedCloud(ScriptedBackend):
        def __init__(self) -> None:
            super().__init__([RuntimeError(f"401 bad key {KEY}")], name="cloud")
            self.api_key = SecretStr(KEY)

    router = CascadeRouter(
        ScriptedBackend([UNSURE]), KeyedCloud(), failure_policy=FailurePolicy(fallback="raise")
    )
    api = TestClient(create_app(router), raise_server_exceptions=False)
    reply = api.post("/v1/chat/completions", json=ASK)
    assert reply.status_code == 502 and KEY not in reply.text
    assert KEY not in api.get("/metrics").text


def test_too_many_requests_at_once_get_429_with_retry_after() -> None:
    slow = ScriptedBackend([SURE, SURE], name="edge", delay=0.5)
    api = TestClient(
        create_app(CascadeRouter(slow, ScriptedBackend([])), ServeSettings(max_concurrency=1)),
        raise_server_exceptions=False,
    )
    first = threading.Thread(target=lambda: api.post("/v1/chat/completions", json=ASK))
    first.start()
    time.sleep(0.15)
    refused = api.post("/v1/chat/completions", json=ASK)
    first.join()
    assert refused.status_code == 429 and refused.headers["retry-after"] == "1"
    assert api.post("/v1/chat/completions", json=ASK).status_code == 200


def test_structured_output_checked_at_the_edge_and_asked_of_the_cloud() -> None:
    schema = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
    form = {"type": "json_schema", "json_schema": {"name": "place", "schema": schema}}
    good = generation([math.log(0.95)] * 3, text='{"city": "Paris"}')
    edge, cloud = ScriptedBackend([good, SURE], name="edge"), ScriptedBackend([CLOUD], name="cloud")
    api = TestClient(create_app(CascadeRouter(edge, cloud)), raise_server_exceptions=False)
    kept = api.post("/v1/chat/completions", json={**ASK, "response_format": form}).json()
    assert kept["routing"]["route"] == "edge"
    assert "JSON schema" in edge.calls[0][0][0].content  # the edge was told the schema
    prose = api.post("/v1/chat/completions", json={**ASK, "response_format": form}).json()
    assert prose["routing"]["reason"] == "invalid_output"
    assert cloud.calls[0][1].response_format == form  # the cloud enforces it itself


class SlowCloudStream(ScriptedBackend):
    """A cloud that streams one word every 0.1 s and records whether its stream was closed."""

    closed = threading.Event()

    async def astream(
        self, messages: Sequence[ChatMessage], options: Any = None, tools: Any = None
    ) -> AsyncIterator[StreamChunk]:
        import asyncio

        try:
            for i in range(100):
                await asyncio.sleep(0.1)
                yield StreamChunk(text=f"word{i} ")
            yield StreamChunk(generation=Generation(greedy=CLOUD.greedy))
        finally:
            SlowCloudStream.closed.set()


def test_a_client_that_disconnects_mid_stream_cancels_the_upstream_stream() -> None:
    import httpx
    import uvicorn

    from confidence_router.server import free_port

    router = CascadeRouter(ScriptedBackend([UNSURE]), SlowCloudStream([], name="cloud"))
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(router), port=port, log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    try:
        url = f"http://127.0.0.1:{port}/v1/chat/completions"
        with httpx.stream("POST", url, json={**ASK, "stream": True}, timeout=10) as reply:
            for line in reply.iter_lines():
                if "word2" in line:
                    break  # the client goes away after a few words
        assert SlowCloudStream.closed.wait(5), "the cloud stream was not closed"
    finally:
        server.should_exit = True
        thread.join(5)


def test_a_budget_controller_serves_and_its_live_threshold_is_a_metric() -> None:
    from confidence_router.routing.budget_controller import BudgetController

    controller = BudgetController(0.5, window=4, warmup=2, initial_threshold=0.1)
    router = CascadeRouter(
        ScriptedBackend([SURE] * 6, name="edge"),
        ScriptedBackend([CLOUD] * 6, name="cloud"),
        threshold=controller,
    )
    api = TestClient(create_app(router), raise_server_exceptions=False)
    routes = [
        api.post("/v1/chat/completions", json=ASK).json()["routing"]["route"] for _ in range(6)
    ]
    assert routes[0] == "edge"  # warming up: confidence 0.95 over the start threshold 0.1
    assert "cloud" in routes  # then the controller raises the threshold to reach its 50%
    gauge = [
        line for line in api.get("/metrics").text.splitlines()
        if line.startswith("confidence_router_threshold ")
    ]  # fmt: skip
    live = float(gauge[0].split()[1])
    assert live == pytest.approx(controller.threshold) and live > 0.1


def test_the_serve_command_builds_a_controller_from_its_settings() -> None:
    from confidence_router.routing.budget_controller import BudgetController
    from confidence_router.serve.command import DEFAULTS, _decider

    plain = _decider({**DEFAULTS, "threshold": 0.4}, None)
    assert plain == 0.4
    held = _decider({**DEFAULTS, "threshold": 0.4, "controlled_cloud_share": 0.3}, None)
    assert isinstance(held, BudgetController)
    assert (held.target, held.threshold) == (0.3, 0.4)


def test_a_conversation_id_keeps_a_sticky_conversation_on_the_cloud() -> None:
    from confidence_router import StickyRouting

    router = CascadeRouter(
        ScriptedBackend([UNSURE, SURE, SURE], name="edge"),
        ScriptedBackend([CLOUD, CLOUD], name="cloud"),
        sticky=StickyRouting(),
    )
    api = TestClient(create_app(router), raise_server_exceptions=False)
    ask = {**ASK, "conversation_id": "c1"}
    assert api.post("/v1/chat/completions", json=ask).json()["routing"]["route"] == "cloud"
    again = api.post("/v1/chat/completions", json={**ask, "messages": [
        {"role": "user", "content": "another turn"}]}).json()["routing"]  # fmt: skip
    assert (again["route"], again["reason"], again["sticky"]) == ("cloud", "sticky", True)
    other = api.post("/v1/chat/completions", json=ASK).json()["routing"]
    assert other["route"] == "edge"


def test_the_serve_command_builds_three_tiers_and_sticky_routing() -> None:
    from confidence_router.routing.failure import FailurePolicy
    from confidence_router.routing.tiers import tier_models, tier_routers
    from confidence_router.serve.command import DEFAULTS, build_router

    config = {**DEFAULTS, "threshold": 0.7, "middle_thresholds": "0.4", "sticky_ttl_s": 60.0}
    tiers = [ScriptedBackend([], name=n) for n in ("small", "medium", "large")]
    router = build_router(config, tiers[0], tiers[2], [tiers[1]], FailurePolicy())
    assert tier_models(router) == ["small", "medium", "large"]
    assert [r.threshold for r in tier_routers(router)] == [0.7, 0.4]
    assert all(r.sticky is not None and r.sticky.ttl_s == 60.0 for r in tier_routers(router))
    two = build_router({**DEFAULTS}, tiers[0], tiers[2], [], FailurePolicy())
    assert tier_models(two) == ["small", "large"] and two.sticky is None


def test_numeric_serve_flags_without_a_default_parse_as_numbers() -> None:
    """`--deadline-s 30` reached FailurePolicy as the string '30' and the server refused to
    start (found by benchmarks/server_load.py)."""
    import argparse

    from confidence_router.serve.command import add_command, settings_of

    parser = argparse.ArgumentParser()
    add_command(parser.add_subparsers())
    args = parser.parse_args(
        ["serve", "--deadline-s", "30", "--threshold", "0.6", "--target-cloud-share", "0.3",
         "--controlled-cloud-share", "0.25", "--sticky-ttl-s", "60"]
    )  # fmt: skip
    config = settings_of(args)
    for key, value in [("deadline_s", 30.0), ("threshold", 0.6), ("target_cloud_share", 0.3),
                       ("controlled_cloud_share", 0.25), ("sticky_ttl_s", 60.0)]:  # fmt: skip
        assert config[key] == value and isinstance(config[key], float), key
    with pytest.raises(SystemExit):  # argparse refuses a non-number
        parser.parse_args(["serve", "--deadline-s", "soon"])
