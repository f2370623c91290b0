"""Per-token log-probs and top-k entropies out of an OpenAI-style `logprobs` field: the SDK's
objects or their dict form (LangChain's `response_metadata["logprobs"]`)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any


def topk_entropy(top_logprobs: Sequence[float]) -> float:
    """Entropy (nats) of the top-k distribution renormalised to sum to one.

    It ignores the probability mass outside the top k, so it approximates (and usually
    underestimates) the full-vocabulary entropy; with k=1 it is always 0.
    """
    if not top_logprobs:
        return 0.0
    peak = max(top_logprobs)
    weights = [math.exp(lp - peak) for lp in top_logprobs]
    total = math.fsum(weights)
    probs = [w / total for w in weights]
    return -math.fsum(p * math.log(p) for p in probs if p > 0)


def _field(item: Any, name: str) -> Any:
    return item[name] if isinstance(item, Mapping) else getattr(item, name)


def _optional(item: Any, name: str) -> Any:
    return item.get(name) if isinstance(item, Mapping) else getattr(item, name, None)


def parse_logprobs(logprobs: Any) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """(per-token log-probs, per-token entropies of the top alternatives) of a choice's
    `logprobs` (None, an SDK object or a dict); both empty when it has no token content."""
    content = _optional(logprobs, "content") if logprobs else None
    if not content:
        return (), ()
    values = tuple(float(_field(t, "logprob")) for t in content)
    entropies = tuple(
        topk_entropy([float(_field(a, "logprob")) for a in _optional(t, "top_logprobs") or ()])
        for t in content
    )
    return values, entropies
