"""Hidden states out of `generate(output_hidden_states=True)`: per answer, one layer's state at
the last prompt token and the mean over the answer's evaluated tokens (`HiddenStates`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy as np
import torch

from confidence_router.errors import ConfigurationError
from confidence_router.generation import Answer, HiddenStates


def from_end(layer: int, entries: int) -> int:
    """`layer` (an index into the `entries` hidden states: the embeddings' output, then each
    layer's) counted from the end, -1 the last; `ConfigurationError` when out of range."""
    if not -entries <= layer < entries:
        raise ConfigurationError(
            "hidden_layer", f"must be in [{-entries}, {entries - 1}] for this model, got {layer}"
        )
    return layer - entries if layer >= 0 else layer


def with_states(answers: Sequence[Answer], steps: Any, layer: int) -> list[Answer]:
    """`answers` (one per row, in row order) with their hidden states: `steps` is `generate`'s
    `hidden_states` (one tuple of layers per step, each (rows, tokens, d)). Step 0 ends at the
    last prompt token; step k >= 1 evaluated each row's k-th answer token, so row i's mean is
    over steps 1 .. min(len(answer i), steps - 1): a row that ended earlier only fed padding."""
    index = from_end(layer, len(steps[0]))
    prompt = steps[0][index][:, -1, :].float()
    later = [step[index][:, -1, :].float() for step in steps[1:]]
    stacked = torch.stack(later, dim=1) if later else None
    out = []
    for row, answer in enumerate(answers):
        count = min(answer.num_tokens, len(later))
        mean = prompt[row]
        if stacked is not None and count:
            mean = stacked[row, :count].double().mean(dim=0)
        hidden = HiddenStates(
            prompt=prompt[row].cpu().numpy().astype(np.float32),
            answer_mean=mean.cpu().numpy().astype(np.float32),
            layer=index,
            answer_states=count,
        )
        out.append(replace(answer, hidden=hidden))
    return out


def last_token_state(model: Any, input_ids: torch.Tensor, layer: int) -> np.ndarray:
    """One forward pass over a (1, L) prompt: layer `layer`'s state at its last token."""
    with torch.inference_mode():
        out = model(input_ids, output_hidden_states=True, logits_to_keep=1)
    states = out.hidden_states
    vector = states[from_end(layer, len(states))][0, -1].float().cpu().numpy()
    return np.asarray(vector, dtype=np.float32)
