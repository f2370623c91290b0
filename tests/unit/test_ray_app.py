"""The Ray Serve wrapper without a Ray runtime: the CLI flags, the missing-extra error, the
settings a replica gets, the replica's ASGI bridge and the gateway's error handling (a fake
deployment handle stands in for Ray). The real deployment: tests/integration/test_ray_serve.py."""

from __future__ import annotations

import asyncio
import json
import math
import pickle
import sys
import threading
from collections.abc import AsyncIterator, Sequence
from typing import Any

import pytest

from confidence_router import CascadeRouter
from confidence_router.cli import _parser, main
from confidence_router.errors import ConfigurationError
from confidence_router.generation import Generation
from confidence_router.messages import ChatMessage
from confidence_router.models.base import StreamChunk
from confidence_router.serve import ServeSettings, create_app
from confidence_router.serve.command import DEFAULTS, settings_of
from confidence_router.serve.ray_app import (
    REPLICA_HEADER,
    GatewayApp,
    _ray,
    build_ray_app,
    ray_config,
    run_asgi,
)

from .helpers import ScriptedBackend, generation

SURE = generation([math.log(0.95)] * 3, text="edge sure")
UNSURE = generation([math.log(0.2)] * 3, text="edge unsure")
ASK = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
SECRET = "sk-cloud-0123456789abcdef"
URL = "http://127.0.0.1:9/v1"


def test_the_ray_flags_parse_into_the_settings() -> None:
    args = _parser().parse_args(
        ["serve", "--ray", "--replicas", "3", "--ray-num-cpus", "0.25", "--ray-num-gpus", "1",
         "--edge-threads", "1", "--ray-address", "auto", "--cloud-base-url", URL]
    )  # fmt: skip
    config = settings_of(args)
    assert config["ray"] is True and config["replicas"] == 3 and config["edge_threads"] == 1
    assert (config["ray_num_cpus"], config["ray_num_gpus"]) == (0.25, 1.0)
    assert config["ray_address"] == "auto" and config["cloud_base_url"] == URL
    plain = settings_of(_parser().parse_args(["serve"]))
    assert (plain["ray"], plain["replicas"], plain["ray_num_cpus"]) == (False, 1, 0.5)


def test_serve_run_arguments_are_typed_and_unknown_ones_refused() -> None:
    scaling = '{"min_replicas": 1, "max_replicas": 4}'
    config = ray_config(
        {"replicas": "2", "ray": "true", "ray_num_cpus": "0.25", "autoscaling_config": scaling}
    )
    assert (config["replicas"], config["ray"], config["ray_num_cpus"]) == (2, True, 0.25)
    assert config["autoscaling_config"] == {"min_replicas": 1, "max_replicas": 4}
    assert config["threshold"] is None and config["max_concurrency"] == 16
    typed = ray_config({"threshold": "0.6", "deadline_s": "30", "sticky_ttl_s": "60"})
    assert (typed["threshold"], typed["deadline_s"], typed["sticky_ttl_s"]) == (0.6, 30.0, 60.0)
    with pytest.raises(ConfigurationError, match="unknown settings: replica_count"):
        ray_config({"replica_count": "2"})


def test_serve_run_json_settings_are_parsed_and_bad_json_is_a_typed_error() -> None:
    options = ray_config({"cloud_options": '{"timeout": 60, "context_window": 4096}'})
    assert options["cloud_options"] == {"timeout": 60, "context_window": 4096}
    for key in ("autoscaling_config", "cloud_options"):
        with pytest.raises(ConfigurationError, match=key):
            ray_config({key: "{min_replicas: 1"})
        with pytest.raises(ConfigurationError, match="JSON object"):
            ray_config({key: "[1, 2]"})


