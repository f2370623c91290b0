"""The hooks `generate` calls each step: logits processors and stopping criteria."""

from __future__ import annotations

import time
from typing import Any

import torch
from transformers import LogitsProcessor, StoppingCriteria

from confidence_router.running_confidence import RunningConfidence


class StepStatistics(LogitsProcessor):  # type: ignore[misc]
    """Records, for every row and step, the log-prob of the chosen token and the step's entropy.

    It sees the raw logits (it runs before any temperature / top-p warper), keeps one step's
    log-softmax to look up the token chosen at that step when the next step starts, and so never
    holds more than one (batch, vocab) tensor.
    """

    def __init__(self, want_entropy: bool) -> None:
        self.want_entropy = want_entropy
        self.logprobs: list[torch.Tensor] = []
        self.entropies: list[torch.Tensor] = []
        self._previous: torch.Tensor | None = None

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        self.observe(input_ids[:, -1])
        logp = torch.log_softmax(scores.float(), dim=-1)
        if self.want_entropy:
            p = logp.exp()
            self.entropies.append(-(p * torch.where(p > 0, logp, 0.0)).sum(-1))
        self._previous = logp
        return scores

    def observe(self, chosen: torch.Tensor) -> None:
        """Record the log-probs of the tokens just chosen, unless already recorded (a stopping
        criterion needs them before the next step's call)."""
        if self._previous is not None:
            self.logprobs.append(self._previous.gather(1, chosen[:, None]).squeeze(1))
            self._previous = None

    def finish(self, last_tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(batch, steps) log-probs and entropies once generation has ended."""
        self.observe(last_tokens)
        logprobs = torch.stack(self.logprobs, dim=1)
        entropies = torch.stack(self.entropies, dim=1) if self.entropies else None
        return logprobs, entropies


class GreedyFirstRow(LogitsProcessor):  # type: ignore[misc]
    """Makes row 0 of a sampled batch greedy, so one `generate` call yields greedy + samples."""

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        forced = torch.full_like(scores[0], float("-inf"))
        forced[scores[0].argmax()] = 0.0
        scores = scores.clone()
        scores[0] = forced
        return scores


class EarlyExit(StoppingCriteria):  # type: ignore[misc]
    """Stops the whole batch once the greedy row's running confidence falls below the floor.

    It reads the log-prob `StepStatistics` recorded for the token just chosen (the raw
    distribution's); the greedy row is row 0. Once that row has ended (an end or pad token), it
    never fires. On exit the sampled rows stop too: the request escalates, so they are not needed.
    """

    def __init__(
        self, recorder: StepStatistics, running: RunningConfidence, done_ids: set[int]
    ) -> None:
        self.recorder = recorder
        self.running = running
        self.done_ids = done_ids
        self.exited = False
        self._greedy_done = False

    def __call__(self, input_ids: torch.Tensor, scores: Any, **kwargs: Any) -> torch.Tensor:
        self.recorder.observe(input_ids[:, -1])
        if not (self.exited or self._greedy_done):
            if int(input_ids[0, -1]) in self.done_ids:
                self._greedy_done = True
            else:
                self.exited = self.running.push(float(self.recorder.logprobs[-1][0]))
        return torch.full(
            (input_ids.shape[0],), self.exited, dtype=torch.bool, device=input_ids.device
        )


class Deadline(StoppingCriteria):  # type: ignore[misc]
    """Stops the whole batch once the request's deadline (a `time.monotonic()` instant) passes."""

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline
        self.fired = False

    def __call__(self, input_ids: torch.Tensor, scores: Any, **kwargs: Any) -> torch.Tensor:
        self.fired = self.fired or time.monotonic() >= self.deadline
        return torch.full(
            (input_ids.shape[0],), self.fired, dtype=torch.bool, device=input_ids.device
        )
