"""The two defects the redesign fixes: `aroute` never blocks the event loop with model-calling
work (scoring, a predictor's embedding), and `assess` applies the pre-generation step, so a
decision-only call agrees with `route`."""

from __future__ import annotations

import asyncio
import itertools
import math
import time
from collections.abc import Sequence
from typing import ClassVar

import numpy as np

from confidence_router import CascadeRouter, PredictiveRouter, Reason
from confidence_router.routers import KNNRouter
from confidence_router.uncertainty import Estimator, RequestStatistics, Statistic

from .helpers import ScriptedBackend, generation

SURE = generation([math.log(0.95)] * 3, text="edge sure")
CLOUD = generation([], text="cloud answer")
PREDICTOR = KNNRouter(k=1).fit([[1.0, 0.0], [0.0, 1.0]], ["cloud", "edge"])
VECTORS = {"hard": [1.0, 0.0], "easy": [0.0, 1.0]}


class SlowScorer(Estimator):
    """Stands for P(True) or an LLM judge: scoring takes a model call (here 0.4 s)."""

    name: ClassVar[str] = "slow_scorer"
    requires: ClassVar[frozenset[Statistic]] = frozenset({Statistic.GREEDY_LOGPROBS})

    def uncertainty(self, stats: RequestStatistics) -> float:
        time.sleep(0.4)
        return 0.0

    def to_confidence(self, uncertainty: float) -> float:
        return 1.0


def slow_embed(texts: Sequence[str]) -> np.ndarray:
    time.sleep(0.4)  # stands for a sentence-embedding model
    return np.array([VECTORS[t] for t in texts])


async def elapsed(router: CascadeRouter, prompts: list[str]) -> float:
    start = time.perf_counter()
    await asyncio.gather(*(router.aroute(p) for p in prompts))
    return time.perf_counter() - start


def test_two_aroute_calls_with_a_slow_scorer_overlap() -> None:
    router = CascadeRouter(
        ScriptedBackend([SURE, SURE]), ScriptedBackend([]), estimator=SlowScorer()
    )
    took = asyncio.run(elapsed(router, ["a", "b"]))
    assert took < 0.7  # one after the other they take 0.8 s: the scoring ran off the loop


def test_two_aroute_calls_with_a_slow_embedding_overlap() -> None:
    router = PredictiveRouter(
        ScriptedBackend([SURE, SURE]), ScriptedBackend([]), PREDICTOR, slow_embed
    )
    took = asyncio.run(elapsed(router, ["easy", "easy"]))
    assert took < 0.7


def test_the_event_loop_keeps_ticking_while_scoring() -> None:
    router = CascadeRouter(ScriptedBackend([SURE]), ScriptedBackend([]), estimator=SlowScorer())
    ticks: list[float] = []

    async def ticker() -> None:
        for _ in range(6):
            ticks.append(time.perf_counter())
            await asyncio.sleep(0.05)

    async def main() -> None:
        await asyncio.gather(router.aroute("a"), ticker())

    asyncio.run(main())
    assert max(b - a for a, b in itertools.pairwise(ticks)) < 0.2


def test_assess_applies_the_prediction_and_agrees_with_route() -> None:
    edge = ScriptedBackend([SURE, SURE, SURE], name="edge")
    router = PredictiveRouter(edge, ScriptedBackend([CLOUD], name="cloud"), PREDICTOR, slow_embed)
    hard = router.assess("hard")
    assert hard.reason is Reason.PREDICTED_CLOUD and edge.calls == []
    assert router.outcome(hard) is Reason.PREDICTED_CLOUD
    assert router.route("hard").reason is Reason.PREDICTED_CLOUD
    easy = router.assess("easy")
    assert router.outcome(easy) is Reason.PREDICTED_EDGE
    assert router.route("easy").reason is Reason.PREDICTED_EDGE
    assert router.assess("hard", pre=False).reason is None  # the cascade alone (calibration)
