"""What the router does when a tier fails: the policy, and how a failure is classified."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from confidence_router.errors import (
    BackendError,
    CapabilityError,
    CircuitOpenError,
    CloudRequestError,
    ConfigurationError,
    DeadlineExceededError,
    InvalidInputError,
)
from confidence_router.secrets import redact

Fallback = Literal["edge", "raise"]
# `RoutedResponse.degraded_reason` values
CLOUD_UNAVAILABLE = "cloud_unavailable"
CLOUD_REJECTED = "cloud_rejected"
CIRCUIT_OPEN = "circuit_open"
DEADLINE_EXCEEDED = "deadline_exceeded"
_MAX_ERROR_CHARS = 500


def check_seconds(value: float | None, field: str) -> float | None:
    """None, or a number of seconds > 0."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ConfigurationError(field, f"must be a number of seconds > 0 or None, got {value!r}")
    return float(value)


@dataclass(frozen=True)
class FailurePolicy:
    """How a `CascadeRouter` handles failures (the same through every adapter).

    - Cloud errors are retried by the cloud backend (`OpenAIChatModel`: bounded attempts,
      exponential backoff with full jitter, the server's Retry-After honoured). After
      `breaker_failures` consecutive failed requests the circuit breaker stops calling the cloud
      for `breaker_cooldown_s`, then lets one probe through (`CircuitBreaker`).
    - When the cloud cannot answer a request the edge has answered: `fallback="edge"` returns the
      edge answer with `degraded=True` and the reason in `degraded_reason` / `error`;
      `fallback="raise"` raises the typed error (`CloudUnavailableError`, `CircuitOpenError`,
      `CloudRequestError`, `DeadlineExceededError`) with that answer in `edge_answer`. Without a
      usable edge answer (tools the edge cannot call, a prompt too long for it, an edge failure,
      an early exit) the error is raised either way.
    - Edge failures (a generation exception, out of memory, a broken edge server) escalate to the
      cloud (reason `edge_failed`, the error in `error`) unless `escalate_edge_errors=False`.
      Errors in the request itself (`InvalidInputError`, `CapabilityError`) are always raised.
    - `deadline_s`: the whole request's time limit (a per-call `deadline_s` overrides it). An
      in-process edge stops generating at the deadline; server calls time out at it.
      `edge_deadline_s` limits the edge alone: an edge answer not finished by then escalates
      (reason `edge_timeout`) with the time left.
    """

    fallback: Fallback = "edge"
    breaker_failures: int = 5
    breaker_cooldown_s: float = 30.0
    deadline_s: float | None = None
    edge_deadline_s: float | None = None
    escalate_edge_errors: bool = True

    def __post_init__(self) -> None:
        if self.fallback not in ("edge", "raise"):
            raise ConfigurationError(
                "fallback", f"must be 'edge' or 'raise', got {self.fallback!r}"
            )
        failures = self.breaker_failures
        if isinstance(failures, bool) or not isinstance(failures, int) or failures < 1:
            raise ConfigurationError(
                "breaker_failures", f"must be an integer >= 1, got {failures!r}"
            )
        check_seconds(self.breaker_cooldown_s, "breaker_cooldown_s")
        if self.breaker_cooldown_s is None:
            raise ConfigurationError("breaker_cooldown_s", "must be a number of seconds > 0")
        check_seconds(self.deadline_s, "deadline_s")
        check_seconds(self.edge_deadline_s, "edge_deadline_s")


def is_request_error(exc: BaseException) -> bool:
    """Errors in the request or configuration itself: raised, never escalated or retried."""
    return isinstance(exc, (InvalidInputError, CapabilityError, ConfigurationError))


def degraded_reason(exc: BaseException) -> str:
    """The `degraded_reason` a cloud failure gives the fallback answer."""
    if isinstance(exc, CircuitOpenError):
        return CIRCUIT_OPEN
    if isinstance(exc, DeadlineExceededError):
        return DEADLINE_EXCEEDED
    if isinstance(exc, CloudRequestError):
        return CLOUD_REJECTED
    return CLOUD_UNAVAILABLE


def counts_against_cloud(exc: BaseException) -> bool:
    """Does this failure say the cloud is unhealthy (for the circuit breaker)? A rejected
    request (4xx) or a call cut by the caller's own deadline does not."""
    return not isinstance(exc, (CloudRequestError, DeadlineExceededError, CircuitOpenError))


def describe(exc: BaseException, secrets: Iterable[str] = ()) -> str:
    """A one-line description of an error for the routing record, with secrets masked."""
    text = f"{type(exc).__name__}: {exc}".replace("\n", " ")
    text = redact(text, secrets)
    return text if len(text) <= _MAX_ERROR_CHARS else text[: _MAX_ERROR_CHARS - 3] + "..."


def as_backend_error(exc: BaseException, tier: str, secrets: Iterable[str] = ()) -> BackendError:
    """A typed error for any failure of a tier (foreign exceptions are wrapped, secrets masked)."""
    if isinstance(exc, BackendError):
        return exc
    return BackendError(f"{tier} model failed: {describe(exc, secrets)}", tier=tier)


def safe_cause(exc: BaseException, secrets: Iterable[str]) -> BaseException | None:
    """`exc` as the cause to chain to a typed error, or None when its text holds a secret (a
    traceback prints the cause's message)."""
    text = f"{exc} {exc!r}"
    return None if any(len(s) >= 6 and s in text for s in secrets) else exc
