"""`CascadeRouter`: the edge answers first; low confidence escalates to the cloud."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Generator, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, TypeVar, cast

from confidence_router.errors import (
    CapabilityError,
    ConfigurationError,
    InvalidInputError,
    PromptTooLongError,
)
from confidence_router.generation import Generation, GenerationOptions, Usage
from confidence_router.messages import (
    ChatMessage,
    MessagesInput,
    normalize_messages,
    normalize_tools,
)
from confidence_router.models.base import ChatBackend
from confidence_router.models.tool_choice import ToolChoice, normalize_tool_choice
from confidence_router.routing.decision import Latency, Pricing, Reason, RoutedResponse
from confidence_router.routing.tool_validation import tool_call_problem
from confidence_router.uncertainty import Estimator, MaxSequenceProbability, get_estimator
from confidence_router.uncertainty.statistics import RequestStatistics, Statistic

ToolsInput = Sequence[Mapping[str, Any]] | None
_T = TypeVar("_T")


def check_threshold(value: float, field: str = "threshold") -> float:
    """A threshold must be a number in [0, 1]."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
        raise ConfigurationError(field, f"must be a number in [0, 1], got {value!r}")
    return float(value)


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


@dataclass(frozen=True)
class EdgeAssessment:
    """The edge's answer and how confident it is, before any cloud call."""

    messages: list[ChatMessage]
    generation: Generation
    confidence: float
    scores: dict[str, float]
    latency_s: float
    reason: Reason | None = None  # set when the answer could not be scored


