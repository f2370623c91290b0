"""The failure policy's routing logic: fallback, edge errors, circuit breaker, deadlines, streams.

Scripted backends raise the failures; the real-server faults are in
tests/integration/test_faults.py.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any

import pytest
from pydantic import SecretStr

from confidence_router import (
    BackendError,
    CascadeRouter,
    CircuitBreaker,
    CircuitOpenError,
    CloudRequestError,
    CloudUnavailableError,
    ConfigurationError,
    DeadlineExceededError,
    FailurePolicy,
    InvalidInputError,
    Reason,
    StreamInterruptedError,
)
from confidence_router.generation import Generation, GenerationOptions
from confidence_router.messages import ChatMessage
from confidence_router.models.base import StreamChunk

from .helpers import ScriptedBackend, generation

SURE = generation([math.log(0.99)] * 3, text="edge sure")
UNSURE = generation([math.log(0.2)] * 3, text="edge unsure")
CLOUD = generation([], text="cloud answer")


def down(message: str = "cloud down") -> CloudUnavailableError:
    return CloudUnavailableError(message)


def make(
    edge_out: Sequence[Any], cloud_out: Sequence[Any], **policy: Any
) -> tuple[CascadeRouter, ScriptedBackend, ScriptedBackend]:
    edge = ScriptedBackend(edge_out, name="edge")
    cloud = ScriptedBackend(cloud_out, name="cloud")
    router = CascadeRouter(edge, cloud, threshold=0.5, failure_policy=FailurePolicy(**policy))
    return router, edge, cloud


def state(breaker: CircuitBreaker) -> str:
    return breaker.state


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


# -- the circuit breaker ---------------------------------------------------------------------


def test_breaker_opens_after_k_consecutive_failures_and_probes_after_the_cooldown() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(3, 10.0, clock=clock)
    for _ in range(2):
        assert breaker.allow()
        breaker.record_failure()
    assert state(breaker) == "closed"
    breaker.record_success()  # a success resets the count
    for _ in range(3):
        assert breaker.allow()
        breaker.record_failure()
    assert state(breaker) == "open" and not breaker.allow()
    assert breaker.retry_in() == pytest.approx(10.0)
    clock.now += 10.0
    assert state(breaker) == "half_open"
    assert breaker.allow()  # the probe
    assert not breaker.allow()  # nobody else while the probe is out
    breaker.record_failure()  # a failed probe opens it again at once
    assert state(breaker) == "open" and breaker.retry_in() == pytest.approx(10.0)
    clock.now += 10.0
    assert breaker.allow()
    breaker.record_success()
    assert state(breaker) == "closed" and breaker.allow() and breaker.allow()


def test_a_released_probe_lets_the_next_caller_probe() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(1, 5.0, clock=clock)
    breaker.record_failure()
    clock.now += 5.0
    assert breaker.allow() and not breaker.allow()
    breaker.release()
    assert breaker.allow()


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"fallback": "cloud"}, "fallback"),
        ({"breaker_failures": 0}, "breaker_failures"),
        ({"breaker_failures": 2.5}, "breaker_failures"),
        ({"breaker_cooldown_s": 0}, "breaker_cooldown_s"),
        ({"deadline_s": -1}, "deadline_s"),
        ({"edge_deadline_s": "soon"}, "edge_deadline_s"),
    ],
)
def test_policy_errors_name_the_field(kwargs: dict[str, Any], field: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        FailurePolicy(**kwargs)
    assert info.value.field == field


def test_router_rejects_a_policy_of_the_wrong_type_and_a_bad_per_call_deadline() -> None:
    edge, cloud = ScriptedBackend([SURE]), ScriptedBackend([])
    with pytest.raises(ConfigurationError, match="failure_policy"):
        CascadeRouter(edge, cloud, failure_policy={"fallback": "edge"})  # type: ignore[arg-type]
    router = CascadeRouter(edge, cloud)
    with pytest.raises(ConfigurationError, match="deadline_s"):
        router.route("q", deadline_s=0)


# -- cloud failures: fallback --------------------------------------------------------------


def test_cloud_failure_falls_back_to_the_edge_answer_marked_degraded() -> None:
    router, _, cloud = make([UNSURE], [down("server said no")])
    response = router.route("q")
    assert response.route == "edge" and response.text == "edge unsure"
    assert response.degraded and response.degraded_reason == "cloud_unavailable"
    assert response.reason is Reason.LOW_CONFIDENCE
    assert response.error is not None and "server said no" in response.error
    assert response.confidence is not None and response.confidence < 0.5
    decision = response.decision()
    assert decision["degraded"] is True and decision["degraded_reason"] == "cloud_unavailable"
    assert len(cloud.calls) == 1


def test_fallback_raise_carries_the_edge_answer() -> None:
    router, _, _ = make([UNSURE], [down()], fallback="raise")
    with pytest.raises(CloudUnavailableError) as info:
        router.route("q")
    answer = info.value.edge_answer
    assert answer is not None and answer.text == "edge unsure" and answer.degraded


def test_a_rejected_request_falls_back_too_but_does_not_count_against_the_cloud() -> None:
    rejected = [CloudRequestError("HTTP 400", status_code=400) for _ in range(3)]
    router, _, _ = make([UNSURE] * 3, rejected, breaker_failures=2)
    for _ in range(3):
        response = router.route("q")
        assert response.degraded and response.degraded_reason == "cloud_rejected"
    assert state(router.breaker) == "closed"


def test_foreign_cloud_exceptions_are_typed_and_secrets_masked() -> None:
    key = "sk-test-0123456789abcdef"

    class KeyedCloud(ScriptedBackend):
        def __init__(self) -> None:
            super().__init__([RuntimeError(f"401: bad key {key}")], name="cloud")
            self.api_key = SecretStr(key)

    edge = ScriptedBackend([UNSURE, UNSURE])
    router = CascadeRouter(edge, KeyedCloud(), threshold=0.5)
    response = router.route("q")
    assert response.degraded and response.error is not None
    assert key not in response.error and "**********" in response.error
    assert key not in repr(router) and key not in str(response.decision())
    router = CascadeRouter(
        ScriptedBackend([UNSURE]), KeyedCloud(), failure_policy=FailurePolicy(fallback="raise")
    )
    with pytest.raises(BackendError) as info:
        router.route("q")
    assert key not in str(info.value) and info.value.tier == "cloud"


def test_no_usable_edge_answer_means_the_error_is_raised_even_with_fallback_edge() -> None:
    empty = generation([], text="")
    router, _, _ = make([empty], [down()])
    with pytest.raises(CloudUnavailableError) as info:
        router.route("q")
    assert info.value.edge_answer is None


# -- edge failures --------------------------------------------------------------------------


def test_edge_failure_escalates_with_the_error_recorded() -> None:
    router, _, cloud = make([MemoryError("out of memory")], [CLOUD])
    response = router.route("q")
    assert response.route == "cloud" and response.reason is Reason.EDGE_FAILED
    assert response.text == "cloud answer" and not response.degraded
    assert response.error == "MemoryError: out of memory"
    assert response.confidence is None and len(cloud.calls) == 1


def test_edge_and_cloud_both_failing_raise_a_typed_error() -> None:
    router, _, _ = make([RuntimeError("edge broke")], [down()])
    with pytest.raises(CloudUnavailableError) as info:
        router.route("q")
    assert info.value.edge_answer is None
    assert any("edge broke" in note for note in info.value.__notes__)


def test_request_errors_at_the_edge_are_raised_not_escalated() -> None:
    router, _, cloud = make([InvalidInputError("bad message")], [CLOUD])
    with pytest.raises(InvalidInputError):
        router.route("q")
    assert cloud.calls == []


def test_escalate_edge_errors_off_raises_a_typed_edge_error() -> None:
    router, _, cloud = make([RuntimeError("edge broke")], [CLOUD], escalate_edge_errors=False)
    with pytest.raises(BackendError) as info:
        router.route("q")
    assert info.value.tier == "edge" and "edge broke" in str(info.value)
    assert cloud.calls == []


def test_a_failed_sample_call_in_the_staged_router_escalates() -> None:
    edge = ScriptedBackend([UNSURE, RuntimeError("sampling broke")], name="edge")
    cloud = ScriptedBackend([CLOUD], name="cloud")
    router = CascadeRouter(
        edge, cloud, estimator="semantic_entropy", band=(0.0, 1.0), threshold=0.5
    )
    response = router.route("q")
    assert response.reason is Reason.EDGE_FAILED and response.route == "cloud"
    assert len(edge.calls) == 2


# -- the breaker in the router --------------------------------------------------------------


def test_router_stops_calling_a_failing_cloud_and_probes_after_the_cooldown() -> None:
    clock = FakeClock()
    router, _, cloud = make([UNSURE] * 6, [down(), down(), CLOUD, CLOUD], breaker_failures=2)
    router.breaker = CircuitBreaker(2, 30.0, clock=clock)
    assert router.route("q").degraded_reason == "cloud_unavailable"
    assert router.route("q").degraded_reason == "cloud_unavailable"
    assert state(router.breaker) == "open"
    skipped = router.route("q")
    assert skipped.degraded and skipped.degraded_reason == "circuit_open"
    assert len(cloud.calls) == 2  # the open breaker did not call the cloud
    clock.now += 30.0
    probe = router.route("q")
    assert probe.route == "cloud" and not probe.degraded
    assert state(router.breaker) == "closed"
    assert router.route("q").route == "cloud"


def test_circuit_open_with_fallback_raise_says_when_to_retry() -> None:
    router, _, _ = make([UNSURE, UNSURE], [down()], breaker_failures=1, fallback="raise")
    with pytest.raises(CloudUnavailableError):
        router.route("q")
    with pytest.raises(CircuitOpenError) as info:
        router.route("q")
    assert 0 < info.value.retry_in_s <= 30.0 and info.value.edge_answer is not None


def test_copies_share_the_breaker_and_a_new_policy_gets_its_own() -> None:
    router, _, _ = make([SURE], [])
    assert router.with_threshold(0.9).breaker is router.breaker
    other = router.with_failure_policy(FailurePolicy(fallback="raise"))
    assert other.breaker is not router.breaker and other.failure_policy.fallback == "raise"


# -- deadlines ------------------------------------------------------------------------------


def test_a_slow_cloud_is_cut_at_the_deadline_and_the_edge_answer_returned() -> None:
    edge = ScriptedBackend([UNSURE], name="edge")
    cloud = ScriptedBackend([CLOUD], name="cloud", delay=2.0)
    router = CascadeRouter(edge, cloud, failure_policy=FailurePolicy(deadline_s=0.3))
    started = time.perf_counter()
    response = router.route("q")
    assert time.perf_counter() - started < 1.5
    assert response.degraded and response.degraded_reason == "deadline_exceeded"
    assert state(router.breaker) == "closed"  # our own deadline says nothing about the cloud


def test_per_call_deadline_overrides_the_policy_async() -> None:
    edge = ScriptedBackend([UNSURE], name="edge")
    cloud = ScriptedBackend([CLOUD], name="cloud", delay=2.0)
    router = CascadeRouter(
        edge, cloud, failure_policy=FailurePolicy(deadline_s=60, fallback="raise")
    )

    async def run() -> float:
        started = time.perf_counter()
        with pytest.raises(DeadlineExceededError) as info:
            await router.aroute("q", deadline_s=0.3)
        assert info.value.edge_answer is not None
        return time.perf_counter() - started

    # the abandoned call goes on in its worker thread; the request does not wait for it
    assert asyncio.run(run()) < 1.5


def test_deadline_options_reach_the_backends() -> None:
    router, edge, cloud = make([UNSURE], [CLOUD], deadline_s=30.0, edge_deadline_s=5.0)
    before = time.monotonic()
    router.route("q")
    edge_deadline = edge.calls[0][1].deadline
    cloud_deadline = cloud.calls[0][1].deadline
    assert edge_deadline is not None and cloud_deadline is not None
    assert before + 4.0 < edge_deadline <= time.monotonic() + 5.0
    assert before + 29.0 < cloud_deadline <= time.monotonic() + 30.0


def test_an_edge_cut_by_its_own_deadline_escalates_with_the_time_left() -> None:
    cut = generation([math.log(0.99)] * 2, text="half an answ", finish_reason="deadline")
    router, _, cloud = make([cut], [CLOUD], edge_deadline_s=1.0, deadline_s=30.0)
    response = router.route("q")
    assert response.reason is Reason.EDGE_TIMEOUT and response.route == "cloud"
    assert response.confidence is None and len(cloud.calls) == 1


def test_no_time_left_after_the_edge_raises_deadline_exceeded() -> None:
    cut = generation([math.log(0.99)] * 2, text="half", finish_reason="deadline")
    edge = ScriptedBackend([cut], name="edge", delay=0.3)
    cloud = ScriptedBackend([CLOUD], name="cloud")
    router = CascadeRouter(edge, cloud, failure_policy=FailurePolicy(deadline_s=0.2))
    with pytest.raises(DeadlineExceededError) as info:
        router.route("q")
    assert info.value.edge_answer is None and cloud.calls == []


# -- streams --------------------------------------------------------------------------------


class BrokenStream(ScriptedBackend):
    """Streams `before` pieces of text, then fails."""

    def __init__(self, before: int) -> None:
        super().__init__([], name="cloud")
        self.before = before

    def stream(
        self,
        messages: Sequence[ChatMessage],
        options: GenerationOptions | None = None,
        tools: Sequence[dict[str, Any]] | None = None,
    ) -> Iterator[StreamChunk]:
        for i in range(self.before):
            yield StreamChunk(text=f"part{i} ")
        raise CloudUnavailableError("connection dropped")

    async def astream(
        self,
        messages: Sequence[ChatMessage],
        options: GenerationOptions | None = None,
        tools: Sequence[dict[str, Any]] | None = None,
    ) -> AsyncIterator[StreamChunk]:
        for chunk in self.stream(messages, options, tools):
            await asyncio.sleep(0)
            yield chunk

    def generate(self, *args: Any, **kwargs: Any) -> Generation:
        raise CloudUnavailableError("connection dropped")


def test_a_stream_failing_before_any_text_falls_back_to_the_edge() -> None:
    edge = ScriptedBackend([UNSURE], name="edge")
    router = CascadeRouter(edge, BrokenStream(0), threshold=0.5)
    chunks = list(router.stream("q"))
    assert "".join(c.text for c in chunks) == "edge unsure"
    final = chunks[-1].response
    assert final is not None and final.degraded


def test_a_stream_broken_midway_raises_instead_of_mixing_answers() -> None:
    edge = ScriptedBackend([UNSURE], name="edge")
    router = CascadeRouter(edge, BrokenStream(2), threshold=0.5)
    received: list[str] = []
    with pytest.raises(StreamInterruptedError) as info:
        for chunk in router.stream("q"):
            received.append(chunk.text)
    assert received == ["part0 ", "part1 "]
    assert info.value.edge_answer is not None  # the caller can still use it
    assert router.breaker._consecutive == 1


def test_async_stream_broken_midway_raises() -> None:
    edge = ScriptedBackend([UNSURE], name="edge")
    router = CascadeRouter(edge, BrokenStream(1), threshold=0.5)

    async def run() -> list[str]:
        out: list[str] = []
        async for chunk in router.astream("q"):
            out.append(chunk.text)
        return out

    with pytest.raises(StreamInterruptedError):
        asyncio.run(run())
