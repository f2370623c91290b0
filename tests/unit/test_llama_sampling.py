"""Per-step statistics and token choice of the llama.cpp backend (pure numpy)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from confidence_router.models.llama_cpp.sampling import (
    StepDistribution,
    _inverse_cdf,
    entropy,
    log_softmax,
    nucleus,
    sample_token,
)


def _reference(row: np.ndarray) -> tuple[list[float], float]:
    """log-softmax and entropy of one row, the slow obvious way (math.fsum over Python floats)."""
    values = [float(v) for v in row]
    top = max(values)
    log_total = top + math.log(math.fsum(math.exp(v - top) for v in values))
    logp = [v - log_total for v in values]
    return logp, -math.fsum(math.exp(lp) * lp for lp in logp if lp > -math.inf)


def test_statistics_are_the_full_vocabulary_raw_distribution() -> None:
    rng = np.random.default_rng(0)
    logits = (rng.standard_normal((3, 5000)) * 4).astype(np.float32)
    logits[1, 7] = 30.0  # a peaked row
    dist = StepDistribution.of(logits)
    for row in range(3):
        logp, h = _reference(logits[row])
        assert dist.entropy[row] == pytest.approx(h, abs=1e-9)
        for token in (0, 7, 4999, int(np.argmax(logits[row]))):
            assert dist.logprob(row, token) == pytest.approx(logp[token], abs=1e-9)
        assert dist.greedy(row) == int(np.argmax(logits[row]))
    assert dist.entropy[1] < 0.01 < dist.entropy[0]
    np.testing.assert_allclose(log_softmax(logits)[2], _reference(logits[2])[0], atol=1e-9)
    np.testing.assert_allclose(entropy(logits), dist.entropy, atol=1e-9)


def test_masked_tokens_keep_the_statistics_finite() -> None:
    logits = np.array([[2.0, -np.inf, 1.0, -np.inf]], dtype=np.float32)
    dist = StepDistribution.of(logits)
    p = np.exp([2.0, 1.0]) / np.exp([2.0, 1.0]).sum()
    assert dist.entropy[0] == pytest.approx(float(-(p * np.log(p)).sum()), abs=1e-12)
    assert dist.logprob(0, 1) == -np.inf
    rng = np.random.default_rng(1)
    assert {dist.sample(0, rng) for _ in range(200)} == {0, 2}


def test_sampling_follows_the_distribution_and_the_seed() -> None:
    logits = np.log(np.array([[0.5, 0.3, 0.15, 0.05]]))
    dist = StepDistribution.of(logits)
    draws = [dist.sample(0, np.random.default_rng(seed)) for seed in range(4000)]
    freq = np.bincount(draws, minlength=4) / len(draws)
    np.testing.assert_allclose(freq, [0.5, 0.3, 0.15, 0.05], atol=0.03)
    rng_a, rng_b = np.random.default_rng(7), np.random.default_rng(7)
    assert [dist.sample(0, rng_a) for _ in range(50)] == [dist.sample(0, rng_b) for _ in range(50)]


def test_temperature_sharpens_or_flattens() -> None:
    logits = np.log(np.array([[0.6, 0.3, 0.1]]))
    dist = StepDistribution.of(logits)
    for temperature in (0.5, 2.0):
        rng = np.random.default_rng(3)
        draws = [dist.sample(0, rng, temperature=temperature) for _ in range(6000)]
        expected = np.exp(logits[0] / temperature) / np.exp(logits[0] / temperature).sum()
        freq = np.bincount(draws, minlength=3) / len(draws)
        np.testing.assert_allclose(freq, expected, atol=0.03)
    # the recorded statistics stay those of the raw distribution, whatever the temperature
    assert dist.logprob(0, 0) == pytest.approx(math.log(0.6))


def _nucleus_reference(weights: np.ndarray, top_p: float) -> set[int]:
    order = np.argsort(-weights, kind="stable")
    mass = np.cumsum(weights[order]) / weights.sum()
    return {int(t) for t in order[: int(np.searchsorted(mass, top_p)) + 1]}


@pytest.mark.parametrize("top_p", [0.05, 0.5, 0.9, 0.99])
def test_top_p_keeps_the_smallest_nucleus(top_p: float) -> None:
    rng = np.random.default_rng(11)
    for weights in (
        np.exp(rng.standard_normal(30000) * 3),  # a peaked head: a few candidates suffice
        np.ones(3000) + rng.random(3000) * 1e-3,  # nearly flat: the candidate set must grow
    ):
        kept = nucleus(weights, top_p)
        assert set(kept.tolist()) == _nucleus_reference(weights, top_p)
        assert np.all(np.diff(weights[kept]) <= 0)  # most probable first
        draws = {sample_token(weights, rng, top_p) for _ in range(300)}
        assert draws <= set(kept.tolist())


def test_tiny_top_p_is_greedy() -> None:
    logits = np.array([[0.1, 3.0, 2.9, -1.0]])
    dist = StepDistribution.of(logits)
    rng = np.random.default_rng(5)
    assert {dist.sample(0, rng, top_p=1e-6) for _ in range(100)} == {1}


def test_blocked_inverse_cdf_equals_the_full_cumulative_sum() -> None:
    """Sampling a large vocabulary goes through block sums; it picks the very token a cumulative
    sum over the whole vocabulary would, and never a zero-weight one."""
    rng = np.random.default_rng(4)
    weights = rng.random(151_936) * (rng.random(151_936) < 0.01)  # sparse, blocks of zeros
    weights[-1] = 0.5  # mass in the last, partial block
    cumulative = np.cumsum(weights)
    for target in [0.0, *(rng.random(2000) * cumulative[-1]), cumulative[-1] * (1 - 1e-15)]:
        expected = min(int(np.searchsorted(cumulative, target, side="right")), weights.size - 1)
        got = _inverse_cdf(weights, float(target))
        assert weights[got] > 0
        assert got == expected or abs(cumulative[got] - target) < 1e-9 * cumulative[-1]