class CascadeRouter:
    """Edge first; escalate iff the deciding estimator's confidence < `threshold`.

    `estimator` decides; `extra_estimators` are scored and recorded without deciding. Threshold 0
    never escalates; threshold 1 escalates every answer whose confidence is below 1. A request
    with tools goes straight to the cloud when the edge cannot call tools (`edge_no_tools`), and
    so does a prompt longer than the edge's context window (`prompt_too_long`).
    """

    def __init__(
        self,
        edge: ChatBackend,
        cloud: ChatBackend,
        *,
        estimator: Estimator | str | None = None,
        threshold: float = 0.5,
        extra_estimators: Sequence[Estimator | str] = (),
        max_new_tokens: int = 512,
        cloud_max_new_tokens: int | None = None,
        temperature: float = 1.0,
        prices: Mapping[str, Pricing] | None = None,
        max_concurrency: int = 8,
    ) -> None:
        self.edge = edge
        self.cloud = cloud
        self.estimator = self._estimator(estimator or MaxSequenceProbability())
        self.extra_estimators = [self._estimator(e) for e in extra_estimators]
        self.threshold = check_threshold(threshold)
        if max_new_tokens < 1:
            raise ConfigurationError("max_new_tokens", f"must be >= 1, got {max_new_tokens}")
        if max_concurrency < 1:
            raise ConfigurationError("max_concurrency", f"must be >= 1, got {max_concurrency}")
        self.max_new_tokens = max_new_tokens
        self.cloud_max_new_tokens = cloud_max_new_tokens or max_new_tokens
        self.temperature = temperature
        self.prices = {"edge": Pricing(), "cloud": Pricing(), **dict(prices or {})}
        self.max_concurrency = max_concurrency
        missing = edge.capabilities.missing(self.required_statistics)
        if missing:
            names = ", ".join(sorted(s.value for s in missing))
            raise CapabilityError(
                f"the edge model {edge.model_name!r} cannot supply {names}, which the configured "
                f"estimators need (e.g. enable log-probs on an OpenAI-compatible edge)"
            )

    @staticmethod
    def _estimator(value: Estimator | str) -> Estimator:
        if isinstance(value, str):
            return get_estimator(value)
        if not isinstance(value, Estimator):
            raise ConfigurationError("estimator", f"expected an Estimator, got {value!r}")
        return value

    @property
    def estimators(self) -> list[Estimator]:
        return [self.estimator, *self.extra_estimators]

    @property
    def required_statistics(self) -> frozenset[Statistic]:
        needed: frozenset[Statistic] = frozenset()
        for est in self.estimators:
            needed |= est.requires
        return needed

    def edge_options(
        self,
        max_new_tokens: int | None = None,
        stop: Sequence[str] | None = None,
        tool_choice: str | None = None,
    ) -> GenerationOptions:
        """What the edge must generate so that every estimator can be scored."""
        needed = self.required_statistics
        return GenerationOptions(
            max_new_tokens=max_new_tokens or self.max_new_tokens,
            logprobs=bool({Statistic.GREEDY_LOGPROBS, Statistic.SAMPLE_LOGPROBS} & needed),
            entropy=Statistic.GREEDY_ENTROPY in needed,
            num_samples=max((e.num_samples for e in self.estimators), default=0),
            temperature=self.temperature,
            stop=tuple(stop or ()),
            tool_choice=tool_choice,
        )

    def with_threshold(self, threshold: float) -> CascadeRouter:
        """A copy sharing the same models, with another threshold."""
        clone = object.__new__(CascadeRouter)
        clone.__dict__.update(self.__dict__)
        clone.threshold = check_threshold(threshold)
        return clone

    # -- the decision -------------------------------------------------------------------------

    def _score(
        self,
        messages: list[ChatMessage],
        generation: Generation,
        tools: list[dict[str, Any]],
        tool_choice: str | None = None,
    ) -> tuple[float, dict[str, float], Reason | None]:
        """Confidence of the edge answer. A tool call is scored on the tokens of its tool name
        and argument values only, and must fit the tool's schema (and `tool_choice`)."""
        greedy = generation.greedy
        if tool_choice is not None and not greedy.tool_calls:
            return 0.0, {}, Reason.NO_TOOL_CALL
        if greedy.num_tokens == 0 and not greedy.tool_calls:
            return 0.0, {}, Reason.EMPTY_EDGE_ANSWER
        if greedy.tool_calls:
            if any(tool_call_problem(call, tools) for call in greedy.tool_calls):
                return 0.0, {}, Reason.INVALID_TOOL_CALL
            generation = replace(generation, greedy=greedy.focused())
        stats = RequestStatistics(messages, generation)
        try:
            scores = {e.name: e.confidence(stats) for e in self.estimators}
        except InvalidInputError:
            return 0.0, {}, Reason.EMPTY_EDGE_ANSWER
        return scores[self.estimator.name], scores, None

    def _prepare(
        self,
        messages: MessagesInput,
        tools: ToolsInput,
        threshold: float | None,
        tool_choice: ToolChoice = None,
    ) -> tuple[list[ChatMessage], list[dict[str, Any]], float, str | None]:
        msgs = normalize_messages(messages)
        tool_defs, required = normalize_tool_choice(tool_choice, normalize_tools(tools))
        limit = self.threshold if threshold is None else check_threshold(threshold)
        return msgs, tool_defs, limit, required

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
        threshold: float,
        started: float,
        assessment: EdgeAssessment | None,
        cloud_s: float = 0.0,
    ) -> RoutedResponse:
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
            confidence=assessment.confidence if assessment and assessment.reason is None else None,
            scores=assessment.scores if assessment else {},
            estimator=self.estimator.name,
            threshold=threshold,
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
        if tools and not self.edge.capabilities.tools:
            return Reason.EDGE_NO_TOOLS
        return None

    def outcome(self, assessment: EdgeAssessment, threshold: float | None = None) -> Reason:
        """The routing rule: why this assessment stays at the edge or escalates."""
        threshold = self.threshold if threshold is None else check_threshold(threshold)
        if assessment.reason is not None:
            return assessment.reason
        return Reason.LOW_CONFIDENCE if assessment.confidence < threshold else Reason.CONFIDENT

    # -- one request as a plan: it yields backend calls, a sync or async driver runs them --------

    def _plan(
        self,
        msgs: list[ChatMessage],
        tools: list[dict[str, Any]],
        limit: float,
        tool_choice: str | None,
        max_new_tokens: int | None,
        stop: Sequence[str] | None = None,
        edge_only: bool = False,
    ) -> Generator[BackendCall, Generation, RoutedResponse | EdgeAssessment]:
        started = time.perf_counter()
        assessment: EdgeAssessment | None = None
        reason = self._skip_edge(msgs, tools)
        if reason is None:
            try:
                generation = yield BackendCall(
                    self.edge, msgs, self.edge_options(max_new_tokens, stop, tool_choice), tools
                )
            except PromptTooLongError:
                reason = Reason.PROMPT_TOO_LONG
            else:
                elapsed = time.perf_counter() - started
                confidence, scores, failed = self._score(msgs, generation, tools, tool_choice)
                assessment = EdgeAssessment(msgs, generation, confidence, scores, elapsed, failed)
                if edge_only:
                    return assessment
                reason = self.outcome(assessment, limit)
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
        cloud_start = time.perf_counter()
        answer = yield BackendCall(
            self.cloud, msgs, self._cloud_options(max_new_tokens, stop, tool_choice), tools
        )
        return self._response(
            answer=answer,
            route="cloud",
            reason=reason,
            threshold=limit,
            started=started,
            assessment=assessment,
            cloud_s=time.perf_counter() - cloud_start,
        )

    def _run(
        self, plan: Generator[BackendCall, Generation, _T], stream: bool = False
    ) -> Iterator[RouteChunk | _T]:
        """Run a plan's backend calls; with `stream`, cloud text is yielded as it arrives.
        The plan's result comes last."""
        try:
            call = next(plan)
            while True:
                try:
                    if stream and call.backend is self.cloud:
                        result: Generation | None = None
                        for piece in call.backend.stream(call.messages, call.options, call.tools):
                            if piece.generation is not None:
                                result = piece.generation
                            elif piece.text:
                                yield RouteChunk(text=piece.text)
                        assert result is not None
                    else:
                        result = call.backend.generate(call.messages, call.options, call.tools)
                except PromptTooLongError as exc:
                    call = plan.throw(exc)
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
                try:
                    if stream and call.backend is self.cloud:
                        result: Generation | None = None
                        async for piece in call.backend.astream(
                            call.messages, call.options, call.tools
                        ):
                            if piece.generation is not None:
                                result = piece.generation
                            elif piece.text:
                                yield RouteChunk(text=piece.text)
                        assert result is not None
                    else:
                        result = await call.backend.agenerate(
                            call.messages, call.options, call.tools
                        )
                except PromptTooLongError as exc:
                    call = plan.throw(exc)
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
    ) -> EdgeAssessment:
        """Run the edge and score its answer; no cloud call (calibration, decision-only use)."""
        request = self._prepare(messages, tools, None, tool_choice)
        plan = self._plan(*request, max_new_tokens, edge_only=True)
        return cast(EdgeAssessment, self._drive(plan))

    async def aassess(
        self,
        messages: MessagesInput,
        tools: ToolsInput = None,
        *,
        max_new_tokens: int | None = None,
        tool_choice: ToolChoice = None,
    ) -> EdgeAssessment:
        """Async `assess`."""
        request = self._prepare(messages, tools, None, tool_choice)
        plan = self._plan(*request, max_new_tokens, edge_only=True)
        return cast(EdgeAssessment, await self._adrive(plan))

    def route(
        self,
        messages: MessagesInput,
        tools: ToolsInput = None,
        *,
        threshold: float | None = None,
        max_new_tokens: int | None = None,
        stop: Sequence[str] | None = None,
        tool_choice: ToolChoice = None,
    ) -> RoutedResponse:
        """Answer a conversation: at the edge when confident, else in the cloud."""
        request = self._prepare(messages, tools, threshold, tool_choice)
        plan = self._plan(*request, max_new_tokens, stop)
        return cast(RoutedResponse, self._drive(plan))

    async def aroute(
        self,
        messages: MessagesInput,
        tools: ToolsInput = None,
        *,
        threshold: float | None = None,
        max_new_tokens: int | None = None,
        stop: Sequence[str] | None = None,
        tool_choice: ToolChoice = None,
    ) -> RoutedResponse:
        """Async `route`."""
        request = self._prepare(messages, tools, threshold, tool_choice)
        plan = self._plan(*request, max_new_tokens, stop)
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

        return list(await asyncio.gather(*(one(r) for r in requests)))

    def stream(
        self,
        messages: MessagesInput,
        tools: ToolsInput = None,
        *,
        threshold: float | None = None,
        max_new_tokens: int | None = None,
        stop: Sequence[str] | None = None,
        tool_choice: ToolChoice = None,
    ) -> Iterator[RouteChunk]:
        """Stream the answer: an edge answer once its confidence is known (it is buffered), an
        escalated answer as the cloud produces it. The last chunk carries the `response`."""
        request = self._prepare(messages, tools, threshold, tool_choice)
        plan = self._plan(*request, max_new_tokens, stop)
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
        threshold: float | None = None,
        max_new_tokens: int | None = None,
        stop: Sequence[str] | None = None,
        tool_choice: ToolChoice = None,
    ) -> AsyncIterator[RouteChunk]:
        """Async `stream`."""
        request = self._prepare(messages, tools, threshold, tool_choice)
        plan = self._plan(*request, max_new_tokens, stop)
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
