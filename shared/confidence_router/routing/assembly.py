"""The decision record of a finished request (`build_response`), and what a failed cloud call
turns into under the failure policy (`cloud_failed`: a degraded edge answer or a typed error)."""

from __future__ import annotations

import time

from confidence_router.errors import StreamInterruptedError
from confidence_router.generation import Generation, Usage
from confidence_router.routing.assessment import EdgeAssessment
from confidence_router.routing.context import RouterContext
from confidence_router.routing.decision import (
    Latency,
    Reason,
    RoutedGeneration,
    RoutedResponse,
    TierStep,
)
from confidence_router.routing.decision_rule import Decider, snapshot
from confidence_router.routing.failure import (
    as_backend_error,
    degraded_reason,
    describe,
    safe_cause,
)

# Reasons for which the edge answer could not be scored: no confidence is reported.
UNSCORED = frozenset(
    {
        Reason.EMPTY_EDGE_ANSWER,
        Reason.INVALID_TOOL_CALL,
        Reason.NO_TOOL_CALL,
        Reason.INVALID_OUTPUT,
        Reason.REPEATED_TOOL_CALL,
        Reason.EDGE_TIMEOUT,
        Reason.EDGE_FAILED,
        Reason.STICKY,
    }
)
# Requests whose edge answer a failed cloud call may fall back to: complete, scored answers.
FALLBACK_REASONS = frozenset({Reason.LOW_CONFIDENCE, Reason.PREDICTED_CLOUD})


def build_response(
    ctx: RouterContext,
    *,
    answer: Generation,
    route: str,
    reason: Reason,
    rule: Decider,
    started: float,
    assessment: EdgeAssessment | None,
    cloud_s: float = 0.0,
) -> RoutedResponse:
    """The `RoutedResponse`: answer, route, reason, scores, per-tier usage, latency and cost."""
    scored = assessment is not None and assessment.reason not in UNSCORED
    usage: dict[str, Usage] = {}
    if assessment is not None:
        usage["edge"] = assessment.generation.usage
    if route == "cloud":
        usage["cloud"] = answer.usage
    inner = answer.routed if route == "cloud" and isinstance(answer, RoutedGeneration) else None
    cost = ctx.prices["edge"].cost(usage["edge"]) if "edge" in usage else 0.0
    if isinstance(inner, RoutedResponse):
        cost += inner.cost  # the next tiers priced by their own router
    elif route == "cloud":
        cost += ctx.prices["cloud"].cost(answer.usage)
    escalated_edge_text = (
        assessment.generation.text if assessment is not None and route == "cloud" else None
    )
    policy = ctx.policy
    first = TierStep(
        index=0,
        model=ctx.edge.model_name,
        answered=route != "cloud",
        reason=reason if route == "cloud" else None,
        confidence=assessment.confidence if assessment is not None and scored else None,
        scores=assessment.scores if assessment else {},
        usage=usage.get("edge", Usage()),
        latency_s=assessment.latency_s if assessment else 0.0,
    )
    if isinstance(inner, RoutedResponse):
        later = tuple(t.model_copy(update={"index": t.index + 1}) for t in inner.tiers)
        tier_index, tier = inner.tier_index + 1, inner.tier
    elif route == "cloud":
        later = (
            TierStep(index=1, model=ctx.cloud.model_name, answered=True, usage=answer.usage,
                     latency_s=cloud_s),
        )  # fmt: skip
        tier_index, tier = 1, ctx.cloud.model_name
    else:
        later, tier_index, tier = (), 0, ctx.edge.model_name
    return RoutedResponse(
        text=answer.text,
        tool_calls=answer.tool_calls,
        route="cloud" if route == "cloud" else "edge",
        reason=reason,
        confidence=assessment.confidence if assessment is not None and scored else None,
        scores=assessment.scores if assessment else {},
        estimator=(assessment.estimator if assessment else None) or policy.key(policy.estimator),
        threshold=rule.threshold,
        rule=snapshot(rule),
        stage=assessment.stage if assessment else None,
        band=policy.band,
        edge_tokens=assessment.generation.greedy.num_tokens if assessment else 0,
        latency=Latency(
            edge_s=assessment.latency_s if assessment else 0.0,
            cloud_s=cloud_s,
            total_s=time.perf_counter() - started,
        ),
        usage=usage,
        cost=cost,
        edge_model=ctx.edge.model_name,
        cloud_model=ctx.cloud.model_name,
        edge_text=escalated_edge_text,
        finish_reason=answer.greedy.finish_reason,
        tier_index=tier_index,
        tier=tier,
        tiers=(first, *later),
    )


def cloud_failed(
    ctx: RouterContext,
    exc: BaseException,
    assessment: EdgeAssessment | None,
    reason: Reason,
    rule: Decider,
    started: float,
    edge_error: str | None,
) -> RoutedResponse:
    """The cloud could not answer: the degraded edge answer (`fallback="edge"`), or the typed
    error carrying it (raised)."""
    secrets = ctx.secrets
    error = as_backend_error(exc, "cloud", secrets)
    degraded: RoutedResponse | None = None
    if assessment is not None and reason in FALLBACK_REASONS:
        degraded = build_response(
            ctx,
            answer=assessment.generation,
            route="edge",
            reason=reason,
            rule=rule,
            started=started,
            assessment=assessment,
        ).model_copy(
            update={
                "degraded": True,
                "degraded_reason": degraded_reason(error),
                "error": describe(error, secrets),
            }
        )
    streamed = isinstance(error, StreamInterruptedError)
    if degraded is not None and ctx.failure_policy.fallback == "edge" and not streamed:
        return degraded
    error.edge_answer = degraded
    if edge_error is not None:
        error.add_note(f"the edge failed first: {edge_error}")
    if error is exc:
        raise error
    raise error from safe_cause(exc, secrets)
