"""`CascadeRouter`: the edge answers first; low confidence escalates to the cloud.

A facade over the routing package: the settings are a `RoutingPolicy` (`policy.py`), one request
is a plan of steps (`plan.py`) that a driver runs (`drivers.py`), the decision record is built in
`assembly.py`. A pre-generation step (`pregeneration.py`) plugs in as `pre=`.
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from typing import Any, TypedDict, TypeVar, Unpack, cast

from confidence_router.errors import ConfigurationError
from confidence_router.generation import Generation, GenerationOptions
from confidence_router.messages import MessagesInput, normalize_messages, normalize_tools
from confidence_router.models.base import ChatBackend
from confidence_router.routing import drivers
from confidence_router.routing.assessment import RUNNING_CONFIDENCE, EdgeAssessment
from confidence_router.routing.checks import (
    check_band,
    check_temperature,
    check_threshold,
    check_tokens,
)
from confidence_router.routing.circuit_breaker import CircuitBreaker
from confidence_router.routing.context import RouterContext
from confidence_router.routing.decision import Pricing, Reason, RoutedResponse
from confidence_router.routing.decision_rule import Decider, as_rule
from confidence_router.routing.failure import FailurePolicy
from confidence_router.routing.plan import plan
from confidence_router.routing.policy import RoutingPolicy
from confidence_router.routing.pregeneration import PreGeneration
from confidence_router.routing.steps import BackendCall, Request, RouteChunk
from confidence_router.routing.sticky import StickyRouting
from confidence_router.routing.structured_output import check_response_format
from confidence_router.statistics import Statistic
from confidence_router.tools.choice import ToolChoice, normalize_tool_choice
from confidence_router.tools.react import react_stop
from confidence_router.uncertainty import Estimator

__all__ = [
    "RUNNING_CONFIDENCE",
    "BackendCall",
    "CascadeRouter",
    "EdgeAssessment",
    "RouteChunk",
    "check_band",
    "check_temperature",
    "check_threshold",
    "check_tokens",
]

ToolsInput = Sequence[Mapping[str, Any]] | None
_R = TypeVar("_R", bound="CascadeRouter")


class AssessOptions(TypedDict, total=False):
    """Per-call settings of `assess`."""

    max_new_tokens: int | None
    tool_choice: ToolChoice
    deadline_s: float | None


class RouteOptions(AssessOptions, total=False):
    """Per-call settings of `route`, `aroute`, `stream`, `astream`, `batch`, `abatch`."""

    threshold: float | Decider | None
    stop: Sequence[str] | None
    response_format: Mapping[str, Any] | None
    conversation_id: str | None


_POLICY_FIELDS = (
    "estimator", "extra_estimators", "stage_estimator", "band", "rule", "early_exit_floor",
    "early_exit_min_tokens", "early_exit_window", "max_new_tokens", "cloud_max_new_tokens",
    "temperature",
)  # fmt: skip


class CascadeRouter:
    """Edge first; escalate iff the deciding estimator's confidence fails the decision rule.

    `estimator` decides (default: max sequence probability); `extra_estimators` are scored and
    recorded without deciding. `threshold` is a number (escalate iff confidence < threshold;
    0 never escalates, 1 always does), a `DecisionRule` or a `BudgetController`. A request with
    tools goes straight to the cloud when the edge cannot call tools (`edge_no_tools`), and so
    does content the edge cannot read (`unsupported_content`) and a prompt longer than the
    edge's context window (`prompt_too_long`).

    Staged escalation (`band=(low, high)`; None, the default, is off): the edge first generates
    the greedy answer alone and `stage_estimator` (default `MaxSequenceProbability`; it must not
    need samples) scores it, with every other estimator that needs no samples. Cheap confidence
    >= high keeps the edge answer, < low escalates; only inside [low, high) does a second edge
    call generate the samples (`samples_only`), after which `estimator` decides. The per-call
    `threshold` applies to that full stage only. `calibrate_band` picks a band.

    Early exit (`early_exit_floor`; None, the default, is off): once the greedy answer has
    `early_exit_min_tokens` tokens, a running confidence (geometric-mean token probability over
    the last `early_exit_window` tokens, all when None) below the floor stops the edge and
    escalates (`early_exit`). The edge must declare `Capabilities.early_exit`.

    `pre`: a pre-generation step (`PreGeneration`, e.g. `EmbeddingPredictor`): P(cloud) decides
    before generating (see `PredictiveRouter`, `HybridRouter`). `sticky` (`StickyRouting`):
    a conversation that escalated skips the edge on its next turns (`conversation_id=` per
    call, or recognised by its messages). More than two tiers: `tiered`.

    Failures (`failure_policy`): edge errors escalate; a circuit breaker (`breaker`, shared by
    the copies `with_*` make) stops calling a failing cloud; when the cloud cannot answer, the
    edge answer comes back `degraded` (`fallback="edge"`) or a typed error carrying it is raised
    (`fallback="raise"`); `deadline_s` bounds a request's wall time.
    """

    def __init__(
        self,
        edge: ChatBackend,
        cloud: ChatBackend,
        *,
        estimator: Estimator | str | None = None,
        threshold: float | Decider = 0.5,
        extra_estimators: Sequence[Estimator | str] = (),
        max_new_tokens: int = 512,
        cloud_max_new_tokens: int | None = None,
        temperature: float = 1.0,
        prices: Mapping[str, Pricing] | None = None,
        max_concurrency: int = 8,
        stage_estimator: Estimator | str | None = None,
        band: tuple[float, float] | None = None,
        early_exit_floor: float | None = None,
        early_exit_min_tokens: int = 4,
        early_exit_window: int | None = None,
        failure_policy: FailurePolicy | None = None,
        pre: PreGeneration | None = None,
        sticky: StickyRouting | None = None,
    ) -> None:
        self.edge = edge
        self.cloud = cloud
        self.policy = RoutingPolicy.build(
            edge,
            estimator=estimator,
            threshold=threshold,
            extra_estimators=extra_estimators,
            max_new_tokens=max_new_tokens,
            cloud_max_new_tokens=cloud_max_new_tokens,
            temperature=temperature,
            stage_estimator=stage_estimator,
            band=band,
            early_exit_floor=early_exit_floor,
            early_exit_min_tokens=early_exit_min_tokens,
            early_exit_window=early_exit_window,
        )
        if max_concurrency < 1:
            raise ConfigurationError("max_concurrency", f"must be >= 1, got {max_concurrency}")
        if pre is not None and not isinstance(pre, PreGeneration):
            raise ConfigurationError("pre", f"expected a PreGeneration step, got {pre!r}")
        self.pre = pre
        self.sticky = sticky
        self.prices = {"edge": Pricing(), "cloud": Pricing(), **dict(prices or {})}
        self.max_concurrency = max_concurrency
        self._pool = drivers.CallPool(max_concurrency)
        self._set_failure_policy(failure_policy or FailurePolicy())

    def __getattr__(self, name: str) -> Any:
        # the policy's settings read as the router's (router.threshold, router.band, ...)
        if name in _POLICY_FIELDS:
            return getattr(self.__dict__["policy"], name)
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def _set_failure_policy(self, policy: FailurePolicy) -> None:
        if not isinstance(policy, FailurePolicy):
            raise ConfigurationError(
                "failure_policy", f"expected a FailurePolicy, got {type(policy).__name__}"
            )
        self.failure_policy = policy
        self.breaker = CircuitBreaker(policy.breaker_failures, policy.breaker_cooldown_s)

    # -- settings ------------------------------------------------------------------------------

    @property
    def threshold(self) -> float:
        """The decision rule's threshold (`rule` says what settles ties at it)."""
        return self.policy.rule.threshold

    @property
    def estimators(self) -> list[Estimator]:
        """The deciding estimator and the extra ones (not the stage estimator)."""
        return self.policy.estimators

    @property
    def all_estimators(self) -> list[Estimator]:
        return self.policy.all_estimators

    @property
    def staged(self) -> bool:
        return self.policy.staged

    @property
    def required_statistics(self) -> frozenset[Statistic]:
        return self.policy.required_statistics

    @property
    def num_samples(self) -> int:
        return self.policy.num_samples

    def key(self, estimator: Estimator) -> str:
        """The key `estimator`'s score is recorded under in `scores`."""
        return self.policy.key(estimator)

    def edge_options(self, max_new_tokens: int | None = None) -> GenerationOptions:
        return self.policy.edge_options(max_new_tokens)

    def sample_options(self, max_new_tokens: int | None = None) -> GenerationOptions:
        return self.policy.sample_options(max_new_tokens)

    def _with(self: _R, **changes: Any) -> _R:
        clone = copy.copy(self)  # the same class: a PredictiveRouter stays one
        clone.policy = self.policy.changed(self.edge, **changes)
        return clone

    def with_threshold(self: _R, threshold: float | Decider) -> _R:
        """A copy sharing the models, with another threshold, `DecisionRule` or controller."""
        return self._with(rule=as_rule(threshold))

    def with_band(self: _R, band: tuple[float, float] | None) -> _R:
        """A copy sharing the models, with another band (None: not staged)."""
        return self._with(band=band)

    def with_early_exit(self: _R, floor: float | None) -> _R:
        """A copy sharing the models, with another early-exit floor (None: off)."""
        return self._with(early_exit_floor=floor)

    def with_failure_policy(self: _R, policy: FailurePolicy) -> _R:
        """A copy sharing the models, with another failure policy (and its own breaker)."""
        clone = copy.copy(self)
        clone._set_failure_policy(policy)
        return clone

    # -- the decision --------------------------------------------------------------------------

    def context(self) -> RouterContext:
        """What a request's plan works with."""
        return RouterContext(
            self.edge, self.cloud, self.policy, self.failure_policy, self.breaker, self.prices,
            self.pre, self.sticky,
        )  # fmt: skip

    def outcome(
        self, assessment: EdgeAssessment, threshold: float | Decider | None = None
    ) -> Reason:
        """Why an assessment (`assess`) stays at the edge or escalates."""
        return self.policy.outcome(assessment, None if threshold is None else as_rule(threshold))

    def score(self, messages: MessagesInput, generation: Generation) -> dict[str, float]:
        """Every (non-stage) estimator's confidence for an edge generation made elsewhere
        (keyed by `key`); empty when it cannot be scored. For offline evaluation."""
        return self.policy.score(normalize_messages(messages), generation, [])[1]

    def _request(
        self,
        messages: MessagesInput,
        tools: ToolsInput,
        threshold: float | Decider | None = None,
        tool_choice: ToolChoice = None,
        max_new_tokens: int | None = None,
        stop: Sequence[str] | None = None,
        deadline_s: float | None = None,
        response_format: Mapping[str, Any] | None = None,
        conversation_id: str | None = None,
    ) -> Request:
        msgs = normalize_messages(messages)
        stop = react_stop(msgs, [stop] if isinstance(stop, str) else stop)
        tool_defs, required = normalize_tool_choice(tool_choice, normalize_tools(tools))
        rule = self.policy.rule if threshold is None else as_rule(threshold)
        form = check_response_format(response_format)
        return Request(
            msgs, tool_defs, rule, required, max_new_tokens, stop, deadline_s, form,
            conversation_id,
        )  # fmt: skip

    # -- public API -----------------------------------------------------------------------------

    def assess(
        self,
        messages: MessagesInput,
        tools: ToolsInput = None,
        *,
        pre: bool = True,
        **kw: Unpack[AssessOptions],
    ) -> EdgeAssessment:
        """Run the edge and score its answer, no cloud call (decision-only use: `outcome`
        gives the route). A pre-generation step applies unless `pre=False` (calibration):
        a request it sends to the cloud is not generated (reason `predicted_cloud`). Keywords:
        `max_new_tokens`, `tool_choice`, `deadline_s`."""
        request = self._request(messages, tools, **kw)
        steps = plan(self.context(), request, edge_only=True, use_pre=pre)
        return cast(EdgeAssessment, drivers.drive(steps, self._pool))

    async def aassess(
        self,
        messages: MessagesInput,
        tools: ToolsInput = None,
        *,
        pre: bool = True,
        **kw: Unpack[AssessOptions],
    ) -> EdgeAssessment:
        """Async `assess`."""
        request = self._request(messages, tools, **kw)
        steps = plan(self.context(), request, edge_only=True, use_pre=pre)
        return cast(EdgeAssessment, await drivers.adrive(steps))

    def route(
        self, messages: MessagesInput, tools: ToolsInput = None, **kw: Unpack[RouteOptions]
    ) -> RoutedResponse:
        """Answer a conversation: at the edge when confident, else in the cloud. Keywords:
        `threshold` (a number or rule for this call), `max_new_tokens`, `stop`, `tool_choice`,
        `deadline_s` (overrides the failure policy's deadline)."""
        steps = plan(self.context(), self._request(messages, tools, **kw))
        return cast(RoutedResponse, drivers.drive(steps, self._pool))

    async def aroute(
        self, messages: MessagesInput, tools: ToolsInput = None, **kw: Unpack[RouteOptions]
    ) -> RoutedResponse:
        """Async `route`: model-calling work runs off the event loop."""
        steps = plan(self.context(), self._request(messages, tools, **kw))
        return cast(RoutedResponse, await drivers.adrive(steps))

    def batch(
        self,
        requests: Sequence[MessagesInput],
        tools: ToolsInput = None,
        **kw: Unpack[RouteOptions],
    ) -> list[RoutedResponse]:
        """Route several conversations, in order."""
        return [self.route(r, tools, **kw) for r in requests]

    async def abatch(
        self,
        requests: Sequence[MessagesInput],
        tools: ToolsInput = None,
        **kw: Unpack[RouteOptions],
    ) -> list[RoutedResponse]:
        """Route several conversations concurrently (at most `max_concurrency` at once); when
        one raises, the others are cancelled."""
        gate = asyncio.Semaphore(self.max_concurrency)

        async def one(request: MessagesInput) -> RoutedResponse:
            async with gate:
                return await self.aroute(request, tools, **kw)

        try:
            async with asyncio.TaskGroup() as group:
                tasks = [group.create_task(one(r)) for r in requests]
        except BaseExceptionGroup as failed:
            raise failed.exceptions[0] from None
        return [task.result() for task in tasks]

    def stream(
        self, messages: MessagesInput, tools: ToolsInput = None, **kw: Unpack[RouteOptions]
    ) -> Iterator[RouteChunk]:
        """Stream the answer: an edge answer once its confidence is known (it is buffered), an
        escalated answer as the cloud produces it. The last chunk carries the `response`."""
        steps = plan(self.context(), self._request(messages, tools, **kw))
        for item in drivers.run(steps, self._pool, stream=True):
            if isinstance(item, RouteChunk):
                yield item
            else:
                yield from _closing(cast(RoutedResponse, item))

    async def astream(
        self, messages: MessagesInput, tools: ToolsInput = None, **kw: Unpack[RouteOptions]
    ) -> AsyncIterator[RouteChunk]:
        """Async `stream`."""
        steps = plan(self.context(), self._request(messages, tools, **kw))
        async for item in drivers.arun(steps, stream=True):
            if isinstance(item, RouteChunk):
                yield item
            else:
                for chunk in _closing(cast(RoutedResponse, item)):
                    yield chunk

    def close(self) -> None:
        """Stop the worker threads of deadline-enforced calls (the tiers stay open)."""
        self._pool.close()

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(edge={self.edge!r}, cloud={self.cloud!r}, "
            f"estimator={self.policy.estimator!r}, threshold={self.threshold})"
        )


def _closing(response: RoutedResponse) -> Iterator[RouteChunk]:
    if response.route == "edge" and response.text:
        yield RouteChunk(text=response.text)
    yield RouteChunk(response=response)
