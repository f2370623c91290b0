"""Admission to the model: one generation at a time (the lock, waited for until a deadline), and
which requests may share a batched decode, left-padded."""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from confidence_router.errors import DeadlineExceededError
from confidence_router.generation import GenerationOptions, seconds_left


@dataclass(frozen=True)
class Request:
    """A queued greedy request: its encoded prompt, options and tools."""

    input_ids: torch.Tensor
    options: GenerationOptions
    tools: Sequence[dict[str, Any]] | None


@contextlib.contextmanager
def locked(lock: threading.Lock, deadline: float | None, model: str) -> Iterator[None]:
    """`lock` (one generation at a time), waited for until `deadline` at most."""
    left = seconds_left(deadline)
    if left is not None and (left <= 0 or not lock.acquire(timeout=left)):
        raise DeadlineExceededError(
            f"edge model {model!r}: the deadline passed before the model was free", tier="edge"
        )
    if left is None:
        lock.acquire()
    try:
        yield
    finally:
        lock.release()


def batchable(options: GenerationOptions, prompt_len: int, window: int | None) -> bool:
    """Plain greedy requests (no samples, early exit, seed or deadline) whose token cap fits
    the context window may share a batched decode."""
    return (
        options.num_samples == 0
        and options.early_exit_floor is None
        and options.seed is None
        and options.deadline is None
        and (not window or prompt_len + options.max_new_tokens <= window)
    )


def batch_key(
    options: GenerationOptions, tools: Sequence[dict[str, Any]] | None
) -> tuple[str, str]:
    """Requests share a decode only with requests of the same options and tools."""
    return options.model_dump_json(), json.dumps(list(tools or ()), sort_keys=True, default=str)


def left_pad(
    requests: Sequence[Request], pad_id: int, device: str
) -> tuple[torch.Tensor, torch.Tensor]:
    """The prompts as one left-padded (batch, width) id tensor and its attention mask."""
    lengths = [int(r.input_ids.shape[1]) for r in requests]
    width = max(lengths)
    fill = pad_id if pad_id >= 0 else 0  # masked positions: any valid token id
    ids = torch.full((len(requests), width), fill, dtype=torch.long, device=device)
    mask = torch.zeros_like(ids)
    for row, (request, length) in enumerate(zip(requests, lengths, strict=True)):
        ids[row, width - length :] = request.input_ids[0]
        mask[row, width - length :] = 1
    return ids, mask
