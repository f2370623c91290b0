"""Any OpenAI-compatible chat server as a backend: the cloud tier, or an edge with log-probs."""

from __future__ import annotations

import asyncio
import json
import math
import random
import weakref
from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any

import openai
from pydantic import SecretStr
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    stop_after_delay,
)

from confidence_router.errors import (
    BackendError,
    CapabilityError,
    CloudRequestError,
    CloudUnavailableError,
    ConfigurationError,
    DeadlineExceededError,
)
from confidence_router.generation import (
    Answer,
    Generation,
    GenerationOptions,
    Usage,
    seconds_left,
)
from confidence_router.messages import ChatMessage, ToolCall
from confidence_router.models.base import Capabilities, ChatBackend, StreamChunk
from confidence_router.models.openai_stream import StreamAssembler
from confidence_router.models.tool_choice import openai_tool_choice
from confidence_router.models.tool_parsing import parse_tool_calls, tool_names
from confidence_router.secrets import redact
from confidence_router.uncertainty.statistics import Statistic

_LOGPROB_STATS = frozenset(
    {Statistic.GREEDY_LOGPROBS, Statistic.GREEDY_ENTROPY, Statistic.SAMPLE_LOGPROBS}
)


def is_retryable(exc: BaseException) -> bool:
    """Rate limits, 5xx, timeouts, dropped connections and malformed response bodies are
    retried; other 4xx never are."""
    if isinstance(
        exc,
        (
            openai.APITimeoutError,
            openai.APIConnectionError,
            openai.APIResponseValidationError,
            json.JSONDecodeError,
        ),
    ):
        return True
    if isinstance(exc, openai.APIStatusError):
        return exc.status_code == 429 or exc.status_code >= 500
    return False


def _cause(exc: BaseException) -> BaseException | None:
    """The cause to chain to a translated error: not a server's error answer, whose text may
    echo the request's API key (the translated message carries its redacted words)."""
    return None if isinstance(exc, openai.APIStatusError) else exc


def retry_after_seconds(exc: BaseException | None, cap: float) -> float | None:
    """The server's Retry-After (seconds form), if it sent one, capped at `cap`."""
    response = getattr(exc, "response", None)
    value = response.headers.get("retry-after") if response is not None else None
    try:
        return min(cap, max(0.0, float(value))) if value is not None else None
    except ValueError:
        return None


