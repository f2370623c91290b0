"""One request as a plan: a generator that yields steps (`steps.py`) and returns the decision.

`plan` applies the pre-generation step when there is one (P(cloud) decides: the cloud at once,
the edge kept, or the cascade), then `cascade`: the edge answers and is assessed, then the
decision rule keeps it or the cloud answers, under the failure policy (edge errors escalate, the
breaker guards the cloud, a failed cloud falls back to the edge answer or raises). The same plan
serves `route`, `aroute`, `stream` and `assess` (edge only): only the drivers differ.
"""

from __future__ import annotations

import time
from collections.abc import Generator
from dataclasses import replace
from typing import Any

from confidence_router.errors import (
    CircuitOpenError,
    DeadlineExceededError,
    InvalidInputError,
    PromptTooLongError,
)
from confidence_router.generation import Answer, Generation, seconds_left
from confidence_router.messages import ChatMessage
from confidence_router.routing.assembly import build_response, cloud_failed
from confidence_router.routing.assessment import EdgeAssessment, assess
from confidence_router.routing.checks import check_tokens
from confidence_router.routing.context import RouterContext
from confidence_router.routing.decision import Reason, RoutedResponse
from confidence_router.routing.decision_rule import DecisionRule
from confidence_router.routing.failure import (
    FailurePolicy,
    as_backend_error,
    check_seconds,
    counts_against_cloud,
    describe,
    is_request_error,
    safe_cause,
)
from confidence_router.routing.pregeneration import pre_decision
from confidence_router.routing.steps import BackendCall, Compute, Request, Step
from confidence_router.routing.sticky import lookup_keys, record_keys
from confidence_router.routing.structured_output import with_instruction
from confidence_router.tools.react import tier_stop

_KEEP = DecisionRule(threshold=0.0)  # keeps every scorable answer (a predicted_edge request)
Outcome = RoutedResponse | EdgeAssessment


def deadlines(policy: FailurePolicy, deadline_s: float | None) -> tuple[float | None, float | None]:
    """(request deadline, edge deadline) as `time.monotonic()` instants (None: none)."""
    now = time.monotonic()
    total = check_seconds(deadline_s, "deadline_s") or policy.deadline_s
    request = None if total is None else now + total
    edge_s = policy.edge_deadline_s
    edge = request if edge_s is None else min(now + edge_s, request or float("inf"))
    return request, edge


def edge_messages(ctx: RouterContext, req: Request) -> list[ChatMessage]:
    """What the edge is asked: the conversation, with the structured-output instruction when
    the edge cannot enforce `response_format` itself."""
    if req.response_format is None or ctx.edge.capabilities.structured_output:
        return req.messages
    return with_instruction(req.messages, req.response_format)


def _edge_call(ctx: RouterContext, req: Request, deadline: float | None, keep: bool) -> BackendCall:
    stop = tier_stop(req.stop, ctx.edge.model_name)
    options = ctx.policy.edge_options(
        req.max_new_tokens, stop, req.tool_choice, req.response_format
    )
    update: dict[str, Any] = {"deadline": deadline}
    if keep:  # nothing is decided on samples or a running confidence
        update.update(num_samples=0, early_exit_floor=None)
    messages = edge_messages(ctx, req)
    return BackendCall(ctx.edge, messages, options.model_copy(update=update), req.tools)


