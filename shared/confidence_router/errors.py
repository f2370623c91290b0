"""Typed errors. Every error the library raises on purpose derives from `ConfidenceRouterError`."""

from __future__ import annotations

from typing import Any


class ConfidenceRouterError(Exception):
    """Base class of every error raised by confidence-router."""


class ConfigurationError(ConfidenceRouterError, ValueError):
    """A setting is missing or outside its allowed range; `field` names it."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        super().__init__(f"{field}: {message}")


class InvalidInputError(ConfidenceRouterError, ValueError):
    """A request is malformed (empty messages, unknown role, invalid UTF-8, ...)."""


class CapabilityError(ConfidenceRouterError, TypeError):
    """A backend cannot supply what an estimator or request needs (e.g. log-probs)."""


class ModelLoadError(ConfidenceRouterError, RuntimeError):
    """A model file could not be found, joined, verified or loaded."""


class BackendError(ConfidenceRouterError, RuntimeError):
    """A model backend failed to answer. `tier` is "edge" or "cloud".

    When the router raises it for a request the edge had already answered (`fallback="raise"`,
    or no usable fallback), `edge_answer` carries that answer as a `RoutedResponse` marked
    `degraded=True`; otherwise it is None.
    """

    def __init__(self, message: str, *, tier: str, retryable: bool = False) -> None:
        self.tier = tier
        self.retryable = retryable
        self.edge_answer: Any | None = None
        super().__init__(message)


class CloudUnavailableError(BackendError):
    """The cloud server could not be reached or kept failing after the retries."""

    def __init__(self, message: str, *, edge_answer: Any | None = None) -> None:
        super().__init__(message, tier="cloud", retryable=True)
        self.edge_answer = edge_answer


class CircuitOpenError(CloudUnavailableError):
    """The circuit breaker is open: the cloud failed repeatedly and is not called until its
    cool-down ends (`retry_in_s`)."""

    def __init__(self, message: str, *, retry_in_s: float, edge_answer: Any | None = None) -> None:
        super().__init__(message, edge_answer=edge_answer)
        self.retry_in_s = retry_in_s


class StreamInterruptedError(CloudUnavailableError):
    """The cloud's stream broke after part of its answer had been streamed to the caller (so no
    fallback answer can replace it)."""


class DeadlineExceededError(BackendError):
    """The request's deadline passed before a tier could answer."""

    def __init__(self, message: str, *, tier: str, edge_answer: Any | None = None) -> None:
        super().__init__(message, tier=tier, retryable=False)
        self.edge_answer = edge_answer


class CloudRequestError(BackendError):
    """The cloud server rejected the request (a 4xx other than 429); never retried."""

    def __init__(self, message: str, *, status_code: int | None = None) -> None:
        super().__init__(message, tier="cloud", retryable=False)
        self.status_code = status_code


class PromptTooLongError(InvalidInputError):
    """The prompt does not fit the model's context window."""

    def __init__(self, tokens: int, window: int) -> None:
        self.tokens = tokens
        self.window = window
        super().__init__(f"prompt has {tokens} tokens; the model's context window is {window}")
