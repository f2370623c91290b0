"""What the scheduler decodes: a generation (greedy row and/or sampled rows over one prompt) or a
teacher-forced pass (a token sequence's logits at chosen positions, or its last hidden state).

A job that `wants_states` gets the hidden state of every token it marks as an output: a
generation the last prompt token's and each fed answer token's (summed per row), a pass the last
token's."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from confidence_router.generation import DEADLINE, EARLY_EXIT, GenerationOptions, HiddenStates
from confidence_router.models.llama_cpp.sampling import StepDistribution
from confidence_router.running_confidence import RunningConfidence


@dataclass(eq=False)
class Row:
    """One sequence of a generation: the greedy answer or one sample."""

    seq: int
    greedy: bool
    tokens: list[int] = field(default_factory=list)
    logprobs: list[float] = field(default_factory=list)
    entropies: list[float] = field(default_factory=list)
    stopped: bool = False  # an end-of-generation token or a stop string ended it
    tail: bytearray = field(default_factory=bytearray)  # recent text, for stop strings
    pos: int = 0  # the position of the next token it feeds
    state_sum: NDArray[np.float64] | None = None  # the fed answer tokens' hidden states, summed
    state_count: int = 0

    @property
    def live(self) -> bool:
        return not self.stopped


@dataclass(frozen=True)
class RowResult:
    """One finished row: its tokens (no end token), their raw statistics, its finish reason."""

    tokens: tuple[int, ...]
    logprobs: tuple[float, ...]
    entropies: tuple[float, ...]
    finish: str
    hidden: HiddenStates | None = None


class Job:
    """A unit of work for the scheduler; `done` is set once `result` or `error` is."""

    wants_states = False  # whether its outputs' hidden states are read

    def __init__(self, prompt: Sequence[int], rows: int, deadline: float | None) -> None:
        self.prompt = list(prompt)
        self.rows_needed = rows
        self.deadline = deadline
        self.seqs: list[int] = []
        self.evaluated = 0  # prompt tokens already in the KV cache
        self.cancelled = False
        self.done = threading.Event()
        self.error: BaseException | None = None

    @property
    def cells(self) -> int:
        """KV cells the job may use at most (reserved at admission)."""
        return len(self.prompt)

    @property
    def prefilling(self) -> bool:
        return self.evaluated < len(self.prompt)

    def prefill_outputs(self, start: int, stop: int) -> list[int]:
        """Which prompt tokens in [start, stop) need logits (indices relative to start)."""
        return [len(self.prompt) - 1 - start] if stop == len(self.prompt) else []

    def fail(self, error: BaseException) -> None:
        """Give the caller `error` (unless it already has an outcome)."""
        if not self.done.is_set():
            self.error = error
            self.done.set()

    def complete(self) -> None:
        """Give the caller the result."""
        self.done.set()


class GenerateJob(Job):
    """Greedy and/or sampled answers to one prompt, decoded as sequences of one batch."""

    def __init__(
        self,
        prompt: Sequence[int],
        options: GenerationOptions,
        *,
        max_new: int,
        rng: np.random.Generator,
        is_end: Callable[[int], bool],
        piece: Callable[[int], bytes],
    ) -> None:
        greedy = not options.samples_only
        super().__init__(prompt, options.num_samples + int(greedy), options.deadline)
        self.options = options
        self.max_new = max_new
        self.rng = rng
        self.is_end = is_end
        self.piece = piece
        self.greedy = greedy
        self.rows: list[Row] = []
        self.stops = [s.encode("utf-8") for s in options.stop if s]
        self._keep = max((len(s) for s in self.stops), default=0) + 64
        self.running: RunningConfidence | None = None
        if greedy and options.early_exit_floor is not None:
            self.running = RunningConfidence(
                options.early_exit_floor,
                min_tokens=options.early_exit_min_tokens,
                window=options.early_exit_window,
            )
        self.cut = "length"  # the finish reason of rows that did not stop on their own
        self.result: list[RowResult] | None = None
        self.wants_states = options.hidden_states
        self.prompt_state: NDArray[np.float32] | None = None

    @property
    def cells(self) -> int:
        # each row feeds back all its tokens but the last: the prompt's cells plus that
        return len(self.prompt) + self.rows_needed * (self.max_new - 1)

    def start_rows(self) -> None:
        """Create the rows once sequence ids are assigned."""
        self.rows = [
            Row(seq=seq, greedy=self.greedy and i == 0, pos=len(self.prompt))
            for i, seq in enumerate(self.seqs)
        ]

    @property
    def started(self) -> bool:
        """Whether the first token has been chosen (the prompt is fully evaluated)."""
        return not self.prefilling

    def first_tokens(self, logits: NDArray[np.float32]) -> None:
        """Every row's first token, from the prompt's last logits (one row, shared)."""
        dist = StepDistribution.of(logits)
        for row in self.rows:
            self._choose(row, dist, 0)

    def next_tokens(self, logits: NDArray[np.float32], rows: Sequence[Row]) -> None:
        """One token for each of `rows`, from their logits (one row each, in order)."""
        dist = StepDistribution.of(logits)
        for i, row in enumerate(rows):
            self._choose(row, dist, i)

    def prompt_states(self, states: NDArray[np.float32]) -> None:
        """The last prompt token's hidden state (one row)."""
        self.prompt_state = np.array(states[-1], dtype=np.float32, copy=True)

    def answer_states(self, states: NDArray[np.float32], rows: Sequence[Row]) -> None:
        """The hidden states of the tokens `rows` just fed (one row each, in order)."""
        for i, row in enumerate(rows):
            vector = states[i].astype(np.float64)
            row.state_sum = vector if row.state_sum is None else row.state_sum + vector
            row.state_count += 1

    def _hidden(self, row: Row) -> HiddenStates | None:
        if self.prompt_state is None:
            return None
        mean = self.prompt_state
        if row.state_sum is not None and row.state_count:
            mean = (row.state_sum / row.state_count).astype(np.float32)
        return HiddenStates(self.prompt_state, mean, -1, row.state_count)

    def _choose(self, row: Row, dist: StepDistribution, i: int) -> None:
        if not row.live:
            return
        if row.greedy:
            token = dist.greedy(i)
        else:
            token = dist.sample(i, self.rng, self.options.temperature, self.options.top_p)
        if self.is_end(token):
            row.stopped = True
            return
        logprob = dist.logprob(i, token)
        row.tokens.append(token)
        row.logprobs.append(logprob)
        row.entropies.append(float(dist.entropy[i]))
        if self.stops:
            row.tail += self.piece(token)
            if any(stop in row.tail for stop in self.stops):
                row.stopped = True
            del row.tail[: -self._keep]
        if row.greedy and self.running is not None and self.running.push(logprob):
            self.cut = EARLY_EXIT

    def feeds(self) -> list[Row]:
        """The rows that feed their last token at the next step (live and under the cap)."""
        if self.cut != "length":
            return []
        return [row for row in self.rows if row.live and len(row.tokens) < self.max_new]

    def hit_deadline(self) -> None:
        if self.cut == "length":
            self.cut = DEADLINE

    @property
    def finished(self) -> bool:
        return not self.feeds()

    def complete(self) -> None:
        self.result = [
            RowResult(
                tokens=tuple(row.tokens),
                logprobs=tuple(row.logprobs),
                entropies=tuple(row.entropies),
                finish="stop" if row.stopped else self.cut,
                hidden=self._hidden(row),
            )
            for row in self.rows
        ]
        self.done.set()


