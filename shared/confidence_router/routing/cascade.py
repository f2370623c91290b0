"""`CascadeRouter`: the edge answers first; low confidence escalates to the cloud."""

from __future__ import annotations

import asyncio
import concurrent.futures
import copy
import math
import numbers
import threading
import time
from collections.abc import AsyncIterator, Generator, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, TypeVar, cast

from confidence_router.errors import (
    BackendError,
    CapabilityError,
    CircuitOpenError,
    ConfigurationError,
    DeadlineExceededError,
    InvalidInputError,
    PromptTooLongError,
    StreamInterruptedError,
)
from confidence_router.generation import (
    DEADLINE,
    EARLY_EXIT,
    MAX_NEW_TOKENS,
    Generation,
    GenerationOptions,
    Usage,
    seconds_left,
)
from confidence_router.messages import (
    ChatMessage,
    MessagesInput,
    normalize_messages,
    normalize_tools,
)
from confidence_router.models.base import ChatBackend
from confidence_router.models.tool_choice import ToolChoice, normalize_tool_choice
from confidence_router.routing.circuit_breaker import CircuitBreaker
from confidence_router.routing.decision import (
    Latency,
    Pricing,
    Reason,
    RoutedResponse,
    Stage,
)
from confidence_router.routing.decision_rule import (
    Decider,
    DecisionRule,
    as_rule,
    request_key,
    snapshot,
)
from confidence_router.routing.failure import (
    FailurePolicy,
    as_backend_error,
    check_seconds,
    counts_against_cloud,
    degraded_reason,
    describe,
    is_request_error,
    safe_cause,
)
from confidence_router.routing.tool_validation import tool_call_problem
from confidence_router.uncertainty import Estimator, MaxSequenceProbability, get_estimator
from confidence_router.uncertainty.base import score_keys
from confidence_router.uncertainty.running_confidence import RunningConfidence
from confidence_router.uncertainty.statistics import RequestStatistics, Statistic

ToolsInput = Sequence[Mapping[str, Any]] | None
Band = tuple[float, float]
_T = TypeVar("_T")
_R = TypeVar("_R", bound="CascadeRouter")
# Reasons for which the edge answer could not be scored: no confidence is reported.
_UNSCORED = frozenset(
    {
        Reason.EMPTY_EDGE_ANSWER,
        Reason.INVALID_TOOL_CALL,
        Reason.NO_TOOL_CALL,
        Reason.EDGE_TIMEOUT,
        Reason.EDGE_FAILED,
    }
)
# Edge answers a failed cloud call may fall back to: complete, scored answers only.
_FALLBACK_REASONS = frozenset({Reason.LOW_CONFIDENCE, Reason.PREDICTED_CLOUD})
RUNNING_CONFIDENCE = "running_confidence"  # `RoutedResponse.estimator` on an early exit
_KEEP = DecisionRule(threshold=0.0)  # keeps every scorable answer (a predicted_edge request)


def check_threshold(value: float, field: str = "threshold") -> float:
    """A threshold must be a real number in [0, 1] (NumPy scalars included)."""
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Real)
        or math.isnan(float(value))
        or not 0.0 <= float(value) <= 1.0
    ):
        raise ConfigurationError(field, f"must be a number in [0, 1], got {value!r}")
    return float(value)


def check_tokens(value: int | None, field: str, optional: bool = False) -> int | None:
    """A token cap: an integer in [1, MAX_NEW_TOKENS] (None allowed when `optional`)."""
    if value is None and optional:
        return None
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Integral)
        or not 1 <= int(value) <= MAX_NEW_TOKENS
    ):
        raise ConfigurationError(
            field, f"must be an integer in [1, {MAX_NEW_TOKENS}], got {value!r}"
        )
    return int(value)


def check_temperature(value: float) -> float:
    """A sampling temperature in (0, 5]."""
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Real)
        or not 0.0 < float(value) <= 5.0
    ):
        raise ConfigurationError("temperature", f"must be a number in (0, 5], got {value!r}")
    return float(value)


def check_band(value: Sequence[float] | None, field: str = "band") -> Band | None:
    """A band is None (no staging) or (low, high) with 0 <= low <= high <= 1."""
    if value is None:
        return None
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence) or len(value) != 2:
        raise ConfigurationError(field, f"must be a pair (low, high) or None, got {value!r}")
    low, high = (check_threshold(v, field) for v in value)
    if low > high:
        raise ConfigurationError(field, f"low must be <= high, got ({low}, {high})")
    return low, high


@dataclass(frozen=True)
class RouteChunk:
    """A piece of a streamed routed answer; the last one carries the full `response`."""

    text: str = ""
    response: RoutedResponse | None = None


@dataclass(frozen=True)
class BackendCall:
    """One generation a routing plan asks its driver to run."""

    backend: ChatBackend
    messages: list[ChatMessage]
    options: GenerationOptions
    tools: list[dict[str, Any]]
    tier: str = "edge"  # which tier this call is for: one backend may serve both


