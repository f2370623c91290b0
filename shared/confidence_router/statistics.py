"""The statistics a backend can produce while generating (what an estimator may ask for)."""

from __future__ import annotations

from enum import StrEnum


class Statistic(StrEnum):
    """A statistic that a backend produces while generating."""

    GREEDY_LOGPROBS = "greedy_logprobs"  # per-token log-probs of the greedy answer
    GREEDY_ENTROPY = "greedy_entropy"  # per-step entropy of the greedy answer's distribution
    SAMPLES = "samples"  # N sampled answers (texts)
    SAMPLE_LOGPROBS = "sample_logprobs"  # per-token log-probs of the samples
    # a layer's hidden states from the same generation: the last prompt token's and the mean
    # over the answer's tokens (`Answer.hidden`, asked with `GenerationOptions.hidden_states`)
    HIDDEN_STATES = "hidden_states"
