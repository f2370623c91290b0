"""A circuit breaker for the cloud tier: stop calling a server that keeps failing, probe later."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Literal

from confidence_router.errors import ConfigurationError

State = Literal["closed", "open", "half_open"]


class CircuitBreaker:
    """Closed: every call goes through. After `failures` consecutive failures it opens: no call
    goes through for `cooldown_s`. Then it is half-open: one call (the probe) goes through; its
    success closes the breaker, its failure opens it for another cool-down. Thread-safe; one
    breaker is shared by every request of a router (sync and async alike).
    """

    def __init__(
        self,
        failures: int = 5,
        cooldown_s: float = 30.0,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if isinstance(failures, bool) or not isinstance(failures, int) or failures < 1:
            raise ConfigurationError(
                "breaker_failures", f"must be an integer >= 1, got {failures!r}"
            )
        if not cooldown_s > 0:
            raise ConfigurationError(
                "breaker_cooldown_s", f"must be > 0 seconds, got {cooldown_s!r}"
            )
        self.failures = failures
        self.cooldown_s = float(cooldown_s)
        self._clock = clock
        self._lock = threading.Lock()
        self._consecutive = 0
        self._opened_at: float | None = None
        self._probing = False

    @property
    def state(self) -> State:
        with self._lock:
            return self._state()

    def _state(self) -> State:
        if self._opened_at is None:
            return "closed"
        if self._clock() - self._opened_at < self.cooldown_s:
            return "open"
        return "half_open"

    def retry_in(self) -> float:
        """Seconds until the breaker lets a probe through (0 when it would now)."""
        with self._lock:
            if self._opened_at is None:
                return 0.0
            return max(0.0, self.cooldown_s - (self._clock() - self._opened_at))

    def allow(self) -> bool:
        """May a call go through now? In the half-open state only the first caller (the probe)
        gets True until that probe reports back."""
        with self._lock:
            state = self._state()
            if state == "closed":
                return True
            if state == "open" or self._probing:
                return False
            self._probing = True
            return True

    def record_success(self) -> None:
        with self._lock:
            self._consecutive = 0
            self._opened_at = None
            self._probing = False

    def record_failure(self) -> None:
        with self._lock:
            self._consecutive += 1
            if self._probing or self._consecutive >= self.failures:
                self._opened_at = self._clock()
            self._probing = False

    def release(self) -> None:
        """A call that went through ended without telling anything about the server's health
        (e.g. the request was rejected as malformed): let the next caller probe."""
        with self._lock:
            self._probing = False

    def __repr__(self) -> str:
        return (
            f"CircuitBreaker(state={self.state!r}, failures={self.failures}, "
            f"cooldown_s={self.cooldown_s})"
        )
