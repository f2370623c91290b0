"""What one backend call returns: the greedy answer's statistics, optional samples, usage."""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field, model_validator

from confidence_router.messages import ToolCall


class Usage(BaseModel):
    """Token counts of one tier for one request."""

    model_config = ConfigDict(frozen=True)

    input_tokens: int = 0
    output_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            input_tokens=self.input_tokens + other.input_tokens,
            output_tokens=self.output_tokens + other.output_tokens,
        )


# `Answer.finish_reason` of a generation cut by early exit (see `GenerationOptions`).
EARLY_EXIT = "early_exit"
# `Answer.finish_reason` of a generation cut because the request's deadline passed.
DEADLINE = "deadline"


def seconds_left(deadline: float | None) -> float | None:
    """Seconds until `deadline` (a `time.monotonic()` instant), at least 0; None: no deadline."""
    return None if deadline is None else max(0.0, deadline - time.monotonic())


@dataclass(frozen=True, eq=False)
class HiddenStates:
    """One layer's hidden states from the generation that produced an answer (no second pass).

    `prompt`: the state at the last prompt token (the one that chose the answer's first token);
    `answer_mean`: the mean of the states at the answer's tokens that the model evaluated (all
    of them when an end token followed, else all but the last: a cap, stop string, early exit or
    deadline ends the generation before it is fed), `prompt` when there is none (`answer_states`
    says how many). `layer` counts from the end: -1 is the last layer's output (after the final
    norm), -2 the one below it, and so on. Float32 vectors of the model's hidden size.
    """

    prompt: NDArray[np.float32]
    answer_mean: NDArray[np.float32]
    layer: int = -1
    answer_states: int = 0

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, HiddenStates):
            return NotImplemented
        return (
            (self.layer, self.answer_states) == (other.layer, other.answer_states)
            and np.array_equal(self.prompt, other.prompt)
            and np.array_equal(self.answer_mean, other.answer_mean)
        )

    __hash__ = None  # type: ignore[assignment]


@dataclass(frozen=True)
class Answer:
    """One generated answer and its per-token statistics (natural-log probabilities).

    `token_logprobs[t]` is log p(token_t | prefix) under the model's raw distribution
    (temperature 1, no top-k/top-p), `token_entropies[t]` the entropy of that distribution at
    step t (in nats).
    Either may be empty when the backend cannot supply it.
    """

    text: str
    token_ids: tuple[int, ...] = ()
    token_logprobs: tuple[float, ...] = ()
    token_entropies: tuple[float, ...] = ()
    tool_calls: tuple[ToolCall, ...] = ()
    finish_reason: str = "stop"
    # For a tool-call answer or a ReAct step (`Action:` / `Action Input:`): which tokens spell
    # the tool names and argument values (the rest is scaffolding the model is always sure of,
    # or a free-text thought). Estimators score only these. Empty when unknown.
    focus: tuple[bool, ...] = ()
    # The hidden states of this answer's generation, when asked (`GenerationOptions.hidden_states`)
    hidden: HiddenStates | None = None

    @property
    def num_tokens(self) -> int:
        return max(len(self.token_ids), len(self.token_logprobs))

    def focused(self) -> Answer:
        """The answer restricted to its `focus` tokens (itself when there is no focus)."""
        if not any(self.focus):
            return self
        keep = [i for i, flag in enumerate(self.focus) if flag]

        def pick(values: tuple[Any, ...]) -> tuple[Any, ...]:
            return tuple(values[i] for i in keep) if len(values) == len(self.focus) else values

        return replace(
            self,
            token_ids=pick(self.token_ids),
            token_logprobs=pick(self.token_logprobs),
            token_entropies=pick(self.token_entropies),
            focus=(),
        )


@dataclass(frozen=True)
class Generation:
    """One backend call: the greedy answer, `samples` when asked, and token usage."""

    greedy: Answer
    samples: tuple[Answer, ...] = ()
    usage: Usage = field(default_factory=Usage)
    model: str = ""

    @property
    def text(self) -> str:
        return self.greedy.text

    @property
    def tool_calls(self) -> tuple[ToolCall, ...]:
        return self.greedy.tool_calls


MAX_NEW_TOKENS = 32768  # the largest token cap any call accepts


class GenerationOptions(BaseModel):
    """What to generate. Backends ignore what they cannot do only when it is not asked for."""

    model_config = ConfigDict(frozen=True)

    max_new_tokens: int = Field(default=256, ge=1, le=MAX_NEW_TOKENS)
    logprobs: bool = False
    entropy: bool = False
    num_samples: int = Field(default=0, ge=0, le=64)
    temperature: float = Field(default=1.0, gt=0.0, le=5.0)
    top_p: float = Field(default=1.0, gt=0.0, le=1.0)
    stop: tuple[str, ...] = ()
    seed: int | None = None
    # None: the model may answer or call a tool; "required": it must call one; else a tool name.
    tool_choice: str | None = None
    # OpenAI's structured output (`json_object` / `json_schema`), for backends that enforce it
    # (`Capabilities.structured_output`); the router instructs and checks the others.
    response_format: dict[str, Any] | None = None
    # Only the `num_samples` samples: the caller already has the greedy answer (staged escalation
    # asks for samples in a second call). `Generation.greedy` is then an empty answer.
    samples_only: bool = False
    # Early exit: once the greedy answer has `early_exit_min_tokens` tokens, stop the whole
    # generation as soon as its running confidence (`RunningConfidence`: geometric-mean token
    # probability over the last `early_exit_window` tokens, all of them when None) falls below
    # `early_exit_floor`; the greedy answer then ends with finish_reason "early_exit". None: off.
    early_exit_floor: float | None = Field(default=None, ge=0.0, le=1.0)
    early_exit_min_tokens: int = Field(default=4, ge=1)
    early_exit_window: int | None = Field(default=None, ge=1)
    # The request's deadline as a `time.monotonic()` instant: an in-process generation stops
    # there (finish_reason "deadline"), a server call times out there. None: no deadline.
    deadline: float | None = None
    # The caller's conversation id (sticky routing); a router used as a tier passes it on.
    conversation_id: str | None = None
    # Hidden states of layer `hidden_layer` (-1: the last; Python indexing over the embeddings
    # output and each layer's) with every answer (`Answer.hidden`), from the same decode:
    # backends with `Statistic.HIDDEN_STATES`; llama.cpp supplies the last layer only.
    hidden_states: bool = False
    hidden_layer: int = -1

    @model_validator(mode="after")
    def _samples_only_needs_samples(self) -> GenerationOptions:
        if self.samples_only and self.num_samples < 1:
            raise ValueError("samples_only needs num_samples >= 1")
        return self