class _Backoff:
    """Exponential backoff with full jitter (at most `maximum`), or the server's Retry-After
    when it sends one (at most `hint_cap`: the retry budget, not our own backoff's ceiling)."""

    def __init__(self, initial: float, maximum: float, hint_cap: float) -> None:
        self.initial = initial
        self.maximum = maximum
        self.hint_cap = hint_cap

    def __call__(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        hinted = retry_after_seconds(exc, self.hint_cap)
        if hinted is not None:
            return hinted
        ceiling = min(self.maximum, self.initial * 2 ** (state.attempt_number - 1))
        return random.uniform(0, ceiling)


def topk_entropy(top_logprobs: Sequence[float]) -> float:
    """Entropy (nats) of the top-k distribution renormalised to sum to one.

    It ignores the probability mass outside the top k, so it approximates (and usually
    underestimates) the full-vocabulary entropy; with k=1 it is always 0.
    """
    if not top_logprobs:
        return 0.0
    peak = max(top_logprobs)
    weights = [math.exp(lp - peak) for lp in top_logprobs]
    total = math.fsum(weights)
    probs = [w / total for w in weights]
    return -math.fsum(p * math.log(p) for p in probs if p > 0)


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
        self._backoff = _Backoff(initial_backoff, max_backoff, max_retry_seconds)
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
        body: dict[str, Any] = {
            "model": self._model,
            "messages": [m.to_openai() for m in messages],
            "max_tokens": options.max_new_tokens,
            "temperature": options.temperature if sample else 0.0,
        }
        if sample and options.top_p < 1.0:
            body["top_p"] = options.top_p
        if options.stop:
            body["stop"] = list(options.stop)
        if options.seed is not None:
            body["seed"] = options.seed
        if tools:
            body["tools"] = list(tools)
            choice = openai_tool_choice(options.tool_choice)
            if choice is not None:
                body["tool_choice"] = choice
        if options.response_format is not None:
            body["response_format"] = dict(options.response_format)
        wants_logprobs = options.logprobs or options.entropy
        if self.logprobs and wants_logprobs:
            body["logprobs"] = True
            body["top_logprobs"] = max(1, self.top_logprobs)
        return body

    def _retrying_args(self, deadline: float | None) -> dict[str, Any]:
        budget = self.max_retry_seconds
        left = seconds_left(deadline)
        if left is not None:
            budget = min(budget, left)

        def wait(state: RetryCallState) -> float:
            pause = self._backoff(state)
            remaining = seconds_left(deadline)
            return pause if remaining is None else min(pause, remaining)

        return {
            "retry": retry_if_exception(is_retryable),
            "stop": stop_after_attempt(self.max_attempts) | stop_after_delay(budget),
            "wait": wait,
            "reraise": True,
        }

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
        where = f"{self.tier} model {self._model!r} at {self.base_url or 'api.openai.com'}"
        if isinstance(exc, openai.APIStatusError) and not is_retryable(exc):
            # the server's own words (an echoed key masked): they say why, e.g. a bad model name
            said = redact(str(exc.message), [self.api_key.get_secret_value()])[:300]
            msg = f"{where} rejected the request: HTTP {exc.status_code}: {said}"
            if self.tier == "cloud":
                return CloudRequestError(msg, status_code=exc.status_code)
            return BackendError(msg, tier=self.tier)
        if deadline is not None and seconds_left(deadline) == 0.0:
            return DeadlineExceededError(
                f"{where} did not answer before the deadline: {type(exc).__name__}", tier=self.tier
            )
        msg = f"{where} did not answer after {self.max_attempts} attempts: {type(exc).__name__}"
        if self.tier == "cloud":
            return CloudUnavailableError(msg)
        return BackendError(msg, tier=self.tier, retryable=True)

    def _call(self, body: dict[str, Any], deadline: float | None = None) -> Any:
        try:
            for attempt in Retrying(**self._retrying_args(deadline)):
                with attempt:
                    timeout = self._timeout(deadline)
                    return self._client.chat.completions.create(**body, timeout=timeout)
        except (openai.OpenAIError, json.JSONDecodeError) as exc:
            raise self._translate(exc, deadline) from _cause(exc)
        raise AssertionError("unreachable")  # pragma: no cover

    def _async_client(self) -> openai.AsyncOpenAI:
        loop = asyncio.get_running_loop()
        client = self._aclients.get(loop)
        if client is None:
            client = self._aclients[loop] = openai.AsyncOpenAI(**self._client_args)
        return client

    async def _acall(self, body: dict[str, Any], deadline: float | None = None) -> Any:
        try:
            async for attempt in AsyncRetrying(**self._retrying_args(deadline)):
                with attempt:
                    timeout = self._timeout(deadline)
                    client = self._async_client()
                    return await client.chat.completions.create(**body, timeout=timeout)
        except (openai.OpenAIError, json.JSONDecodeError) as exc:
            raise self._translate(exc, deadline) from _cause(exc)
        raise AssertionError("unreachable")  # pragma: no cover

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
        except (openai.OpenAIError, json.JSONDecodeError) as exc:
            raise self._translate(exc, options.deadline) from _cause(exc)
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
        except (openai.OpenAIError, json.JSONDecodeError) as exc:
            raise self._translate(exc, options.deadline) from _cause(exc)
        rest, generation = assembler.finish()
        if rest:
            yield StreamChunk(text=rest)
        yield StreamChunk(generation=generation)

    def _stream_body(
        self,
        messages: Sequence[ChatMessage],
        options: GenerationOptions,
        tools: Sequence[dict[str, Any]] | None,
    ) -> dict[str, Any]:
        self._check_early_exit(options)
        body = self._request(messages, options, tools, sample=False)
        body.update(stream=True, stream_options={"include_usage": True})
        body.pop("logprobs", None)
        body.pop("top_logprobs", None)
        return body

    # -- responses ----------------------------------------------------------------------------

    def _answer(
        self, response: Any, tools: Sequence[dict[str, Any]] | None
    ) -> tuple[Answer, Usage]:
        if not getattr(response, "choices", None):
            raise BackendError(
                f"{self.tier} model {self._model!r}: response has no choices", tier=self.tier
            )
        choice = response.choices[0]
        message = choice.message
        text = message.content or ""
        calls: tuple[ToolCall, ...] = tuple(
            ToolCall(
                id=call.id or f"call_{i}",
                name=call.function.name,
                arguments=json.loads(call.function.arguments or "{}"),
            )
            for i, call in enumerate(message.tool_calls or ())
        )
        if tools and not calls and self.parse_text_tool_calls:
            text, calls = parse_tool_calls(text, tool_names(tools))
        logprobs: tuple[float, ...] = ()
        entropies: tuple[float, ...] = ()
        content = getattr(choice.logprobs, "content", None) if choice.logprobs else None
        if content:
            logprobs = tuple(float(t.logprob) for t in content)
            entropies = tuple(
                topk_entropy([float(a.logprob) for a in (t.top_logprobs or ())]) for t in content
            )
        usage = response.usage
        finish = "tool_calls" if calls else (choice.finish_reason or "stop")
        answer = Answer(
            text=text.strip(),
            token_logprobs=logprobs,
            token_entropies=entropies,
            tool_calls=calls,
            finish_reason=finish,
        )
        counted = Usage(
            input_tokens=int(getattr(usage, "prompt_tokens", 0) or 0),
            output_tokens=int(getattr(usage, "completion_tokens", 0) or 0),
        )
        return answer, counted

    def _collect(
        self,
        responses: Sequence[Any],
        tools: Sequence[dict[str, Any]] | None,
        samples_only: bool = False,
    ) -> Generation:
        try:
            parsed = [self._answer(r, tools) for r in responses]
        except (AttributeError, TypeError, ValueError) as exc:  # JSONDecodeError is a ValueError
            raise BackendError(
                f"{self.tier} model {self._model!r}: malformed response ({type(exc).__name__})",
                tier=self.tier,
            ) from exc
        usage = Usage(  # every request sent the prompt: each one's prompt tokens count
            input_tokens=sum(u.input_tokens for _, u in parsed),
            output_tokens=sum(u.output_tokens for _, u in parsed),
        )
        answers = [a for a, _ in parsed]
        if samples_only:
            answers.insert(0, Answer(text=""))
        return Generation(
            greedy=answers[0],
            samples=tuple(answers[1:]),
            usage=usage,
            model=self._model,
        )

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
