"""The routing server's FastAPI app: `POST /v1/chat/completions`, `GET /v1/models`,
`GET /health`, `GET /metrics`.

Every error is an OpenAI-shaped JSON body with a 4xx/5xx status, never a traceback; the cloud's
key never appears in a response, log line or metric (the router masks it in its records and
errors). Client keys (Bearer) are checked in constant time. A streamed request whose client
disconnects is cancelled, and with it the upstream cloud stream.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from pydantic import ValidationError

from confidence_router.errors import (
    BackendError,
    CapabilityError,
    CircuitOpenError,
    CloudRequestError,
    ConfidenceRouterError,
    ConfigurationError,
    DeadlineExceededError,
    InvalidInputError,
)
from confidence_router.routing.cascade import CascadeRouter
from confidence_router.routing.decision import RoutedResponse
from confidence_router.serve import wire
from confidence_router.serve.metrics import Metrics
from confidence_router.serve.settings import ServeSettings

log = logging.getLogger("confidence_router.serve")
HealthCheck = Callable[[], Awaitable[bool]]


class _Refused(Exception):
    """A request the server answers with an error status (OpenAI's error shape)."""

    def __init__(
        self,
        status: int,
        message: str,
        kind: str = "invalid_request_error",
        headers: dict[str, str] | None = None,
        param: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.message, self.kind = status, message, kind
        self.headers, self.param = headers or {}, param


def _status_of(exc: BaseException) -> tuple[int, str]:
    """The HTTP status and OpenAI error type of a router error."""
    if isinstance(exc, (InvalidInputError, ConfigurationError, CapabilityError)):
        return 400, "invalid_request_error"
    if isinstance(exc, DeadlineExceededError):
        return 504, "timeout"
    if isinstance(exc, CircuitOpenError):
        return 503, "service_unavailable"
    if isinstance(exc, CloudRequestError):
        return 502, "upstream_error"
    if isinstance(exc, BackendError):
        return 502, "upstream_error"
    return 500, "server_error"


def create_app(
    router: CascadeRouter,
    settings: ServeSettings | None = None,
    health: HealthCheck | None = None,
) -> FastAPI:
    """The app over `router` (`health`: an async check that the cloud answers)."""
    settings = (settings or ServeSettings()).checked()
    app = FastAPI(title="confidence-router", docs_url=None, redoc_url=None, openapi_url=None)
    metrics = Metrics()
    busy = {"n": 0}
    keys = [k.get_secret_value().encode() for k in settings.client_keys]

    def refuse(exc: _Refused) -> JSONResponse:
        metrics.observe_refusal(exc.status)
        body = wire.error_body(exc.message, exc.kind, exc.param)
        return JSONResponse(body, status_code=exc.status, headers=exc.headers)

    def authorized(request: Request) -> bool:
        if not keys:
            return True
        given = request.headers.get("authorization", "")
        token = given[7:].encode() if given.lower().startswith("bearer ") else b""
        return any(hmac.compare_digest(token, key) for key in keys)

    async def read_body(request: Request) -> dict[str, Any]:
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > settings.max_body_bytes:
            raise _Refused(413, f"request body over {settings.max_body_bytes} bytes")
        data = bytearray()
        async for piece in request.stream():
            data += piece
            if len(data) > settings.max_body_bytes:
                raise _Refused(413, f"request body over {settings.max_body_bytes} bytes")
        try:
            body = json.loads(data)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise _Refused(400, f"the body is not valid JSON: {exc}") from None
        if not isinstance(body, dict):
            raise _Refused(400, "the body must be a JSON object")
        return body

    def parse(body: dict[str, Any]) -> wire.ChatRequest:
        try:
            chat = wire.ChatRequest.model_validate(body)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first.get("loc", ()))
            raise _Refused(400, f"{where}: {first.get('msg', 'invalid')}", param=where) from None
        if chat.n > 1:
            raise _Refused(400, "n > 1 is not supported: one routed answer per request", param="n")
        return chat

    def options(chat: wire.ChatRequest) -> dict[str, Any]:
        return {
            "threshold": chat.threshold,
            "max_new_tokens": chat.token_cap,
            "stop": chat.stop_list,
            "tool_choice": chat.tool_choice,
            "deadline_s": settings.request_timeout_s,
            "conversation_id": chat.conversation_id,
            **({"response_format": chat.response_format} if chat.response_format else {}),
        }

    @app.middleware("http")
    async def guard(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        if request.url.path != "/health" and not authorized(request):
            return refuse(_Refused(401, "invalid or missing API key", "authentication_error"))
        try:
            return await call_next(request)
        except Exception:  # never a traceback to the client; nothing of the request logged
            log.exception("unhandled error on %s", request.url.path)
            return refuse(_Refused(500, "internal error", "server_error"))

    @app.post("/v1/chat/completions")
    async def chat_completions(request: Request) -> Response:
        if busy["n"] >= settings.max_concurrency:
            retry = {"Retry-After": str(settings.retry_after_s)}
            return refuse(_Refused(429, "too many requests at once", "rate_limit_error", retry))
        busy["n"] += 1
        released = False
        try:
            chat = parse(await read_body(request))
            model = chat.model or settings.model_name
            if chat.stream:
                events = _release_after(_stream(router, chat, options(chat), model, metrics), busy)
                released = True  # the stream releases its slot when it ends
                return StreamingResponse(events, media_type="text/event-stream")
            response = await router.aroute(chat.messages, chat.tools, **options(chat))
            metrics.observe(response)
            ident = wire.completion_id()
            return JSONResponse(
                wire.completion(response, model, ident), headers=wire.decision_headers(response)
            )
        except _Refused as exc:
            return refuse(exc)
        except ConfidenceRouterError as exc:
            status, kind = _status_of(exc)
            return refuse(_Refused(status, str(exc), kind))
        finally:
            if not released:
                busy["n"] -= 1

    @app.get("/v1/models")
    async def models() -> dict[str, Any]:
        return {
            "object": "list",
            "data": [
                {"id": settings.model_name, "object": "model", "owned_by": "confidence-router"}
            ],
        }

    @app.get("/health")
    async def healthy() -> Response:
        ok = True if health is None else await health()
        body = {"status": "ok" if ok else "unavailable", "edge": router.edge.model_name,
                "cloud": router.cloud.model_name}  # fmt: skip
        return JSONResponse(body, status_code=200 if ok else 503)

    @app.get("/metrics")
    async def exposition() -> PlainTextResponse:
        text = metrics.render(router.breaker.state, router.threshold)
        return PlainTextResponse(text, media_type="text/plain; version=0.0.4")

    return app


async def _release_after(stream: AsyncIterator[str], busy: dict[str, int]) -> AsyncIterator[str]:
    try:
        async for event in stream:
            yield event
    finally:
        busy["n"] -= 1


async def _stream(
    router: CascadeRouter,
    chat: wire.ChatRequest,
    options: dict[str, Any],
    model: str,
    metrics: Metrics,
) -> AsyncIterator[str]:
    """Server-sent events: the role, the text as it comes (an edge answer whole, once its
    confidence is known), then tool calls, the finish with the decision, usage, `[DONE]`. An
    error after the first event is sent as an error event."""
    ident = wire.completion_id()
    yield wire.chunk(ident, model, {"role": "assistant", "content": ""})
    pieces = router.astream(chat.messages, chat.tools, **options)
    try:
        async for piece in pieces:
            if piece.response is not None:
                final: RoutedResponse = piece.response
                metrics.observe(final)
                for event in wire.closing_chunks(final, ident, model, chat.include_usage):
                    yield event
            elif piece.text:
                yield wire.chunk(ident, model, {"content": piece.text})
    except asyncio.CancelledError:  # the client went away: the upstream work stops here
        raise
    except ConfidenceRouterError as exc:
        status, kind = _status_of(exc)
        metrics.observe_refusal(status)
        yield f"data: {json.dumps(wire.error_body(str(exc), kind))}\n\n"
    finally:
        await pieces.aclose()  # type: ignore[attr-defined]
