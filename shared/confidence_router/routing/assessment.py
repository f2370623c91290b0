"""The edge's answer scored: `EdgeAssessment`, and the plan steps that produce it (`assess`)."""

from __future__ import annotations

import time
from collections.abc import Generator
from dataclasses import dataclass, replace
from typing import Any

from confidence_router.errors import DeadlineExceededError
from confidence_router.generation import DEADLINE, EARLY_EXIT, Generation
from confidence_router.messages import ChatMessage
from confidence_router.models.base import ChatBackend
from confidence_router.routing.decision import Reason, Stage
from confidence_router.routing.failure import describe, is_request_error
from confidence_router.routing.policy import RoutingPolicy
from confidence_router.routing.steps import BackendCall, Compute, Request, Step
from confidence_router.running_confidence import RunningConfidence
from confidence_router.tools.react import tier_stop

RUNNING_CONFIDENCE = "running_confidence"  # `RoutedResponse.estimator` on an early exit


@dataclass(frozen=True)
class EdgeAssessment:
    """The edge's answer and how confident it is, before any cloud call.

    `reason` is set when the assessment already decided the route: an answer that could not be
    scored, an early exit, the cheap stage of staged escalation (`confident` or
    `low_confidence`, whatever the threshold), or a pre-generation prediction. `stage` and
    `estimator` say which stage and estimator gave `confidence` (see `RoutedResponse`).
    """

    messages: list[ChatMessage]
    generation: Generation
    confidence: float
    scores: dict[str, float]
    latency_s: float
    reason: Reason | None = None
    stage: Stage | None = None
    estimator: str | None = None
    error: str | None = None  # why the edge failed (`edge_failed` / `edge_timeout`), masked


def assess(
    policy: RoutingPolicy,
    edge: ChatBackend,
    req: Request,
    msgs: list[ChatMessage],
    generation: Generation,
    started: float,
    deadline: float | None,
    secrets: list[str],
    keep_edge: bool = False,
) -> Generator[Step, Any, EdgeAssessment]:
    """Score the edge's first generation; when staged and inside the band, ask the edge for
    the samples (a second call) and score the full stage. With `keep_edge` (a pre-generation
    step kept the request at the edge) only what needs no samples is scored, and nothing but an
    unusable answer escalates. Scoring is a `Compute` step (it may call a model). `msgs` is
    the conversation as the edge saw it."""
    tools, tool_choice, form = req.tools, req.tool_choice, req.response_format

    def done(
        confidence: float,
        scores: dict[str, float],
        reason: Reason | None = None,
        stage: Stage | None = None,
        estimator: str | None = None,
        final: Generation = generation,
        error: str | None = None,
    ) -> EdgeAssessment:
        elapsed = time.perf_counter() - started
        return EdgeAssessment(
            msgs, final, confidence, scores, elapsed, reason, stage, estimator, error
        )

    greedy = generation.greedy
    if greedy.finish_reason == DEADLINE or any(
        a.finish_reason == DEADLINE for a in generation.samples
    ):
        return done(0.0, {}, Reason.EDGE_TIMEOUT)  # staged or not: cut answers never count
    if greedy.finish_reason == EARLY_EXIT:
        running = RunningConfidence(window=policy.early_exit_window)
        for logprob in greedy.token_logprobs:
            running.push(logprob)
        return done(running.value, {}, Reason.EARLY_EXIT, None, RUNNING_CONFIDENCE)
    decider = policy.key(policy.estimator)
    if policy.band is None and not keep_edge:
        confidence, whole, failed = yield Compute(
            lambda: policy.score(msgs, generation, tools, tool_choice, form)
        )
        return done(confidence, whole, failed, None, decider)
    scorable, failed = policy.scorable(generation, tools, tool_choice, form, msgs)
    cheap = [policy.stage_estimator, *(e for e in policy.estimators if not e.needs_samples)]
    cheap_scores = None
    if failed is None:
        cheap_scores = yield Compute(lambda: policy.scores(msgs, scorable, cheap))
    if cheap_scores is None:
        return done(0.0, {}, failed or Reason.EMPTY_EDGE_ANSWER)
    scores: dict[str, float] = cheap_scores
    stage_key = policy.key(policy.stage_estimator)
    cheap_confidence = scores[stage_key]
    if keep_edge:
        named = decider if decider in scores else stage_key
        return done(scores[named], scores, None, None, named)
    assert policy.band is not None
    low, high = policy.band
    if not low <= cheap_confidence < high:
        decided = Reason.CONFIDENT if cheap_confidence >= high else Reason.LOW_CONFIDENCE
        return done(cheap_confidence, scores, decided, "cheap", stage_key)
    final = generation
    full = [e for e in policy.estimators if e.needs_samples]
    if full:
        stop = tier_stop(req.stop, edge.model_name)
        options = policy.sample_options(req.max_new_tokens, stop, tool_choice, form)
        try:
            sampled = yield BackendCall(
                edge, msgs, options.model_copy(update={"deadline": deadline}), tools
            )
        except Exception as exc:  # the first call's answer, usage and time are kept
            if is_request_error(exc):
                raise
            timed_out = isinstance(exc, DeadlineExceededError)
            reason = Reason.EDGE_TIMEOUT if timed_out else Reason.EDGE_FAILED
            return done(0.0, {}, reason, error=describe(exc, secrets))
        final = replace(generation, samples=sampled.samples, usage=generation.usage + sampled.usage)
        if any(a.finish_reason == DEADLINE for a in sampled.samples):
            return done(0.0, {}, Reason.EDGE_TIMEOUT, final=final)
        with_samples = replace(final, greedy=scorable.greedy)
        more = yield Compute(lambda: policy.scores(msgs, with_samples, full))
        if more is None:
            return done(0.0, {}, Reason.EMPTY_EDGE_ANSWER, final=final)
        scores = {**scores, **more}
    return done(scores[decider], scores, None, "full", decider, final)
