"""The routing server on Ray Serve (`[ray]` extra): `RouterReplica`s, each with its own edge and
router (`command.serve_app`, from the CLI's plain settings dict) over one shared cloud URL, behind
a `Gateway` ingress (no CPU reserved) that streams each answer back, so a replica dying
mid-request gives an OpenAI-shaped 503 (an error event in a stream), not Ray's plain-text 500.
Answers name their replica's Ray actor in `x-confidence-router-replica`. Sticky-routing state is
per replica. `confidence-router serve --ray --replicas 2`, or
`serve run confidence_router.serve.ray_app:app_builder replicas=2 cloud_base_url=...`."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sys
import threading
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Mapping
from typing import Any

from confidence_router.errors import ConfigurationError
from confidence_router.serve import wire
from confidence_router.serve.command import (
    DEFAULTS,
    FLOATS,
    cloud_from_url,
    serve_app,
    serve_settings,
    shared_cloud,
)

APP_NAME = "confidence-router"
REPLICA_HEADER = "x-confidence-router-replica"
_SCOPE = ("http_version", "method", "scheme", "path", "raw_path", "query_string", "root_path",
          "headers", "client", "server")  # fmt: skip
Message = dict[str, Any]
Send = Callable[[Message], Awaitable[None]]
Receive = Callable[[], Awaitable[Message]]
log = logging.getLogger("confidence_router.serve")


def _ray() -> tuple[Any, Any]:
    """`ray` and `ray.serve`, or a ConfigurationError saying how to install them."""
    try:
        import ray
        from ray import serve
    except ImportError as exc:
        hint = f"Ray Serve is not installed ({exc}): install confidence-router[ray]"
        raise ConfigurationError("ray", hint) from None
    return ray, serve


async def run_asgi(
    app: Any, part: Mapping[str, Any], body: bytes, name: str
) -> AsyncGenerator[Any, None]:
    """One request through the ASGI `app`: yields `(status, headers)`, then the body's pieces.
    Closing the generator early (the client went away) cancels the app's work."""
    scope = {"type": "http", "asgi": {"version": "3.0", "spec_version": "2.3"}, **part}
    tag = (REPLICA_HEADER.encode(), name.encode())
    messages: asyncio.Queue[Message | None] = asyncio.Queue()
    gone = asyncio.Event()
    unread = [body]

    async def receive() -> Message:
        if unread:
            return {"type": "http.request", "body": unread.pop(), "more_body": False}
        await gone.wait()
        return {"type": "http.disconnect"}

    def ended(task: asyncio.Future[None]) -> None:
        messages.put_nowait(None)
        if not task.cancelled() and task.exception() is not None:
            log.error("the app failed", exc_info=task.exception())

    task = asyncio.ensure_future(app(scope, receive, messages.put))
    task.add_done_callback(ended)
    complete = False
    try:
        while (message := await messages.get()) is not None:
            if message["type"] == "http.response.start":
                yield message["status"], [*message.get("headers", []), tag]
            elif message["type"] == "http.response.body":
                if message.get("body"):
                    yield bytes(message["body"])
                if not message.get("more_body"):
                    complete = True
                    break
        if not complete:  # the app ended (or failed) mid-answer: not a clean finish
            raise RuntimeError("the app ended before its answer was complete")
        await asyncio.wait({task}, timeout=5.0)  # the app finishes its request on its own
    finally:
        gone.set()
        task.cancel()


class RouterReplica:
    """A Serve replica: its own edge and router over the shared cloud (`cloud_base_url`)."""

    def __init__(self, config: dict[str, Any]) -> None:
        if config.get("client_keys_required") and not serve_settings(config).client_keys:
            raise ConfigurationError(  # never serve without the auth the driver was given
                "client_keys_env",
                f"the driver has client keys but this replica's ${config['client_keys_env']} "
                "is empty: set it on every node",
            )
        self.app, self.router = serve_app(config, cloud_from_url(config))
        self.name = str(_ray()[1].get_replica_context().replica_id.to_full_id_str())

    async def handle(self, part: dict[str, Any], body: bytes) -> AsyncIterator[Any]:
        async with contextlib.aclosing(run_asgi(self.app, part, body, self.name)) as answer:
            async for item in answer:
                yield item


async def _error(send: Send, status: int, message: str, kind: str) -> None:
    headers = [(b"content-type", b"application/json"), (b"retry-after", b"1")]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await _body(send, json.dumps(wire.error_body(message, kind)).encode(), more=False)


async def _body(send: Send, data: bytes, more: bool = True) -> None:
    await send({"type": "http.response.body", "body": data, "more_body": more})


