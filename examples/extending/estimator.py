"""A new confidence estimator in one file: the probability of the answer's least likely token.

    python examples/extending/estimator.py   # offline: hand-made generations

`@register_estimator` is the only wiring: once this module is imported,
`get_estimator("min_token_probability")`, `CascadeRouter(..., estimator="min_token_probability")`
and the CLI's `--estimator` / `--estimators` choices know it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, ClassVar

from confidence_router import CascadeRouter
from confidence_router.generation import Answer, Generation, GenerationOptions
from confidence_router.messages import ChatMessage
from confidence_router.models.base import Capabilities, ChatBackend
from confidence_router.uncertainty import (
    Estimator,
    RequestStatistics,
    Statistic,
    get_estimator,
    register_estimator,
)
from confidence_router.uncertainty.base import greedy_logprobs


@register_estimator
class MinTokenProbability(Estimator):
    """Confidence = p of the greedy answer's least likely token. One guessed token (a digit, a
    name) is enough to doubt an answer, and a mean over the other tokens hides it.
    Uncertainty: −min log p(y_t); confidence: exp(−uncertainty)."""

    name: ClassVar[str] = "min_token_probability"
    requires: ClassVar[frozenset[Statistic]] = frozenset({Statistic.GREEDY_LOGPROBS})

    def uncertainty(self, stats: RequestStatistics) -> float:
        return -min(greedy_logprobs(stats, self.name))

    def to_confidence(self, uncertainty: float) -> float:
        return math.exp(-uncertainty)


# -- a canned edge and cloud, so that the example runs without a model ---------------------------

ANSWERS = {  # prompt -> (answer, per-token log-probs)
    "Capital of France?": ("Paris", (-0.01, -0.02)),
    "When did it happen?": ("In 1947", (-0.05, -0.03, -2.3, -0.04)),  # one guessed digit
}


class CannedBackend(ChatBackend):
    """Answers each known prompt with its canned answer and log-probs."""

    def __init__(self, name: str) -> None:
        self._name = name

    @property
    def capabilities(self) -> Capabilities:
        return Capabilities(statistics=frozenset({Statistic.GREEDY_LOGPROBS}))

    @property
    def model_name(self) -> str:
        return self._name

    def generate(
        self,
        messages: Sequence[ChatMessage],
        options: GenerationOptions | None = None,
        tools: Sequence[dict[str, Any]] | None = None,
    ) -> Generation:
        text, logprobs = ANSWERS[messages[-1].content]
        ids = tuple(range(len(logprobs)))
        return Generation(Answer(f"{self._name}: {text}", ids, logprobs))


def main() -> dict[str, tuple[float, float, str]]:
    """{prompt: (min-token confidence, MSP confidence, route)}, printed as a table."""
    router = CascadeRouter(
        CannedBackend("edge"),
        CannedBackend("cloud"),
        estimator="min_token_probability",  # by name, through the registry
        extra_estimators=["max_sequence_probability"],
        threshold=0.5,
    )
    out = {}
    print(f"{'prompt':<22} {'min token p':>11} {'MSP':>6}  route")
    for prompt in ANSWERS:
        response = router.route(prompt)
        msp = response.scores["max_sequence_probability"]
        out[prompt] = (response.confidence, msp, response.route)
        print(f"{prompt:<22} {response.confidence:>11.3f} {msp:>6.3f}  {response.route}")
    assert isinstance(get_estimator("min_token_probability"), MinTokenProbability)
    return out


if __name__ == "__main__":
    main()