@dataclass(frozen=True)
class EdgeAssessment:
    """The edge's answer and how confident it is, before any cloud call.

    `reason` is set when the assessment already decided the route: an answer that could not be
    scored, an early exit, or the cheap stage of staged escalation (`confident` or
    `low_confidence`, whatever the threshold). `stage` and `estimator` say which stage and
    estimator gave `confidence` (see `RoutedResponse`).
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


class _CallPool:
    """Runs backend calls whose deadline the backend cannot honour itself (`_call`) in one
    bounded pool per router (threads are reused; a call cut off at its deadline keeps its worker
    until the backend returns, and at most `workers` such calls run at once)."""

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None
        self._lock = threading.Lock()

    def _pool(self) -> concurrent.futures.ThreadPoolExecutor:
        with self._lock:
            if self._executor is None:
                self._executor = concurrent.futures.ThreadPoolExecutor(
                    max_workers=self.workers, thread_name_prefix="router-call"
                )
            return self._executor

    def call(self, call: BackendCall) -> Generation:
        """One backend call; a deadline the backend does not honour itself is enforced here."""
        left = seconds_left(call.options.deadline)
        if left is None or call.backend.capabilities.deadline:
            return call.backend.generate(call.messages, call.options, call.tools)
        future = self._pool().submit(call.backend.generate, call.messages, call.options, call.tools)
        try:
            return future.result(timeout=left)
        except concurrent.futures.TimeoutError:
            future.cancel()  # never started: it never will
            raise DeadlineExceededError(
                f"{call.backend.model_name!r} did not answer before the deadline", tier=call.tier
            ) from None

    def close(self) -> None:
        with self._lock:
            if self._executor is not None:
                self._executor.shutdown(wait=False, cancel_futures=True)
                self._executor = None


class CascadeRouter:
    """Edge first; escalate iff the deciding estimator's confidence < `threshold`.

    `estimator` decides; `extra_estimators` are scored and recorded without deciding. Threshold 0
    never escalates; threshold 1 escalates every answer whose confidence is below 1. A request
    with tools goes straight to the cloud when the edge cannot call tools (`edge_no_tools`), and
    so does a prompt longer than the edge's context window (`prompt_too_long`).

    Staged escalation (`band=(low, high)`; None, the default, is off): the edge first generates
    the greedy answer alone and `stage_estimator` (default `MaxSequenceProbability`; it must not
    need samples) scores it, with every other estimator that needs no samples. Cheap confidence
    >= high keeps the edge answer, < low escalates; only inside [low, high) does a second edge
    call generate the samples (`samples_only`: the greedy answer is not generated again, but
    the prompt is prefilled again), after which `estimator` decides against `threshold`. The
    per-call `threshold` applies to that full stage only. `calibrate_band` picks a band.

    Early exit (`early_exit_floor`; None, the default, is off): while the edge generates, once
    the greedy answer has `early_exit_min_tokens` tokens, a running confidence
    (`RunningConfidence`: geometric-mean token probability over the last `early_exit_window`
    tokens, all of them when None) below the floor stops the generation and escalates at once
    (`early_exit`). The edge must declare `Capabilities.early_exit` (`TransformersModel` does;
    OpenAI-compatible edges do not, and are refused with `CapabilityError`).

    Estimators that need the edge model itself (`PTrue` without a scorer) are bound to the edge
    (`Estimator.bind`).

    Failures (`failure_policy`, a `FailurePolicy`): edge errors escalate to the cloud; a circuit
    breaker (`breaker`, shared by the copies `with_*` make) stops calling a failing cloud; when
    the cloud cannot answer, the edge answer comes back marked `degraded=True`
    (`fallback="edge"`, the default) or a typed error carrying it is raised (`fallback="raise"`);
    `deadline_s` bounds a request's wall time.
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
    ) -> None:
        self.edge = edge
        self.cloud = cloud
        self.estimator = self._estimator(estimator or MaxSequenceProbability())
        self.extra_estimators = [self._estimator(e) for e in extra_estimators]
        self.stage_estimator = self._estimator(stage_estimator or MaxSequenceProbability())
        if self.stage_estimator.needs_samples:
            raise ConfigurationError(
                "stage_estimator", f"must score the greedy answer alone, got {self.stage_estimator}"
            )
        self.band = check_band(band)
        self.rule = as_rule(threshold)
        self.early_exit_floor = (
            None
            if early_exit_floor is None
            else check_threshold(early_exit_floor, "early_exit_floor")
        )
        # validates the early-exit settings with the fields named
        RunningConfidence(
            self.early_exit_floor, min_tokens=early_exit_min_tokens, window=early_exit_window
        )
        self.early_exit_min_tokens = early_exit_min_tokens
        self.early_exit_window = early_exit_window
        if max_concurrency < 1:
            raise ConfigurationError("max_concurrency", f"must be >= 1, got {max_concurrency}")
        self.max_new_tokens = cast(int, check_tokens(max_new_tokens, "max_new_tokens"))
        self.cloud_max_new_tokens = (
            check_tokens(cloud_max_new_tokens, "cloud_max_new_tokens", optional=True)
            or self.max_new_tokens
        )
        self.temperature = check_temperature(temperature)
        self.prices = {"edge": Pricing(), "cloud": Pricing(), **dict(prices or {})}
        self.max_concurrency = max_concurrency
        # runs the calls of backends that cannot honour a deadline themselves (see `_call`)
        self._pool = _CallPool(max_concurrency)
        self._set_policy(failure_policy or FailurePolicy())
        self._check_capabilities()
        self._keys = score_keys([*self.estimators, self.stage_estimator])
        self._check_rule()

    def _set_policy(self, policy: FailurePolicy) -> None:
        if not isinstance(policy, FailurePolicy):
            raise ConfigurationError(
                "failure_policy", f"expected a FailurePolicy, got {type(policy).__name__}"
            )
        self.failure_policy = policy
        self.breaker = CircuitBreaker(policy.breaker_failures, policy.breaker_cooldown_s)

    def _check_capabilities(self) -> None:
        caps = self.edge.capabilities
        missing = caps.missing(self.required_statistics)
        if missing:
            names = ", ".join(sorted(s.value for s in missing))
            raise CapabilityError(
                f"the edge model {self.edge.model_name!r} cannot supply {names}, which the "
                f"configured estimators need (e.g. enable log-probs on an OpenAI-compatible edge)"
            )
        if self.early_exit_floor is not None and not caps.early_exit:
            raise CapabilityError(
                f"the edge model {self.edge.model_name!r} cannot stop its generation early "
                f"(early_exit_floor); use an in-process TransformersModel edge or leave it None"
            )

    def _estimator(self, value: Estimator | str) -> Estimator:
        if isinstance(value, str):
            value = get_estimator(value)
        if not isinstance(value, Estimator):
            raise ConfigurationError("estimator", f"expected an Estimator, got {value!r}")
        return value.bind(self.edge)

    @property
    def estimators(self) -> list[Estimator]:
        """The deciding estimator and the extra ones (not the stage estimator)."""
        return [self.estimator, *self.extra_estimators]

    @property
    def staged(self) -> bool:
        return self.band is not None

    @property
    def all_estimators(self) -> list[Estimator]:
        """Every estimator scored on some request: the stage estimator first when staged."""
        return [self.stage_estimator, *self.estimators] if self.staged else self.estimators

    @property
    def required_statistics(self) -> frozenset[Statistic]:
        needed: frozenset[Statistic] = frozenset()
        for est in self.all_estimators:
            needed |= est.requires
        return needed

    @property
    def num_samples(self) -> int:
        """Samples per request when the samples are generated."""
        return max((e.num_samples for e in self.all_estimators), default=0)

    def edge_options(
        self,
        max_new_tokens: int | None = None,
        stop: Sequence[str] | None = None,
        tool_choice: str | None = None,
    ) -> GenerationOptions:
        """The (first) edge call: the greedy answer with every statistic the estimators need,
        with the samples unless staged, and the early-exit settings."""
        needed = self.required_statistics
        return GenerationOptions(
            max_new_tokens=max_new_tokens or self.max_new_tokens,
            logprobs=bool({Statistic.GREEDY_LOGPROBS, Statistic.SAMPLE_LOGPROBS} & needed),
            entropy=Statistic.GREEDY_ENTROPY in needed,
            num_samples=0 if self.staged else self.num_samples,
            temperature=self.temperature,
            stop=tuple(stop or ()),
            tool_choice=tool_choice,
            early_exit_floor=self.early_exit_floor,
            early_exit_min_tokens=self.early_exit_min_tokens,
            early_exit_window=self.early_exit_window,
        )

    def sample_options(
        self,
        max_new_tokens: int | None = None,
        stop: Sequence[str] | None = None,
        tool_choice: str | None = None,
    ) -> GenerationOptions:
        """The full stage's second edge call: the samples only."""
        first = self.edge_options(max_new_tokens, stop, tool_choice)
        return GenerationOptions(
            **{
                **first.model_dump(),
                "num_samples": self.num_samples,
                "samples_only": True,
                "early_exit_floor": None,
            }
        )

    def _copy(self: _R) -> _R:
        """A shallow copy of the same class (a `PredictiveRouter` stays one), sharing the models,
        estimators, breaker and pool."""
        return copy.copy(self)

    def key(self, estimator: Estimator) -> str:
        """The key `estimator`'s score is recorded under in `scores` (see `score_keys`)."""
        return self._keys[id(estimator)]

    @property
    def threshold(self) -> float:
        """The decision rule's threshold (see `rule` for what settles ties at it)."""
        return self.rule.threshold

    def with_threshold(self: _R, threshold: float | Decider) -> _R:
        """A copy sharing the same models, with another threshold or decision rule (e.g. a
        calibration's `rule`)."""
        clone = self._copy()
        clone.rule = as_rule(threshold)
        clone._check_rule()
        return clone

    def _check_rule(self) -> None:
        """A rule that breaks ties by a score needs the router to compute that score."""
        tie = self.rule.tie_estimator
        if tie is not None and tie not in self._keys.values():
            raise ConfigurationError(
                "threshold",
                f"the rule breaks ties by {tie!r}, which this router does not score; "
                f"scored: {', '.join(sorted(set(self._keys.values())))}",
            )

    def with_band(self: _R, band: tuple[float, float] | None) -> _R:
        """A copy sharing the same models, with another band (None: not staged)."""
        clone = self._copy()
        clone.band = check_band(band)
        clone._check_capabilities()
        return clone

    def with_failure_policy(self: _R, policy: FailurePolicy) -> _R:
        """A copy sharing the same models, with another failure policy (and its own breaker)."""
        clone = self._copy()
        clone._set_policy(policy)
        return clone

    def with_early_exit(self: _R, floor: float | None) -> _R:
        """A copy sharing the same models, with another early-exit floor (None: off)."""
        clone = self._copy()
        clone.early_exit_floor = (
            None if floor is None else check_threshold(floor, "early_exit_floor")
        )
        clone._check_capabilities()
        return clone

    # -- the decision -------------------------------------------------------------------------

    @staticmethod
    def _scorable(
        generation: Generation, tools: list[dict[str, Any]], tool_choice: str | None
    ) -> tuple[Generation, Reason | None]:
        """The generation to score, or why the edge answer cannot be scored. A tool call is
        scored on the tokens of its tool name and argument values only, and must fit the tool's
        schema (and `tool_choice`)."""
        greedy = generation.greedy
        if tool_choice is not None and not greedy.tool_calls:
            return generation, Reason.NO_TOOL_CALL
        if not greedy.text.strip() and not greedy.tool_calls:
            return generation, Reason.EMPTY_EDGE_ANSWER
        if greedy.tool_calls and any(tool_call_problem(c, tools) for c in greedy.tool_calls):
            return generation, Reason.INVALID_TOOL_CALL
        if any(greedy.focus):  # a tool call or a ReAct step: scored on what decides the action
            generation = replace(generation, greedy=greedy.focused())
        return generation, None

    def _scores(
        self,
        messages: list[ChatMessage],
        generation: Generation,
        estimators: Sequence[Estimator],
    ) -> dict[str, float] | None:
        """Each estimator's confidence (keyed by `key`; one request's statistics shared), or
        None when the answer has nothing to score."""
        stats = RequestStatistics(messages, generation)
        try:
            return {self.key(e): e.confidence(stats) for e in estimators}
        except InvalidInputError:
            return None

    def _score(
        self,
        messages: list[ChatMessage],
        generation: Generation,
        tools: list[dict[str, Any]],
        tool_choice: str | None = None,
    ) -> tuple[float, dict[str, float], Reason | None]:
        """Confidence of the edge answer with every (non-stage) estimator, in one stage."""
        generation, failed = self._scorable(generation, tools, tool_choice)
        scores = None if failed else self._scores(messages, generation, self.estimators)
        if scores is None:
            return 0.0, {}, failed or Reason.EMPTY_EDGE_ANSWER
        return scores[self.key(self.estimator)], scores, None

    def score(self, messages: MessagesInput, generation: Generation) -> dict[str, float]:
        """Every (non-stage) estimator's confidence for an edge generation made elsewhere
        (keyed by `key`); empty when the answer cannot be scored. For offline evaluation."""
        msgs = normalize_messages(messages)
        return self._score(msgs, generation, [])[1]

    def _prepare(
        self,
        messages: MessagesInput,
        tools: ToolsInput,
        threshold: float | Decider | None,
        tool_choice: ToolChoice = None,
    ) -> tuple[list[ChatMessage], list[dict[str, Any]], Decider, str | None]:
        msgs = normalize_messages(messages)
        tool_defs, required = normalize_tool_choice(tool_choice, normalize_tools(tools))
        rule = self.rule if threshold is None else as_rule(threshold)
        return msgs, tool_defs, rule, required

    @staticmethod
    def _check_call(max_new_tokens: int | None, deadline_s: float | None) -> None:
        """Per-call settings, checked before anything runs or any breaker slot is taken."""
        check_tokens(max_new_tokens, "max_new_tokens", optional=True)
        check_seconds(deadline_s, "deadline_s")

    def _cloud_options(
        self,
        max_new_tokens: int | None,
        stop: Sequence[str] | None = None,
        tool_choice: str | None = None,
    ) -> GenerationOptions:
        return GenerationOptions(
            max_new_tokens=max_new_tokens or self.cloud_max_new_tokens,
            stop=tuple(stop or ()),
            tool_choice=tool_choice,
        )

    def _response(
        self,
        *,
        answer: Generation,
        route: str,
        reason: Reason,
        threshold: Decider,
        started: float,
        assessment: EdgeAssessment | None,
        cloud_s: float = 0.0,
    ) -> RoutedResponse:
        scored = assessment is not None and assessment.reason not in _UNSCORED
        usage: dict[str, Usage] = {}
        if assessment is not None:
            usage["edge"] = assessment.generation.usage
        if route == "cloud":
            usage["cloud"] = answer.usage
        cost = sum(self.prices[tier].cost(u) for tier, u in usage.items())
        escalated_edge_text = (
            assessment.generation.text if assessment is not None and route == "cloud" else None
        )
        return RoutedResponse(
            text=answer.text,
            tool_calls=answer.tool_calls,
            route="cloud" if route == "cloud" else "edge",
            reason=reason,
            confidence=assessment.confidence if assessment is not None and scored else None,
            scores=assessment.scores if assessment else {},
            estimator=(assessment.estimator if assessment else None) or self.key(self.estimator),
            threshold=threshold.threshold,
            rule=snapshot(threshold),
            stage=assessment.stage if assessment else None,
            band=self.band,
            edge_tokens=assessment.generation.greedy.num_tokens if assessment else 0,
            latency=Latency(
                edge_s=assessment.latency_s if assessment else 0.0,
                cloud_s=cloud_s,
                total_s=time.perf_counter() - started,
            ),
            usage=usage,
            cost=cost,
            edge_model=self.edge.model_name,
            cloud_model=self.cloud.model_name,
            edge_text=escalated_edge_text,
            finish_reason=answer.greedy.finish_reason,
        )

    def _skip_edge(self, msgs: list[ChatMessage], tools: list[dict[str, Any]]) -> Reason | None:
        """Why the edge cannot take this request at all (None: it can)."""
        caps = self.edge.capabilities
        if not caps.multimodal and any(m.has_media for m in msgs):
            return Reason.UNSUPPORTED_CONTENT
        if tools and not caps.tools:
            return Reason.EDGE_NO_TOOLS
        return None

    def outcome(
        self, assessment: EdgeAssessment, threshold: float | Decider | None = None
    ) -> Reason:
        """The routing rule: why this assessment stays at the edge or escalates. A decision made
        while assessing (see `EdgeAssessment.reason`) stands; else the decision rule's (the
        router's, or `threshold`)."""
        rule = self.rule if threshold is None else as_rule(threshold)
        if assessment.reason is not None:
            return assessment.reason
        key = request_key(assessment.messages)
        if rule.escalates(assessment.confidence, assessment.scores, key):
            return Reason.LOW_CONFIDENCE
        return Reason.CONFIDENT

    # -- one request as a plan: it yields backend calls, a sync or async driver runs them --------

    def _assess(
        self,
        msgs: list[ChatMessage],
        generation: Generation,
        tools: list[dict[str, Any]],
        tool_choice: str | None,
        max_new_tokens: int | None,
        stop: Sequence[str] | None,
        started: float,
        deadline: float | None = None,
        keep_edge: bool = False,
    ) -> Generator[BackendCall, Generation, EdgeAssessment]:
        """Score the edge's first generation; when staged and inside the band, ask the edge for
        the samples (a second call) and score the full stage. With `keep_edge` (a predictive
        router kept the request at the edge) only what needs no samples is scored and nothing
        but an unusable answer escalates."""

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
            running = RunningConfidence(window=self.early_exit_window)
            for logprob in greedy.token_logprobs:
                running.push(logprob)
            return done(running.value, {}, Reason.EARLY_EXIT, None, RUNNING_CONFIDENCE)
        decider = self.key(self.estimator)
        if self.band is None and not keep_edge:
            confidence, scores, failed = self._score(msgs, generation, tools, tool_choice)
            return done(confidence, scores, failed, None, decider)
        scorable, failed = self._scorable(generation, tools, tool_choice)
        cheap = [self.stage_estimator, *(e for e in self.estimators if not e.needs_samples)]
        cheap_scores = None if failed else self._scores(msgs, scorable, cheap)
        if cheap_scores is None:
            return done(0.0, {}, failed or Reason.EMPTY_EDGE_ANSWER)
        scores = cheap_scores
        stage_key = self.key(self.stage_estimator)
        cheap_confidence = scores[stage_key]
        if keep_edge:
            named = decider if decider in scores else stage_key
            return done(scores[named], scores, None, None, named)
        assert self.band is not None
        low, high = self.band
        if not low <= cheap_confidence < high:
            decided = Reason.CONFIDENT if cheap_confidence >= high else Reason.LOW_CONFIDENCE
            return done(cheap_confidence, scores, decided, "cheap", stage_key)
        final = generation
        full = [e for e in self.estimators if e.needs_samples]
        if full:
            options = self.sample_options(max_new_tokens, stop, tool_choice)
            try:
                sampled = yield BackendCall(
                    self.edge, msgs, options.model_copy(update={"deadline": deadline}), tools
                )
            except Exception as exc:  # the first call's answer, usage and time are kept
                if is_request_error(exc):
                    raise
                timed_out = isinstance(exc, DeadlineExceededError)
                reason = Reason.EDGE_TIMEOUT if timed_out else Reason.EDGE_FAILED
                return done(0.0, {}, reason, error=describe(exc, self._secrets))
            final = replace(
                generation, samples=sampled.samples, usage=generation.usage + sampled.usage
            )
            if any(a.finish_reason == DEADLINE for a in sampled.samples):
                return done(0.0, {}, Reason.EDGE_TIMEOUT, final=final)
            more = self._scores(msgs, replace(final, greedy=scorable.greedy), full)
            if more is None:
                return done(0.0, {}, Reason.EMPTY_EDGE_ANSWER, final=final)
            scores = {**scores, **more}
        return done(scores[decider], scores, None, "full", decider, final)

    def _deadlines(self, deadline_s: float | None) -> tuple[float | None, float | None]:
        """(request deadline, edge deadline) as `time.monotonic()` instants (None: none)."""
        now = time.monotonic()
        total = check_seconds(deadline_s, "deadline_s") or self.failure_policy.deadline_s
        request = None if total is None else now + total
        edge_s = self.failure_policy.edge_deadline_s
        edge = request if edge_s is None else min(now + edge_s, request or float("inf"))
        return request, edge

    @property
    def _secrets(self) -> list[str]:
        return [*self.edge.secret_values(), *self.cloud.secret_values()]

    def _edge_call(
        self,
        msgs: list[ChatMessage],
        tools: list[dict[str, Any]],
        tool_choice: str | None,
        max_new_tokens: int | None,
        stop: Sequence[str] | None,
        deadline: float | None,
        keep_edge: bool,
    ) -> BackendCall:
        options = self.edge_options(max_new_tokens, stop, tool_choice)
        update: dict[str, Any] = {"deadline": deadline}
        if keep_edge:  # nothing is decided on samples or a running confidence
            update.update(num_samples=0, early_exit_floor=None)
        return BackendCall(self.edge, msgs, options.model_copy(update=update), tools)

    def _plan(
        self,
        msgs: list[ChatMessage],
        tools: list[dict[str, Any]],
        limit: Decider,
        tool_choice: str | None,
        max_new_tokens: int | None,
        stop: Sequence[str] | None = None,
        edge_only: bool = False,
        deadline_s: float | None = None,
        skip_edge: Reason | None = None,
        keep_edge: bool = False,
    ) -> Generator[BackendCall, Generation, RoutedResponse | EdgeAssessment]:
        """One request as a plan of backend calls. `skip_edge`: go straight to the cloud for
        this reason; `keep_edge`: return the edge's answer unless it cannot be used at all."""
        self._check_call(max_new_tokens, deadline_s)
        started = time.perf_counter()
        deadline, edge_deadline = self._deadlines(deadline_s)
        assessment: EdgeAssessment | None = None
        edge_error: str | None = None
        reason = skip_edge or self._skip_edge(msgs, tools)
        if reason is None:
            try:
                generation = yield self._edge_call(
                    msgs, tools, tool_choice, max_new_tokens, stop, edge_deadline, keep_edge
                )
                assessment = yield from self._assess(
                    msgs,
                    generation,
                    tools,
                    tool_choice,
                    max_new_tokens,
                    stop,
                    started,
                    edge_deadline,
                    keep_edge,
                )
            except PromptTooLongError:
                if edge_only:
                    raise
                reason = Reason.PROMPT_TOO_LONG
            except Exception as exc:  # an edge failure escalates (FailurePolicy)
                if is_request_error(exc):
                    raise
                if edge_only or not self.failure_policy.escalate_edge_errors:
                    secrets = self._secrets
                    error = as_backend_error(exc, "edge", secrets)
                    raise error from safe_cause(exc, secrets)
                timed_out = isinstance(exc, DeadlineExceededError)
                reason = Reason.EDGE_TIMEOUT if timed_out else Reason.EDGE_FAILED
                edge_error = describe(exc, self._secrets)
            else:
                if edge_only:
                    return assessment
                reason = self.outcome(assessment, _KEEP if keep_edge else limit)
                edge_error = assessment.error
        if reason is Reason.CONFIDENT and assessment is not None:
            return self._response(
                answer=assessment.generation,
                route="edge",
                reason=reason,
                threshold=limit,
                started=started,
                assessment=assessment,
            )
        if edge_only:
            raise InvalidInputError(f"the edge cannot answer this request ({reason.value})")
        options = self._cloud_options(max_new_tokens, stop, tool_choice)  # before any slot
        failure: BaseException | None = None
        if deadline is not None and seconds_left(deadline) == 0.0:
            failure = DeadlineExceededError(
                "the request's deadline passed before the cloud was called", tier="cloud"
            )
        elif not self.breaker.allow():
            wait = self.breaker.retry_in()
            failure = CircuitOpenError(
                f"cloud model {self.cloud.model_name!r} failed "
                f"{self.breaker.failures} times in a row; not called for another {wait:.1f} s",
                retry_in_s=wait,
            )
        if failure is None:
            cloud_start = time.perf_counter()
            try:
                answer = yield BackendCall(
                    self.cloud,
                    msgs,
                    options.model_copy(update={"deadline": deadline}),
                    tools,
                    tier="cloud",
                )
            except GeneratorExit:
                self.breaker.release()
                raise
            except Exception as exc:  # the failure policy decides (FailurePolicy)
                if counts_against_cloud(exc) and not is_request_error(exc):
                    self.breaker.record_failure()
                else:
                    self.breaker.release()
                if is_request_error(exc):
                    raise
                failure = exc
            else:
                self.breaker.record_success()
                response = self._response(
                    answer=answer,
                    route="cloud",
                    reason=reason,
                    threshold=limit,
                    started=started,
                    assessment=assessment,
                    cloud_s=time.perf_counter() - cloud_start,
                )
                return response.model_copy(update={"error": edge_error}) if edge_error else response
        if assessment is None and reason is Reason.PREDICTED_CLOUD:
            # predicted to need the cloud, which failed: the edge's answer is the fallback
            assessment = yield from self._fallback_assessment(
                msgs, tools, tool_choice, max_new_tokens, stop, deadline, started
            )
        assert failure is not None
        return self._cloud_failed(failure, assessment, reason, limit, started, edge_error)

    def _fallback_assessment(
        self,
        msgs: list[ChatMessage],
        tools: list[dict[str, Any]],
        tool_choice: str | None,
        max_new_tokens: int | None,
        stop: Sequence[str] | None,
        deadline: float | None,
        started: float,
    ) -> Generator[BackendCall, Generation, EdgeAssessment | None]:
        """The edge's answer for a request the cloud should have answered and could not, or
        None when the edge cannot give a usable one either."""
        if self._skip_edge(msgs, tools) is not None:
            return None
        if deadline is not None and seconds_left(deadline) == 0.0:
            return None
        try:
            generation = yield self._edge_call(
                msgs, tools, tool_choice, max_new_tokens, stop, deadline, keep_edge=True
            )
            assessment = yield from self._assess(
                msgs, generation, tools, tool_choice, max_new_tokens, stop, started, deadline, True
            )
        except Exception as exc:
            if is_request_error(exc):
                raise
            return None
        return assessment if assessment.reason is None else None

    def _cloud_failed(
        self,
        exc: BaseException,
        assessment: EdgeAssessment | None,
        reason: Reason,
        threshold: Decider,
        started: float,
        edge_error: str | None,
    ) -> RoutedResponse:
        """The cloud could not answer: the degraded edge answer (`fallback="edge"`), or the typed
        error carrying it."""
        error = as_backend_error(exc, "cloud", self._secrets)
        degraded: RoutedResponse | None = None
        if assessment is not None and reason in _FALLBACK_REASONS:
            degraded = self._response(
                answer=assessment.generation,
                route="edge",
                reason=reason,
                threshold=threshold,
                started=started,
                assessment=assessment,
            ).model_copy(
                update={
                    "degraded": True,
                    "degraded_reason": degraded_reason(error),
                    "error": describe(error, self._secrets),
                }
            )
        streamed = isinstance(error, StreamInterruptedError)
        if degraded is not None and self.failure_policy.fallback == "edge" and not streamed:
            return degraded
        error.edge_answer = degraded
        if edge_error is not None:
            error.add_note(f"the edge failed first: {edge_error}")
        if error is exc:
            raise error
        raise error from safe_cause(exc, self._secrets)

    # -- drivers: run a plan's backend calls (sync or async), honouring deadlines ---------------

    @staticmethod
    async def _acall(call: BackendCall) -> Generation:
        """Async `_call`."""
        left = seconds_left(call.options.deadline)
        pending = call.backend.agenerate(call.messages, call.options, call.tools)
        if left is None or call.backend.capabilities.deadline:
            return await pending
        try:
            return await asyncio.wait_for(pending, timeout=left)
        except TimeoutError:
            raise DeadlineExceededError(
                f"{call.backend.model_name!r} did not answer before the deadline",
                tier=call.tier,
            ) from None

    @staticmethod
    def _interrupted(exc: Exception) -> StreamInterruptedError:
        error = StreamInterruptedError(
            f"the cloud stream broke after part of the answer was sent: {type(exc).__name__}"
        )
        error.__cause__ = exc
        return error

    def _run(
        self, plan: Generator[BackendCall, Generation, _T], stream: bool = False
    ) -> Iterator[RouteChunk | _T]:
        """Run a plan's backend calls; with `stream`, cloud text is yielded as it arrives.
        A failed call is thrown into the plan (which escalates or falls back); a cloud stream
        that breaks after sending text is thrown in as `StreamInterruptedError`. The plan's
        result comes last."""
        try:
            call = next(plan)
            while True:
                sent = False
                try:
                    if stream and call.tier == "cloud":
                        result: Generation | None = None
                        for piece in call.backend.stream(call.messages, call.options, call.tools):
                            if piece.generation is not None:
                                result = piece.generation
                            elif piece.text:
                                sent = True
                                yield RouteChunk(text=piece.text)
                        if result is None:
                            raise BackendError("the stream ended without its answer", tier="cloud")
                    else:
                        result = self._pool.call(call)
                except Exception as exc:  # the plan decides what a failure means
                    call = plan.throw(self._interrupted(exc) if sent else exc)
                else:
                    call = plan.send(result)
        except StopIteration as done:
            yield cast(_T, done.value)

    async def _arun(
        self, plan: Generator[BackendCall, Generation, _T], stream: bool = False
    ) -> AsyncIterator[RouteChunk | _T]:
        """Async `_run`."""
        try:
            call = next(plan)
            while True:
                sent = False
                try:
                    if stream and call.tier == "cloud":
                        result: Generation | None = None
                        async for piece in call.backend.astream(
                            call.messages, call.options, call.tools
                        ):
                            if piece.generation is not None:
                                result = piece.generation
                            elif piece.text:
                                sent = True
                                yield RouteChunk(text=piece.text)
                        if result is None:
                            raise BackendError("the stream ended without its answer", tier="cloud")
                    else:
                        result = await self._acall(call)
                except Exception as exc:  # the plan decides what a failure means
                    call = plan.throw(self._interrupted(exc) if sent else exc)
                else:
                    call = plan.send(result)
        except StopIteration as done:
            yield cast(_T, done.value)

    def _drive(self, plan: Generator[BackendCall, Generation, _T]) -> _T:
        *_, result = self._run(plan)
        return cast(_T, result)

    async def _adrive(self, plan: Generator[BackendCall, Generation, _T]) -> _T:
        result: Any = None
        async for result in self._arun(plan):  # noqa: B007 - the last item is the result
            pass
        return cast(_T, result)

    # -- public API -----------------------------------------------------------------------------

    def assess(
        self,
        messages: MessagesInput,
        tools: ToolsInput = None,
        *,
        max_new_tokens: int | None = None,
        tool_choice: ToolChoice = None,
        deadline_s: float | None = None,
    ) -> EdgeAssessment:
        """Run the edge and score its answer; no cloud call (calibration, decision-only use)."""
        request = self._prepare(messages, tools, None, tool_choice)
        plan = self._plan(*request, max_new_tokens, edge_only=True, deadline_s=deadline_s)
        return cast(EdgeAssessment, self._drive(plan))

    async def aassess(
        self,
        messages: MessagesInput,
        tools: ToolsInput = None,
        *,
        max_new_tokens: int | None = None,
        tool_choice: ToolChoice = None,
        deadline_s: float | None = None,
    ) -> EdgeAssessment:
        """Async `assess`."""
        request = self._prepare(messages, tools, None, tool_choice)
        plan = self._plan(*request, max_new_tokens, edge_only=True, deadline_s=deadline_s)
        return cast(EdgeAssessment, await self._adrive(plan))

    def route(
        self,
        messages: MessagesInput,
        tools: ToolsInput = None,
        *,
        threshold: float | Decider | None = None,
        max_new_tokens: int | None = None,
        stop: Sequence[str] | None = None,
        tool_choice: ToolChoice = None,
        deadline_s: float | None = None,
    ) -> RoutedResponse:
        """Answer a conversation: at the edge when confident, else in the cloud. `deadline_s`
        overrides the failure policy's deadline for this request."""
        request = self._prepare(messages, tools, threshold, tool_choice)
        plan = self._plan(*request, max_new_tokens, stop, deadline_s=deadline_s)
        return cast(RoutedResponse, self._drive(plan))

    async def aroute(
        self,
        messages: MessagesInput,
        tools: ToolsInput = None,
        *,
        threshold: float | Decider | None = None,
        max_new_tokens: int | None = None,
        stop: Sequence[str] | None = None,
        tool_choice: ToolChoice = None,
        deadline_s: float | None = None,
    ) -> RoutedResponse:
        """Async `route`."""
        request = self._prepare(messages, tools, threshold, tool_choice)
        plan = self._plan(*request, max_new_tokens, stop, deadline_s=deadline_s)
        return cast(RoutedResponse, await self._adrive(plan))

    def batch(
        self, requests: Sequence[MessagesInput], tools: ToolsInput = None, **kwargs: Any
    ) -> list[RoutedResponse]:
        """Route several conversations, in order."""
        return [self.route(r, tools, **kwargs) for r in requests]

    async def abatch(
        self, requests: Sequence[MessagesInput], tools: ToolsInput = None, **kwargs: Any
    ) -> list[RoutedResponse]:
        """Route several conversations concurrently (at most `max_concurrency` at once)."""
        gate = asyncio.Semaphore(self.max_concurrency)

        async def one(request: MessagesInput) -> RoutedResponse:
            async with gate:
                return await self.aroute(request, tools, **kwargs)

        # a TaskGroup: when one request raises, the others are cancelled, not left running
        try:
            async with asyncio.TaskGroup() as group:
                tasks = [group.create_task(one(r)) for r in requests]
        except BaseExceptionGroup as failed:
            raise failed.exceptions[0] from None
        return [task.result() for task in tasks]

    def stream(
        self,
        messages: MessagesInput,
        tools: ToolsInput = None,
        *,
        threshold: float | Decider | None = None,
        max_new_tokens: int | None = None,
        stop: Sequence[str] | None = None,
        tool_choice: ToolChoice = None,
        deadline_s: float | None = None,
    ) -> Iterator[RouteChunk]:
        """Stream the answer: an edge answer once its confidence is known (it is buffered), an
        escalated answer as the cloud produces it. The last chunk carries the `response`."""
        request = self._prepare(messages, tools, threshold, tool_choice)
        plan = self._plan(*request, max_new_tokens, stop, deadline_s=deadline_s)
        for item in self._run(plan, stream=True):
            if isinstance(item, RoutedResponse):
                yield from self._closing_chunks(item)
            else:
                yield cast(RouteChunk, item)

    async def astream(
        self,
        messages: MessagesInput,
        tools: ToolsInput = None,
        *,
        threshold: float | Decider | None = None,
        max_new_tokens: int | None = None,
        stop: Sequence[str] | None = None,
        tool_choice: ToolChoice = None,
        deadline_s: float | None = None,
    ) -> AsyncIterator[RouteChunk]:
        """Async `stream`."""
        request = self._prepare(messages, tools, threshold, tool_choice)
        plan = self._plan(*request, max_new_tokens, stop, deadline_s=deadline_s)
        async for item in self._arun(plan, stream=True):
            if isinstance(item, RoutedResponse):
                for chunk in self._closing_chunks(item):
                    yield chunk
            else:
                yield cast(RouteChunk, item)

    @staticmethod
    def _closing_chunks(response: RoutedResponse) -> Iterator[RouteChunk]:
        if response.route == "edge" and response.text:
            yield RouteChunk(text=response.text)
        yield RouteChunk(response=response)

    def __repr__(self) -> str:
        return (
            f"CascadeRouter(edge={self.edge!r}, cloud={self.cloud!r}, "
            f"estimator={self.estimator!r}, threshold={self.threshold})"
        )