def _without_ray(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [m for m in sys.modules if m == "ray" or m.startswith("ray.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` now raises ImportError


def test_without_ray_the_error_says_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _without_ray(monkeypatch)
    with pytest.raises(ConfigurationError, match=r"install confidence-router\[ray\]") as info:
        _ray()
    assert info.value.field == "ray"
    with pytest.raises(ConfigurationError, match=r"confidence-router\[ray\]"):
        build_ray_app({"cloud_base_url": URL})
    assert main(["serve", "--ray", "--cloud-base-url", URL]) == 2  # before any model loads
    assert "install confidence-router[ray]" in capsys.readouterr().err


def test_several_replicas_need_ray_and_the_replicas_need_a_cloud_url() -> None:
    assert main(["serve", "--replicas", "2", "--cloud-base-url", URL]) == 2
    with pytest.raises(ConfigurationError) as info:
        build_ray_app({})
    assert info.value.field == "cloud_base_url"
    with pytest.raises(ConfigurationError) as info:
        build_ray_app({"cloud_base_url": URL, "host": "0.0.0.0"})  # remote without allow_remote
    assert info.value.field == "host"


def test_the_replica_config_is_picklable_and_holds_no_secret(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Only whether clients need a key travels to the replicas (`client_keys_required`)."""
    monkeypatch.setenv("CONFIDENCE_ROUTER_CLOUD_API_KEY", SECRET)
    monkeypatch.setenv("CONFIDENCE_ROUTER_CLIENT_KEYS", "client-key-0123456789")
    args = _parser().parse_args(["serve", "--ray", "--replicas", "2", "--cloud-base-url", URL])
    config = ray_config(settings_of(args))
    assert pickle.loads(pickle.dumps(config)) == config
    for text in (repr(config), str(pickle.dumps(config))):
        assert SECRET not in text and "client-key-0123456789" not in text
    assert config["cloud_key_env"] == "CONFIDENCE_ROUTER_CLOUD_API_KEY"  # the name, not the key


def test_the_ray_application_builds_without_a_cluster(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("ray.serve")
    monkeypatch.setenv("CONFIDENCE_ROUTER_CLIENT_KEYS", "client-key-0123456789")
    app = build_ray_app({**DEFAULTS, "cloud_base_url": URL, "replicas": 2})
    assert type(app).__name__ == "Application"
    shipped = repr(app._bound_deployment.init_args)  # what every replica receives
    assert "'client_keys_required': True" in shipped and "client-key-0123456789" not in shipped


async def _collect(stream: AsyncIterator[Any]) -> list[Any]:
    return [item async for item in stream]


def _app(edge: list[Any], cloud: list[Any]) -> Any:
    router = CascadeRouter(ScriptedBackend(edge, name="edge"), ScriptedBackend(cloud, name="cloud"))
    return create_app(router, ServeSettings())


def _part(path: str = "/v1/chat/completions", method: str = "POST") -> dict[str, Any]:
    headers = [(b"content-type", b"application/json")]
    return {"method": method, "path": path, "query_string": b"", "headers": headers,
            "http_version": "1.1", "scheme": "http", "root_path": ""}  # fmt: skip


def test_the_replica_bridge_answers_and_names_the_replica() -> None:
    body = json.dumps(ASK).encode()
    items = asyncio.run(_collect(run_asgi(_app([SURE], []), _part(), body, "replica-a")))
    status, headers = items[0]
    assert status == 200 and (REPLICA_HEADER.encode(), b"replica-a") in headers
    answer = json.loads(b"".join(items[1:]))
    assert answer["choices"][0]["message"]["content"] == "edge sure"
    assert answer["routing"]["route"] == "edge"
    bad = asyncio.run(_collect(run_asgi(_app([], []), _part(), b"{not json", "replica-a")))
    assert bad[0][0] == 400 and "error" in json.loads(b"".join(bad[1:]))
    models = asyncio.run(_collect(run_asgi(_app([], []), _part("/v1/models", "GET"), b"", "r")))
    assert models[0][0] == 200


class SlowStream(ScriptedBackend):
    """A cloud that streams a word every 0.05 s and records when its stream is closed."""

    def __init__(self) -> None:
        super().__init__([], name="cloud")
        self.closed = threading.Event()

    async def astream(
        self, messages: Sequence[ChatMessage], options: Any = None, tools: Any = None
    ) -> AsyncIterator[StreamChunk]:
        try:
            for i in range(200):
                await asyncio.sleep(0.05)
                yield StreamChunk(text=f"word{i} ")
            yield StreamChunk(generation=Generation(greedy=UNSURE.greedy))
        finally:
            self.closed.set()


def test_closing_the_bridge_mid_stream_cancels_the_upstream_stream() -> None:
    cloud = SlowStream()
    app = create_app(CascadeRouter(ScriptedBackend([UNSURE]), cloud), ServeSettings())

    async def read_a_little() -> list[Any]:
        seen: list[Any] = []
        stream = run_asgi(app, _part(), json.dumps({**ASK, "stream": True}).encode(), "r")
        async for item in stream:
            seen.append(item)
            if isinstance(item, bytes) and b"word2" in item:
                break
        await stream.aclose()  # type: ignore[attr-defined]
        await asyncio.sleep(0.2)
        return seen

    seen = asyncio.run(read_a_little())
    assert seen[0][0] == 200
    assert cloud.closed.wait(5), "the cloud stream was not closed"


class FakeAnswer:
    """A deployment handle's streamed answer: `items`, an exception among them raised."""

    def __init__(self, items: Sequence[Any], delay: float = 0.0) -> None:
        self.items, self.delay, self.cancelled = list(items), delay, False

    async def __aiter__(self) -> AsyncIterator[Any]:
        for item in self.items:
            await asyncio.sleep(self.delay)
            if isinstance(item, BaseException):
                raise item
            yield item

    def cancel(self) -> None:
        self.cancelled = True


class FakeHandle:
    def __init__(self, answer: FakeAnswer) -> None:
        self.answer = answer
        self.calls: list[tuple[dict[str, Any], bytes]] = []

    def options(self, **_: Any) -> FakeHandle:
        return self

    def remote(self, part: dict[str, Any], body: bytes) -> FakeAnswer:
        self.calls.append((part, body))
        return self.answer


def _through_gateway(answer: FakeAnswer, body: bytes = b"{}", **config: Any) -> list[Any]:
    gateway = GatewayApp(FakeHandle(answer), {**DEFAULTS, **config})
    if "deadline_s" in config:
        gateway.deadline_s = config["deadline_s"]
    sent: list[Any] = []
    chunks = [{"type": "http.request", "body": body[:3], "more_body": True},
              {"type": "http.request", "body": body[3:], "more_body": False}]  # fmt: skip

    async def receive() -> dict[str, Any]:
        return chunks.pop(0) if chunks else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {**_part(), "type": "http", "app": object(), "state": {}}
    asyncio.run(gateway(scope, receive, send))
    return sent


def _error_of(sent: list[Any]) -> tuple[int, dict[str, Any]]:
    assert sent[0]["type"] == "http.response.start"
    body = b"".join(m.get("body", b"") for m in sent[1:])
    assert sent[-1].get("more_body", False) is False
    return sent[0]["status"], json.loads(body)["error"]


def test_the_gateway_passes_an_answer_through() -> None:
    headers = [(b"content-type", b"application/json"), (REPLICA_HEADER.encode(), b"r1")]
    answer = FakeAnswer([(200, headers), b'{"choices": ', b"[]}"])
    sent = _through_gateway(answer, json.dumps(ASK).encode())
    assert sent[0] == {"type": "http.response.start", "status": 200, "headers": headers}
    assert b"".join(m.get("body", b"") for m in sent[1:]) == b'{"choices": []}'
    assert sent[-1]["more_body"] is False and not answer.cancelled


def test_a_replica_that_dies_before_answering_gives_an_openai_503() -> None:
    answer = FakeAnswer([RuntimeError("ActorDiedError: the actor died unexpectedly")])
    status, error = _error_of(_through_gateway(answer))
    assert status == 503 and error["type"] == "service_unavailable"
    assert "router replica failed" in error["message"] and answer.cancelled
    assert "ActorDiedError" not in error["message"]  # Ray's details go to the log only


def test_a_plain_answer_whose_replica_dies_before_its_body_gives_a_503_not_an_empty_200() -> None:
    start = (200, [(b"content-type", b"application/json")])
    answer = FakeAnswer([start, RuntimeError("the actor died")])
    status, error = _error_of(_through_gateway(answer))
    assert status == 503 and error["type"] == "service_unavailable"


def test_an_app_that_fails_mid_answer_is_not_passed_off_as_complete() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"data: {}\n\n", "more_body": True})
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="before its answer was complete"):
        asyncio.run(_collect(run_asgi(app, _part(), b"{}", "r")))


def test_a_replica_without_the_client_keys_the_driver_has_refuses_to_start(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from confidence_router.serve.ray_app import RouterReplica

    monkeypatch.delenv("CONFIDENCE_ROUTER_CLIENT_KEYS", raising=False)
    config = {**DEFAULTS, "cloud_base_url": URL, "client_keys_required": True}
    with pytest.raises(ConfigurationError, match="CONFIDENCE_ROUTER_CLIENT_KEYS"):
        RouterReplica(config)  # before any model is loaded


def test_a_replica_that_dies_mid_stream_ends_the_stream_with_an_error_event() -> None:
    start = (200, [(b"content-type", b"text/event-stream; charset=utf-8")])
    answer = FakeAnswer([start, b"data: {}\n\n", RuntimeError("the actor died")])
    sent = _through_gateway(answer)
    assert sent[0]["status"] == 200
    events = b"".join(m.get("body", b"") for m in sent[1:]).decode().split("\n\n")
    assert json.loads(events[1].removeprefix("data: "))["error"]["type"] == "service_unavailable"
    assert sent[-1]["more_body"] is False and answer.cancelled


def test_no_answer_by_the_deadline_gives_an_openai_504() -> None:
    answer = FakeAnswer([(200, [])], delay=5.0)
    status, error = _error_of(_through_gateway(answer, deadline_s=0.1))
    assert status == 504 and error["type"] == "timeout" and answer.cancelled


def test_the_gateway_refuses_a_body_over_the_limit_without_calling_a_replica() -> None:
    answer = FakeAnswer([])
    status, error = _error_of(_through_gateway(answer, b"x" * 2048, max_body_bytes=1024))
    assert status == 413 and error["type"] == "invalid_request_error"


def test_the_gateway_forwards_only_the_picklable_scope() -> None:
    handle = FakeHandle(FakeAnswer([(200, []), b"{}"]))
    gateway = GatewayApp(handle, DEFAULTS)
    messages = [{"type": "http.request", "body": b"{}", "more_body": False}]

    async def receive() -> dict[str, Any]:
        return messages.pop(0)

    async def send(message: dict[str, Any]) -> None:
        pass

    asyncio.run(gateway({**_part(), "type": "http", "app": object()}, receive, send))
    part, body = handle.calls[0]
    assert body == b"{}" and "app" not in part and part["path"] == "/v1/chat/completions"
    pickle.dumps(part)


def test_the_gateway_answers_the_lifespan_protocol() -> None:
    from uvicorn.config import Config
    from uvicorn.lifespan.on import LifespanOn

    async def run() -> tuple[bool, bool]:
        app = GatewayApp(FakeHandle(FakeAnswer([])), DEFAULTS)
        lifespan = LifespanOn(Config(app, lifespan="on", log_config=None))  # as Ray runs it
        await lifespan.startup()
        await lifespan.shutdown()
        return lifespan.error_occurred, lifespan.should_exit

    assert asyncio.run(run()) == (False, False)
