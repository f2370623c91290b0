"""The running confidence of an answer being generated, and the early-exit rule built on it."""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable

from confidence_router.errors import ConfigurationError


class RunningConfidence:
    """Geometric-mean token probability of the tokens so far: exp(mean log p) over the last
    `window` tokens (all of them when None), updated one token at a time.

    With `floor` set, `push` answers whether generation should stop: once at least `min_tokens`
    tokens are in, as soon as the running confidence is below `floor`. With `window=None` the
    value is `MaxSequenceProbability` of the prefix; a window reacts to a local collapse instead.
    """

    def __init__(
        self, floor: float | None = None, *, min_tokens: int = 4, window: int | None = None
    ) -> None:
        if floor is not None and not 0.0 <= floor <= 1.0:
            raise ConfigurationError("early_exit_floor", f"must be in [0, 1], got {floor!r}")
        if min_tokens < 1:
            raise ConfigurationError("early_exit_min_tokens", f"must be >= 1, got {min_tokens}")
        if window is not None and window < 1:
            raise ConfigurationError("early_exit_window", f"must be >= 1 or None, got {window}")
        self.floor = floor
        self.min_tokens = min_tokens
        self.window = window
        self.tokens = 0
        self._recent: deque[float] = deque(maxlen=window)
        self._total = 0.0

    @property
    def value(self) -> float:
        """The running confidence (1 before any token)."""
        if self.window is not None:
            return math.exp(math.fsum(self._recent) / len(self._recent)) if self._recent else 1.0
        return math.exp(self._total / self.tokens) if self.tokens else 1.0

    def push(self, logprob: float) -> bool:
        """Add one token's log-prob; True when the generation should stop here."""
        self.tokens += 1
        self._recent.append(logprob)
        self._total += logprob
        return self.floor is not None and self.tokens >= self.min_tokens and self.value < self.floor


def exit_point(
    logprobs: Iterable[float], floor: float, *, min_tokens: int = 4, window: int | None = None
) -> int | None:
    """How many tokens a generation with these log-probs would have had when early exit stopped
    it, or None when it would have run to the end (offline replay of `RunningConfidence`)."""
    running = RunningConfidence(floor, min_tokens=min_tokens, window=window)
    for logprob in logprobs:
        if running.push(logprob):
            return running.tokens
    return None
