"""`OpenAIChatModel`: any OpenAI-compatible chat server as a backend."""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any

import openai
from pydantic import SecretStr
from tenacity import AsyncRetrying, Retrying

from confidence_router.errors import (
    BackendError,
    CapabilityError,
    ConfigurationError,
    DeadlineExceededError,
)
from confidence_router.generation import Generation, GenerationOptions, seconds_left
from confidence_router.messages import ChatMessage
from confidence_router.models.base import Capabilities, ChatBackend, StreamChunk
from confidence_router.models.openai.responses import collect
from confidence_router.models.openai.retries import (
    CALL_ERRORS,
    Backoff,
    cause,
    retrying_args,
    translate,
)
from confidence_router.models.openai.streaming import StreamAssembler
from confidence_router.models.openai.wire import request_body, streamed
from confidence_router.statistics import Statistic

_LOGPROB_STATS = frozenset(
    {Statistic.GREEDY_LOGPROBS, Statistic.GREEDY_ENTROPY, Statistic.SAMPLE_LOGPROBS}
)


class OpenAIChatModel(ChatBackend):
    """A chat model behind an OpenAI-compatible `base_url` (OpenAI, vLLM, llama.cpp, ...).

    Greedy answers use temperature 0; each sample is a separate request at the sampling
    temperature (many servers ignore `n`). With `logprobs=True` it also asks for per-token
    log-probs and `top_logprobs` alternatives; the per-step entropy is then the entropy of the
    renormalised top-k alternatives (`topk_entropy`), an approximation of the full entropy.
    Content parts beyond text (images, audio) are sent as given; `multimodal=True` declares
    that this model reads them, so a router may keep such a request at it as the edge.
    Failures are retried with tenacity: exponential backoff with jitter (or the server's
    Retry-After), at most `max_attempts` tries and `max_retry_seconds` in all.
    `options.samples_only` skips the greedy request. Early exit is not supported (the capability
    is off, so a router with `early_exit_floor` refuses this edge at construction, and
    `generate` raises `CapabilityError` when asked for it): stopping a server-side decode needs
    streamed log-probs, which this client does not read.
    """

    def __init__(
        self,
        model: str,
        *,
        base_url: str | None = None,
        api_key: SecretStr | str | None = None,
        timeout: float = 60.0,
        max_attempts: int = 4,
        max_retry_seconds: float = 120.0,
        initial_backoff: float = 0.5,
        max_backoff: float = 10.0,
        logprobs: bool = False,
        top_logprobs: int = 5,
        context_window: int | None = None,
        parse_text_tool_calls: bool = True,
        tier: str = "cloud",
        default_headers: dict[str, str] | None = None,
        multimodal: bool = False,
    ) -> None:
        if not model:
            raise ConfigurationError("model", "a model name is required")
        if timeout <= 0:
            raise ConfigurationError("timeout", f"must be > 0 seconds, got {timeout}")
        if not 1 <= max_attempts <= 20:
            raise ConfigurationError("max_attempts", f"must be in [1, 20], got {max_attempts}")
        if not 0 <= top_logprobs <= 20:
            raise ConfigurationError("top_logprobs", f"must be in [0, 20], got {top_logprobs}")
        if tier not in ("edge", "cloud"):
            raise ConfigurationError("tier", f"must be 'edge' or 'cloud', got {tier!r}")
        self._model = model
        self.base_url = base_url
        self.api_key = api_key if isinstance(api_key, SecretStr) else SecretStr(api_key or "none")
        self.timeout = timeout
        self.max_attempts = max_attempts
        self.max_retry_seconds = max_retry_seconds
        self._backoff = Backoff(initial_backoff, max_backoff, max_retry_seconds)
        self.logprobs = logprobs
        self.top_logprobs = top_logprobs
        self.parse_text_tool_calls = parse_text_tool_calls
        self.tier = tier
        client_args: dict[str, Any] = {
            "base_url": base_url,
            "api_key": self.api_key.get_secret_value(),
            "timeout": timeout,
            "max_retries": 0,  # tenacity owns retries
            "default_headers": default_headers,
        }
        self._client_args = client_args
        self._client = openai.OpenAI(**client_args)
        # An async client's connections belong to one event loop: keep one client per loop, so
        # callers that run several loops (asyncio.run in a loop, test runners) keep working.
        self._aclients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, openai.AsyncOpenAI]
        self._aclients = weakref.WeakKeyDictionary()
        stats = frozenset({Statistic.SAMPLES}) | (_LOGPROB_STATS if logprobs else frozenset())
        self._capabilities = Capabilities(
            statistics=stats,
            tools=True,
            context_window=context_window,
            deadline=True,
            multimodal=multimodal,
            structured_output=True,
        )

    @property
    def capabilities(self) -> Capabilities:
        return self._capabilities

    @property
    def model_name(self) -> str:
        return self._model

    def __repr__(self) -> str:
        return (
            f"OpenAIChatModel(model={self._model!r}, base_url={self.base_url!r}, "
            f"tier={self.tier!r})"
        )

    # -- requests -----------------------------------------------------------------------------

    def _request(
        self,
        messages: Sequence[ChatMessage],
        options: GenerationOptions,
        tools: Sequence[dict[str, Any]] | None,
        *,
        sample: bool,
    ) -> dict[str, Any]:
        return request_body(
            self._model,
            messages,
            options,
            tools,
            sample=sample,
            logprobs=self.logprobs,
            top_logprobs=self.top_logprobs,
        )

    def _timeout(self, deadline: float | None) -> float:
        """This attempt's timeout: the configured one, cut to the time left before `deadline`."""
        left = seconds_left(deadline)
        if left is not None and left <= 0:
            raise DeadlineExceededError(
                f"{self.tier} model {self._model!r}: the deadline passed before the call",
                tier=self.tier,
            )
        return self.timeout if left is None else max(0.001, min(self.timeout, left))

    def _translate(self, exc: Exception, deadline: float | None = None) -> BackendError:
        return translate(
            exc,
            where=f"{self.tier} model {self._model!r} at {self.base_url or 'api.openai.com'}",
            tier=self.tier,
            max_attempts=self.max_attempts,
            api_key=self.api_key.get_secret_value(),
            deadline=deadline,
        )

    def _retrying(self, deadline: float | None) -> dict[str, Any]:
        return retrying_args(self._backoff, self.max_attempts, self.max_retry_seconds, deadline)

    def _call(self, body: dict[str, Any], deadline: float | None = None) -> Any:
        try:
            for attempt in Retrying(**self._retrying(deadline)):
                with attempt:
                    timeout = self._timeout(deadline)
                    return self._client.chat.completions.create(**body, timeout=timeout)
        except CALL_ERRORS as exc:
            raise self._translate(exc, deadline) from cause(exc)
        raise AssertionError("unreachable")  # pragma: no cover

    def _async_client(self) -> openai.AsyncOpenAI:
        loop = asyncio.get_running_loop()
        client = self._aclients.get(loop)
        if client is None:
            client = self._aclients[loop] = openai.AsyncOpenAI(**self._client_args)
        return client

    async def _acall(self, body: dict[str, Any], deadline: float | None = None) -> Any:
        try:
            async for attempt in AsyncRetrying(**self._retrying(deadline)):
                with attempt:
                    timeout = self._timeout(deadline)
                    client = self._async_client()
                    return await client.chat.completions.create(**body, timeout=timeout)
        except CALL_ERRORS as exc:
            raise self._translate(exc, deadline) from cause(exc)
        raise AssertionError("unreachable")  # pragma: no cover

    def _check_early_exit(self, options: GenerationOptions) -> None:
        if options.early_exit_floor is not None:
            raise CapabilityError(
                f"{self.tier} model {self._model!r}: early exit is not supported by "
                "OpenAI-compatible backends"
            )

    def _bodies(
        self,
        messages: Sequence[ChatMessage],
        options: GenerationOptions,
        tools: Sequence[dict[str, Any]] | None,
    ) -> list[dict[str, Any]]:
        """One request for the greedy answer (unless `samples_only`), one per sample."""
        self._check_early_exit(options)
        greedy = (
            [] if options.samples_only else [self._request(messages, options, tools, sample=False)]
        )
        return greedy + [
            self._request(messages, options, tools, sample=True) for _ in range(options.num_samples)
        ]

    def _stream_body(
        self,
        messages: Sequence[ChatMessage],
        options: GenerationOptions,
        tools: Sequence[dict[str, Any]] | None,
    ) -> dict[str, Any]:
        self._check_early_exit(options)
        return streamed(self._request(messages, options, tools, sample=False))

    # -- calls --------------------------------------------------------------------------------

    def _collect(
        self,
        responses: Sequence[Any],
        tools: Sequence[dict[str, Any]] | None,
        samples_only: bool = False,
    ) -> Generation:
        return collect(
            responses,
            tools,
            samples_only=samples_only,
            parse_text_tool_calls=self.parse_text_tool_calls,
            tier=self.tier,
            model=self._model,
        )

    def generate(
        self,
        messages: Sequence[ChatMessage],
        options: GenerationOptions | None = None,
        tools: Sequence[dict[str, Any]] | None = None,
    ) -> Generation:
        options = options or GenerationOptions()
        bodies = self._bodies(messages, options, tools)
        responses = [self._call(body, options.deadline) for body in bodies]
        return self._collect(responses, tools, options.samples_only)

    async def agenerate(
        self,
        messages: Sequence[ChatMessage],
        options: GenerationOptions | None = None,
        tools: Sequence[dict[str, Any]] | None = None,
    ) -> Generation:
        options = options or GenerationOptions()
        bodies = self._bodies(messages, options, tools)
        responses = await asyncio.gather(*(self._acall(b, options.deadline) for b in bodies))
        return self._collect(responses, tools, options.samples_only)

    def stream(
        self,
        messages: Sequence[ChatMessage],
        options: GenerationOptions | None = None,
        tools: Sequence[dict[str, Any]] | None = None,
    ) -> Iterator[StreamChunk]:
        """The greedy answer as the server streams it (opening the stream is retried)."""
        options = options or GenerationOptions()
        body = self._stream_body(messages, options, tools)
        assembler = StreamAssembler(self._model, tools, self.parse_text_tool_calls)
        try:
            for chunk in self._call(body, options.deadline):
                text = assembler.feed(chunk)
                if text:
                    yield StreamChunk(text=text)
        except CALL_ERRORS as exc:
            raise self._translate(exc, options.deadline) from cause(exc)
        rest, generation = assembler.finish()
        if rest:
            yield StreamChunk(text=rest)
        yield StreamChunk(generation=generation)

    async def astream(
        self,
        messages: Sequence[ChatMessage],
        options: GenerationOptions | None = None,
        tools: Sequence[dict[str, Any]] | None = None,
    ) -> AsyncIterator[StreamChunk]:
        """Async `stream`."""
        options = options or GenerationOptions()
        body = self._stream_body(messages, options, tools)
        assembler = StreamAssembler(self._model, tools, self.parse_text_tool_calls)
        try:
            async for chunk in await self._acall(body, options.deadline):
                text = assembler.feed(chunk)
                if text:
                    yield StreamChunk(text=text)
        except CALL_ERRORS as exc:
            raise self._translate(exc, options.deadline) from cause(exc)
        rest, generation = assembler.finish()
        if rest:
            yield StreamChunk(text=rest)
        yield StreamChunk(generation=generation)