class GatewayApp:
    """The ingress's ASGI app: each request to a replica (`replicas`, a deployment handle) and
    its answer back; a failed replica gives an OpenAI-shaped 503, no answer in time a 504."""

    def __init__(self, replicas: Any, config: Mapping[str, Any]) -> None:
        self.replicas = replicas.options(stream=True, method_name="handle")
        self.max_body = int(config["max_body_bytes"])
        self.deadline_s = float(config["request_timeout_s"]) + 30.0  # the app's own limit first

    async def __call__(self, scope: Message, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            return await send({"type": "lifespan.shutdown.complete"})
        body, more = b"", True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body, more = body + message.get("body", b""), bool(message.get("more_body"))
            if len(body) > self.max_body:  # the app checks too; this spares the transfer
                return await _error(send, 413, "request body too large", "invalid_request_error")
        answer = self.replicas.remote({k: scope[k] for k in _SCOPE if k in scope}, body)
        start: Message | None = None  # a plain answer's start waits for its body
        started = stream = done = False
        try:
            async with asyncio.timeout(self.deadline_s):
                async for item in answer:
                    if isinstance(item, tuple):
                        stream = any(v.startswith(b"text/event-stream") for _, v in item[1])
                        start = {"type": "http.response.start", "status": item[0],
                                 "headers": item[1]}  # fmt: skip
                        if stream:  # events go out as they come
                            await send(start)
                            started = True
                        continue
                    if not started and start is not None:
                        await send(start)
                        started = True
                    await _body(send, item)
            if start is None:
                raise RuntimeError("the replica sent no answer")
            if not started:  # an answer with an empty body
                await send(start)
                started = True
            done = True
        except Exception as exc:  # the replica died or is unreachable, or the deadline passed
            late = isinstance(exc, TimeoutError)
            status, kind = (504, "timeout") if late else (503, "service_unavailable")
            text = "no answer before the deadline" if late else "router replica failed"
            if not late:  # Ray's error names actors and hosts: the log has it, not the client
                log.warning("a router replica failed: %r", exc)
            if not started:
                return await _error(send, status, text, kind)
            if stream:
                event = json.dumps(wire.error_body(text, kind))
                await _body(send, f"data: {event}\n\n".encode())
        finally:
            if not done:
                with contextlib.suppress(Exception):  # best effort: the replica may be gone
                    answer.cancel()
        await _body(send, b"", more=False)


class Gateway:
    """The ingress deployment (`serve.ingress()`; its ASGI app is built on the replica)."""

    def __init__(self, replicas: Any, config: dict[str, Any]) -> None:
        self._gateway = GatewayApp(replicas, config)  # `app` is Serve's, on the wrapper

    def __serve_build_asgi_app__(self) -> GatewayApp:
        return self._gateway


def ray_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """DEFAULTS, then `config` (`serve run`'s `key=value` strings as the defaults' types)."""
    unknown = set(config) - set(DEFAULTS) - {"cloud_options", "client_keys_required"}
    if unknown:
        raise ConfigurationError("config", f"unknown settings: {', '.join(sorted(unknown))}")
    merged = {**DEFAULTS, **config}
    for key, value in config.items():
        default = DEFAULTS.get(key)
        if isinstance(value, str) and key in FLOATS:
            merged[key] = float(value)
        elif isinstance(value, str) and isinstance(default, int | float):  # bool is an int
            boolean = value.strip().lower() in ("1", "true", "yes")
            merged[key] = boolean if isinstance(default, bool) else type(default)(value)
    for key in JSON_SETTINGS:
        if isinstance(merged.get(key), str):
            merged[key] = _json_object(key, merged[key])
    return merged


# Settings that are JSON objects (`serve run` gives them as strings)
JSON_SETTINGS = ("autoscaling_config", "cloud_options")


def _json_object(key: str, text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigurationError(key, f"not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise ConfigurationError(key, f"must be a JSON object, got {type(value).__name__}")
    return value


def build_ray_app(config: Mapping[str, Any]) -> Any:
    """The Serve application: `replicas` (or `autoscaling_config`) `RouterReplica`s with
    `ray_num_cpus` / `ray_num_gpus` each, behind the `Gateway`. Needs `cloud_base_url`."""
    full = ray_config(config)
    if not full["cloud_base_url"]:
        raise ConfigurationError("cloud_base_url", "Ray replicas share one cloud: give its URL")
    # bad limits or a remote host refused here, not in every replica; whether clients need a
    # key is shipped (never a key): a replica whose environment lacks them refuses to start
    full["client_keys_required"] = bool(serve_settings(full).client_keys)
    serve = _ray()[1]
    cpus = float(full["ray_num_cpus"])
    full["edge_threads"] = int(full["edge_threads"] or 0) or max(1, int(cpus))
    scaling = full["autoscaling_config"]
    options: dict[str, Any] = {
        "ray_actor_options": {"num_cpus": cpus, "num_gpus": float(full["ray_num_gpus"])},
        "max_ongoing_requests": int(full["max_concurrency"]),
        **({"autoscaling_config": scaling} if scaling else {"num_replicas": int(full["replicas"])}),
    }
    if full["sticky_ttl_s"] is not None and (scaling or int(full["replicas"]) > 1):
        log.warning("sticky routing is per replica: a conversation may move between replicas")
    replicas = serve.deployment(RouterReplica, name="RouterReplica", **options).bind(full)
    ingress = serve.ingress()(Gateway)
    gateway = serve.deployment(ingress, name="Gateway", ray_actor_options={"num_cpus": 0},
                               max_ongoing_requests=1000)  # fmt: skip
    return gateway.bind(replicas, full)


def app_builder(args: dict[str, str]) -> Any:
    """`serve run confidence_router.serve.ray_app:app_builder key=value ...` (setting names)."""
    return build_ray_app(args)


def run_ray(config: dict[str, Any]) -> None:
    """`confidence-router serve --ray`: Ray (local, or the cluster at `ray_address`), the app on
    `host:port` until Ctrl-C; without a cloud URL the local cloud server starts here."""
    ray, serve = _ray()
    settings = serve_settings(config)
    with shared_cloud(config) as shared:
        application = build_ray_app(shared)
        ray.init(address=config["ray_address"])
        try:
            serve.start(http_options={"host": settings.host, "port": settings.port})
            serve.run(application, name=APP_NAME, route_prefix="/")
            where = f"http://{settings.host}:{settings.port}/v1"
            print(f"serving on {where} (Ray Serve, {config['replicas']} replicas)", file=sys.stderr)
            threading.Event().wait()
        except KeyboardInterrupt:
            pass
        finally:
            serve.shutdown()
            ray.shutdown()
