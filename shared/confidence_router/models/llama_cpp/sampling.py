"""Per-step statistics and token choice from raw logits, in numpy.

Everything works on a (rows, vocab) block of one step's logits. Statistics are those of the raw
distribution (temperature 1, no truncation) over the full vocabulary, in float64: the chosen
token's log-probability and the step's entropy in nats. Sampling follows transformers' warper
order: temperature first, then top-p (nucleus) on the tempered distribution.
No BLAS call is made (a BLAS thread pool would fight llama.cpp's threads for the cores).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]


@dataclass(frozen=True)
class StepDistribution:
    """One step's raw distributions, one row each: shifted logits `z` (max 0), unnormalised
    probabilities `e = exp(z)`, their sums, log-normalisers and entropies."""

    z: FloatArray
    e: FloatArray
    total: FloatArray
    log_total: FloatArray
    entropy: FloatArray

    @classmethod
    def of(cls, logits: NDArray[np.floating]) -> StepDistribution:
        """The distributions of a (rows, vocab) or (vocab,) block of logits."""
        z = np.array(logits, dtype=np.float64, ndmin=2)  # a float64 copy, shifted in place
        z -= z.max(axis=1, keepdims=True)
        e = np.exp(z)
        total = e.sum(axis=1)
        log_total = np.log(total)
        # H = -sum p log p = log Z - sum(e z) / Z, with p = e / Z and log p = z - log Z
        with np.errstate(invalid="ignore"):  # -inf logits (masked tokens) give 0 * -inf
            entropy = log_total - np.einsum("ij,ij->i", e, z) / total
            if not np.isfinite(entropy).all():
                entropy = log_total - np.where(e > 0, e * z, 0.0).sum(axis=1) / total
        return cls(z=z, e=e, total=total, log_total=log_total, entropy=np.maximum(entropy, 0.0))

    def logprob(self, row: int, token: int) -> float:
        """log p(token) under row `row`'s raw distribution."""
        return float(self.z[row, token] - self.log_total[row])

    def greedy(self, row: int) -> int:
        """The most probable token of row `row` (the first one on a tie)."""
        return int(np.argmax(self.z[row]))

    def sample(
        self, row: int, rng: np.random.Generator, temperature: float = 1.0, top_p: float = 1.0
    ) -> int:
        """A token drawn from row `row` after temperature and top-p (see `sample_token`)."""
        if temperature == 1.0:
            return sample_token(self.e[row], rng, top_p, float(self.total[row]))
        return sample_token(np.exp(self.z[row] / temperature), rng, top_p)


def log_softmax(logits: NDArray[np.floating]) -> FloatArray:
    """Float64 log-softmax over the last axis."""
    x = np.asarray(logits, dtype=np.float64)
    z = x - x.max(axis=-1, keepdims=True)
    out: FloatArray = z - np.log(np.exp(z).sum(axis=-1, keepdims=True))
    return out


def entropy(logits: NDArray[np.floating]) -> FloatArray:
    """Entropy in nats of softmax(logits) over the last axis, float64."""
    logp = log_softmax(logits)
    out: FloatArray = -(np.exp(logp) * logp).sum(axis=-1)
    return out


def nucleus(weights: FloatArray, top_p: float) -> NDArray[np.intp]:
    """The smallest set of most probable tokens whose mass reaches `top_p` of the total, most
    probable first (transformers' `TopPLogitsWarper`, which always keeps one token).

    Only the head of the distribution is sorted: candidates grow 8x until they hold the mass.
    """
    size = weights.shape[0]
    goal = top_p * float(weights.sum())
    k = min(size, 64)
    while True:
        head = np.argpartition(weights, size - k)[size - k :] if k < size else np.arange(size)
        head = head[np.argsort(-weights[head], kind="stable")]
        mass = np.cumsum(weights[head])
        if mass[-1] >= goal or k == size:
            cut = int(np.searchsorted(mass, goal, side="left")) + 1
            return head[: min(cut, k)]
        k = min(size, k * 8)


_BLOCK = 1024


def _inverse_cdf(weights: FloatArray, target: float) -> int:
    """The index i with cumsum(weights)[i-1] <= target < cumsum(weights)[i], found through
    block sums (one summing pass, then a cumulative sum of one block) instead of a cumulative
    sum of the whole vocabulary."""
    size = int(weights.shape[0])
    if size <= 4 * _BLOCK:
        return min(int(np.searchsorted(np.cumsum(weights), target, side="right")), size - 1)
    whole = size - size % _BLOCK
    sums = weights[:whole].reshape(-1, _BLOCK).sum(axis=1)
    if whole < size:
        sums = np.append(sums, weights[whole:].sum())
    edges = np.cumsum(sums)
    block = min(int(np.searchsorted(edges, target, side="right")), edges.shape[0] - 1)
    start = block * _BLOCK
    inside = np.cumsum(weights[start : start + _BLOCK])
    offset = target - (edges[block - 1] if block else 0.0)
    at = min(int(np.searchsorted(inside, offset, side="right")), inside.shape[0] - 1)
    while weights[start + at] <= 0 and at > 0:  # rounding past a block's last positive weight
        at -= 1
    return int(start + at)


def sample_token(
    weights: FloatArray, rng: np.random.Generator, top_p: float = 1.0, total: float | None = None
) -> int:
    """A token drawn with probability proportional to `weights` (unnormalised, >= 0; `total`
    their sum when known), restricted to the top-p nucleus when `top_p` < 1. One uniform draw
    per call."""
    if top_p < 1.0:
        keep = nucleus(weights, top_p)
        cumulative = np.cumsum(weights[keep])
        at = int(np.searchsorted(cumulative, rng.random() * cumulative[-1], side="right"))
        return int(keep[min(at, keep.shape[0] - 1)])
    mass = float(weights.sum()) if total is None else total
    return _inverse_cdf(weights, rng.random() * mass)
