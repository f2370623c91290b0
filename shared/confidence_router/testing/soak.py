"""A soak run: many concurrent routed requests, every outcome classified and counted.

Each request ends as exactly one of: a cloud answer, a degraded edge answer (the cloud could not
answer; `fallback="edge"`), a typed error (a `ConfidenceRouterError`), a crash (any other
exception), a hang (no end within `hang_s`). `lost` counts requests with no recorded end at
all; `mismatched` counts answers that quote another request's code word (a crossed answer).
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from confidence_router.errors import ConfidenceRouterError
from confidence_router.models.base import ChatBackend
from confidence_router.models.openai import OpenAIChatModel
from confidence_router.routing.cascade import CascadeRouter
from confidence_router.routing.failure import FailurePolicy

# One cycle of 20 faults for `FaultProxy`: bursts long enough that some requests exhaust their
# attempts (degraded answers, typed errors) and open the breaker, every fault kind in it.
MIXED_SCHEDULE: tuple[str, ...] = (
    *["ok"] * 5,
    *["500"] * 3,
    *["ok"] * 2,
    *["429"] * 2,
    "slow",
    *["ok"] * 2,
    *["drop"] * 2,
    *["malformed"] * 2,
    "ok",
)
_CODE = re.compile(r"\b[A-Z]+-\d{3}\b")
_WORDS = ("ALPHA", "BRAVO", "CEDAR", "DELTA", "EMBER", "FJORD", "GLYPH", "HAVEN")


def soak_routers(
    edge: ChatBackend, base_url: str, model: str, context_window: int
) -> list[CascadeRouter]:
    """The soak's two routers over one cloud client at `base_url` (a `FaultProxy`): every
    request escalates (threshold 1.0, 16 tokens); one falls back to the edge answer, the other
    raises; they share the models and the breaker (5 failures, 2 s cool-down, 90 s deadline)."""
    cloud = OpenAIChatModel(
        model,
        base_url=base_url,
        timeout=8.0,
        max_attempts=3,
        initial_backoff=0.1,
        max_backoff=1.0,
        context_window=context_window,
    )
    policy = FailurePolicy(breaker_failures=5, breaker_cooldown_s=2.0, deadline_s=90.0)
    lenient = CascadeRouter(edge, cloud, threshold=1.0, max_new_tokens=16, failure_policy=policy)
    strict = lenient.with_threshold(1.0)  # same models and breaker, raising instead
    strict.failure_policy = replace(policy, fallback="raise")
    return [lenient, strict]


def code_word(i: int) -> str:
    """The unique code word request `i` asks the model to repeat."""
    return f"{_WORDS[i % len(_WORDS)]}-{100 + i:03d}"


def soak_prompt(i: int) -> str:
    return f"Repeat this code word exactly and nothing else: {code_word(i)}"


@dataclass
class SoakResult:
    requests: int
    cloud: int = 0
    degraded: int = 0
    errors: int = 0
    crashed: int = 0
    hung: int = 0
    lost: int = 0
    mismatched: int = 0
    seconds: float = 0.0
    error_types: dict[str, int] = field(default_factory=dict)
    crash_types: dict[str, int] = field(default_factory=dict)

    def line(self) -> str:
        """The one-line summary the tests and `benchmarks/soak.py` print."""
        return (
            f"requests={self.requests} cloud={self.cloud} degraded={self.degraded} "
            f"errors={self.errors} crashed={self.crashed} lost={self.lost} "
            f"hung={self.hung} mismatched={self.mismatched} seconds={self.seconds:.1f}"
        )


async def run_soak(
    routers: Sequence[CascadeRouter],
    requests: int,
    *,
    concurrency: int = 16,
    hang_s: float = 300.0,
    max_new_tokens: int = 16,
) -> SoakResult:
    """Send `requests` requests, at most `concurrency` at once, request i through
    `routers[i % len(routers)]` (e.g. one with `fallback="edge"`, one with "raise")."""
    result = SoakResult(requests=requests)
    ends: dict[int, str] = {}
    gate = asyncio.Semaphore(concurrency)

    def count(kinds: dict[str, int], exc: BaseException) -> None:
        kinds[type(exc).__name__] = kinds.get(type(exc).__name__, 0) + 1

    async def one(i: int) -> None:
        router = routers[i % len(routers)]
        async with gate:
            try:
                response = await asyncio.wait_for(
                    router.aroute(soak_prompt(i), max_new_tokens=max_new_tokens), hang_s
                )
            except TimeoutError:
                ends[i] = "hung"
            except ConfidenceRouterError as exc:
                ends[i] = "errors"
                count(result.error_types, exc)
            except Exception as exc:  # a crash: what the soak exists to find
                ends[i] = "crashed"
                count(result.crash_types, exc)
            else:
                ends[i] = "degraded" if response.degraded else response.route
                if response.route == "edge" and not response.degraded:
                    ends[i] = "edge"
                quoted = set(_CODE.findall(response.text))
                if quoted - {code_word(i)}:
                    result.mismatched += 1

    started = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(requests)), return_exceptions=True)
    result.seconds = time.perf_counter() - started
    for i in range(requests):
        end = ends.get(i)
        if end is None:
            result.lost += 1
        elif end == "cloud":
            result.cloud += 1
        elif end == "degraded":
            result.degraded += 1
        elif end == "errors":
            result.errors += 1
        elif end == "crashed":
            result.crashed += 1
        elif end == "hung":
            result.hung += 1
        else:  # an edge answer that did not escalate: the soak runs at threshold 1.0
            result.crashed += 1
            result.crash_types["not_escalated"] = result.crash_types.get("not_escalated", 0) + 1
    return result
