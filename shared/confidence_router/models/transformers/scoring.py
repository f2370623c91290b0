"""The probability of a fixed reply (the `TokenProbabilityScorer` protocol `PTrue` uses)."""

from __future__ import annotations

import threading
from typing import Any

import torch

from confidence_router.errors import InvalidInputError, PromptTooLongError


def continuation_probability(
    model: Any,
    tokenizer: Any,
    prompt: torch.Tensor,
    continuation: str,
    window: int | None,
    lock: threading.Lock,
) -> float:
    """P(reply starts with `continuation` | the encoded `prompt`): the continuation's tokens
    (tokenized on their own, no special tokens) appended, the product of their probabilities at
    temperature 1, from one forward pass under `lock`."""
    ids = tokenizer.encode(continuation, add_special_tokens=False)
    if not ids:
        raise InvalidInputError("probability_of: the continuation has no tokens")
    prompt_len = int(prompt.shape[1])
    if window and prompt_len + len(ids) > window:
        raise PromptTooLongError(prompt_len + len(ids), window)
    targets = torch.tensor([ids], dtype=prompt.dtype, device=prompt.device)
    # only the positions that predict the continuation: the vocabulary projection over the
    # whole prompt would cost more than the rest of the pass for a long prompt
    keep = len(ids) + 1
    with lock, torch.inference_mode():
        logits = model(torch.cat([prompt, targets], dim=1), logits_to_keep=keep).logits
    logp = torch.log_softmax(logits[0, -keep:-1].float(), dim=-1)
    total = logp.gather(1, targets[0][:, None]).sum()
    return float(total.exp())