class LogitsJob(Job):
    """A teacher-forced pass over `tokens`: the raw logits at `positions` (each predicts the
    token after it), from one sequence."""

    def __init__(
        self, tokens: Sequence[int], positions: Sequence[int], deadline: float | None = None
    ) -> None:
        super().__init__(tokens, 1, deadline)
        self.positions = sorted(set(positions))
        self.collected: list[NDArray[np.float32]] = []
        self.result: NDArray[np.float32] | None = None

    def prefill_outputs(self, start: int, stop: int) -> list[int]:
        return [p - start for p in self.positions if start <= p < stop]

    def collect(self, logits: NDArray[np.float32]) -> None:
        self.collected.append(np.array(logits, dtype=np.float32, copy=True))

    def complete(self) -> None:
        empty = np.zeros((0, 0), dtype=np.float32)
        self.result = np.concatenate(self.collected) if self.collected else empty
        self.done.set()


class StateJob(LogitsJob):
    """A prefill of `tokens` alone: the last token's hidden state (no token is chosen)."""

    wants_states = True

    def __init__(self, tokens: Sequence[int], deadline: float | None = None) -> None:
        super().__init__(tokens, [len(tokens) - 1], deadline)
        self.state: NDArray[np.float32] | None = None

    def collect_states(self, states: NDArray[np.float32]) -> None:
        self.state = np.array(states[-1], dtype=np.float32, copy=True)

    def complete(self) -> None:
        self.result = self.state
        self.done.set()