def plan(
    ctx: RouterContext, req: Request, *, edge_only: bool = False, use_pre: bool = True
) -> Generator[Step, Any, Outcome]:
    """The whole request (see the module docstring). `edge_only`: no cloud call, the
    assessment is returned (`assess`); `use_pre=False` skips the pre-generation step."""
    check_tokens(req.max_new_tokens, "max_new_tokens", optional=True)
    check_seconds(req.deadline_s, "deadline_s")
    if ctx.sticky is not None and not edge_only:
        return (yield from _sticky(ctx, req, use_pre))
    pre = ctx.pre if use_pre else None
    if pre is None:
        return (yield from cascade(ctx, req, edge_only=edge_only))
    p = float((yield Compute(lambda: pre.p_cloud(req.messages))))
    decided = pre_decision(p, pre.band)
    low, high = pre.band
    predicted = {"estimator": pre.kind, "confidence": 1.0 - p}
    if decided == "cloud" and edge_only:
        empty = Generation(greedy=Answer(text=""))
        return EdgeAssessment(
            req.messages, empty, 1.0 - p, {"p_cloud": p}, 0.0, Reason.PREDICTED_CLOUD,
            estimator=pre.kind,
        )  # fmt: skip
    skip = Reason.PREDICTED_CLOUD if decided == "cloud" else None
    result = yield from cascade(
        ctx, req, edge_only=edge_only, skip_edge=skip, keep_edge=decided == "edge"
    )
    scores = {**result.scores, "p_cloud": p}
    if isinstance(result, EdgeAssessment):
        if decided == "edge" and result.reason is None:
            return replace(
                result, scores=scores, reason=Reason.PREDICTED_EDGE, estimator=pre.kind,
                confidence=1.0 - p,
            )  # fmt: skip
        return replace(result, scores=scores)
    update: dict[str, Any] = {"scores": scores}
    if decided == "edge" and result.reason is Reason.CONFIDENT:
        update.update(reason=Reason.PREDICTED_EDGE, threshold=low, **predicted)
    elif decided == "cloud":
        update.update(threshold=high, **predicted)
    return result.model_copy(update=update)


def _sticky(ctx: RouterContext, req: Request, use_pre: bool) -> Generator[Step, Any, Outcome]:
    """A conversation that escalated before skips the edge (reason `sticky`); one that
    escalates now is remembered (a degraded edge answer is not an escalation)."""
    table = ctx.sticky
    assert table is not None
    unsticky = replace(ctx, sticky=None)
    if table.escalated(lookup_keys(req.messages, req.conversation_id)):
        skipped = yield from cascade(unsticky, req, skip_edge=Reason.STICKY)
        assert isinstance(skipped, RoutedResponse)
        result = skipped.model_copy(update={"sticky": True})
    else:
        routed = yield from plan(unsticky, req, use_pre=use_pre)
        assert isinstance(routed, RoutedResponse)
        result = routed
    if result.route == "cloud":
        table.remember(
            record_keys(req.messages, result.text, result.tool_calls, req.conversation_id)
        )
    return result


def cascade(
    ctx: RouterContext,
    req: Request,
    *,
    edge_only: bool = False,
    skip_edge: Reason | None = None,
    keep_edge: bool = False,
) -> Generator[Step, Any, Outcome]:
    """Edge first, then the rule, then the cloud when needed. `skip_edge`: straight to the
    cloud for this reason; `keep_edge`: the edge's answer unless it cannot be used at all."""
    started = time.perf_counter()
    deadline, edge_deadline = deadlines(ctx.failure_policy, req.deadline_s)
    assessment: EdgeAssessment | None = None
    edge_error: str | None = None
    reason = skip_edge or ctx.skip_edge(req.messages, req.tools)
    if reason is None:
        try:
            generation = yield _edge_call(ctx, req, edge_deadline, keep_edge)
            assessment = yield from assess(
                ctx.policy, ctx.edge, req, edge_messages(ctx, req), generation, started,
                edge_deadline, ctx.secrets, keep_edge,
            )  # fmt: skip
        except PromptTooLongError:
            if edge_only:
                raise
            reason = Reason.PROMPT_TOO_LONG
        except Exception as exc:  # an edge failure escalates (FailurePolicy)
            if is_request_error(exc):
                raise
            if edge_only or not ctx.failure_policy.escalate_edge_errors:
                secrets = ctx.secrets
                raise as_backend_error(exc, "edge", secrets) from safe_cause(exc, secrets)
            timed_out = isinstance(exc, DeadlineExceededError)
            reason = Reason.EDGE_TIMEOUT if timed_out else Reason.EDGE_FAILED
            edge_error = describe(exc, ctx.secrets)
        else:
            if edge_only:
                return assessment
            reason = ctx.policy.outcome(assessment, _KEEP if keep_edge else req.rule)
            edge_error = assessment.error
    if reason is Reason.CONFIDENT and assessment is not None:
        return build_response(
            ctx, answer=assessment.generation, route="edge", reason=reason, rule=req.rule,
            started=started, assessment=assessment,
        )  # fmt: skip
    if edge_only:
        raise InvalidInputError(f"the edge cannot answer this request ({reason.value})")
    return (yield from _cloud(ctx, req, reason, assessment, edge_error, started, deadline))


