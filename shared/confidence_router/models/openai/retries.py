"""Retrying failed calls (tenacity), and what still fails as the router's errors."""

from __future__ import annotations

import json
import random
from typing import Any

import openai
from tenacity import RetryCallState, retry_if_exception, stop_after_attempt, stop_after_delay

from confidence_router.errors import (
    BackendError,
    CloudRequestError,
    CloudUnavailableError,
    DeadlineExceededError,
)
from confidence_router.generation import seconds_left
from confidence_router.secrets import redact

# what a call raises that `translate` turns into a `BackendError`
CALL_ERRORS = (openai.OpenAIError, json.JSONDecodeError)


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


def cause(exc: BaseException) -> BaseException | None:
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


class Backoff:
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


def retrying_args(
    backoff: Backoff, max_attempts: int, max_seconds: float, deadline: float | None
) -> dict[str, Any]:
    """Keyword arguments of tenacity's `Retrying` / `AsyncRetrying`: retryable errors only, at
    most `max_attempts` tries and `max_seconds` (cut to the deadline), pauses by `backoff`."""
    budget = max_seconds
    left = seconds_left(deadline)
    if left is not None:
        budget = min(budget, left)

    def wait(state: RetryCallState) -> float:
        pause = backoff(state)
        remaining = seconds_left(deadline)
        return pause if remaining is None else min(pause, remaining)

    return {
        "retry": retry_if_exception(is_retryable),
        "stop": stop_after_attempt(max_attempts) | stop_after_delay(budget),
        "wait": wait,
        "reraise": True,
    }


def translate(
    exc: Exception,
    *,
    where: str,
    tier: str,
    max_attempts: int,
    api_key: str,
    deadline: float | None = None,
) -> BackendError:
    """The router's error for a call that failed (after its retries) at `where`."""
    if isinstance(exc, openai.APIStatusError) and not is_retryable(exc):
        # the server's own words (an echoed key masked): they say why, e.g. a bad model name
        said = redact(str(exc.message), [api_key])[:300]
        msg = f"{where} rejected the request: HTTP {exc.status_code}: {said}"
        if tier == "cloud":
            return CloudRequestError(msg, status_code=exc.status_code)
        return BackendError(msg, tier=tier)
    if deadline is not None and seconds_left(deadline) == 0.0:
        return DeadlineExceededError(
            f"{where} did not answer before the deadline: {type(exc).__name__}", tier=tier
        )
    msg = f"{where} did not answer after {max_attempts} attempts: {type(exc).__name__}"
    if tier == "cloud":
        return CloudUnavailableError(msg)
    return BackendError(msg, tier=tier, retryable=True)