def _cloud(
    ctx: RouterContext,
    req: Request,
    reason: Reason,
    assessment: EdgeAssessment | None,
    edge_error: str | None,
    started: float,
    deadline: float | None,
) -> Generator[Step, Any, RoutedResponse]:
    """The cloud's answer, or what its failure turns into (`cloud_failed`)."""
    stop = tier_stop(req.stop, ctx.cloud.model_name)
    options = ctx.policy.cloud_options(
        req.max_new_tokens, stop, req.tool_choice, req.response_format
    )
    breaker = ctx.breaker
    failure: BaseException | None = None
    if deadline is not None and seconds_left(deadline) == 0.0:
        failure = DeadlineExceededError(
            "the request's deadline passed before the cloud was called", tier="cloud"
        )
    elif not breaker.allow():  # after every check: a refused request never holds the slot
        wait = breaker.retry_in()
        failure = CircuitOpenError(
            f"cloud model {ctx.cloud.model_name!r} failed {breaker.failures} times in a row; "
            f"not called for another {wait:.1f} s",
            retry_in_s=wait,
        )
    if failure is None:
        cloud_start = time.perf_counter()
        update = {"deadline": deadline, "conversation_id": req.conversation_id}
        call = BackendCall(
            ctx.cloud, req.messages, options.model_copy(update=update), req.tools, tier="cloud"
        )
        try:
            answer = yield call
        except GeneratorExit:
            breaker.release()
            raise
        except Exception as exc:  # the failure policy decides (FailurePolicy)
            if counts_against_cloud(exc) and not is_request_error(exc):
                breaker.record_failure()
            else:
                breaker.release()
            if is_request_error(exc):
                raise
            failure = exc
        else:
            breaker.record_success()
            response = build_response(
                ctx, answer=answer, route="cloud", reason=reason, rule=req.rule,
                started=started, assessment=assessment, cloud_s=time.perf_counter() - cloud_start,
            )  # fmt: skip
            return response.model_copy(update={"error": edge_error}) if edge_error else response
    if assessment is None and reason is Reason.PREDICTED_CLOUD:
        # predicted to need the cloud, which failed: the edge's answer is the fallback
        assessment = yield from _fallback(ctx, req, deadline, started)
    return cloud_failed(ctx, failure, assessment, reason, req.rule, started, edge_error)


def _fallback(
    ctx: RouterContext, req: Request, deadline: float | None, started: float
) -> Generator[Step, Any, EdgeAssessment | None]:
    """The edge's answer for a request the cloud should have answered and could not, or None
    when the edge cannot give a usable one either."""
    if ctx.skip_edge(req.messages, req.tools) is not None:
        return None
    if deadline is not None and seconds_left(deadline) == 0.0:
        return None
    try:
        generation = yield _edge_call(ctx, req, deadline, keep=True)
        assessment = yield from assess(
            ctx.policy, ctx.edge, req, edge_messages(ctx, req), generation, started, deadline,
            ctx.secrets, True,
        )  # fmt: skip
    except Exception as exc:
        if is_request_error(exc):
            raise
        return None
    return assessment if assessment.reason is None else None
