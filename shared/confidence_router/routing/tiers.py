"""A cascade over more than two tiers: each tier's router uses the next router as its cloud.

`tiered([small, medium, large], thresholds=[0.7, 0.5])` is a `CascadeRouter` over `small`
whose cloud is a `RouterTier` wrapping `CascadeRouter(medium, large)`: each tier but the last
scores its answer with the router's estimator and keeps it or passes the request on, with the
failure policy, breaker, deadline and streaming of a two-tier router at every step. The record's
`route` is "edge" when the first tier answered and "cloud" otherwise; `tier_index`, `tier` and
`tiers` say which tier answered and what each one visited scored, used and took.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any

from confidence_router.errors import ConfigurationError
from confidence_router.generation import Answer, Generation, GenerationOptions, seconds_left
from confidence_router.messages import ChatMessage
from confidence_router.models.base import Capabilities, ChatBackend, StreamChunk
from confidence_router.routing.cascade import CascadeRouter, RouteOptions
from confidence_router.routing.decision import RoutedGeneration, RoutedResponse
from confidence_router.routing.decision_rule import Decider
from confidence_router.routing.steps import RouteChunk
from confidence_router.routing.sticky import StickyRouting


def _generation(response: RoutedResponse) -> RoutedGeneration:
    greedy = Answer(
        text=response.text, tool_calls=response.tool_calls, finish_reason=response.finish_reason
    )
    model = response.tier or response.cloud_model
    return RoutedGeneration(greedy=greedy, usage=response.total_usage, model=model, routed=response)


class RouterTier(ChatBackend):
    """A `CascadeRouter` as a backend: the next tiers of an N-tier cascade."""

    tier = "cloud"

    def __init__(self, router: CascadeRouter) -> None:
        self.router = router
        edge, cloud = router.edge.capabilities, router.cloud.capabilities
        self._capabilities = Capabilities(
            statistics=frozenset(),  # the last tier of its parent: nothing is scored on it
            tools=edge.tools or cloud.tools,
            multimodal=edge.multimodal or cloud.multimodal,
            structured_output=True,  # the inner router instructs and checks
            deadline=True,
        )

    @property
    def capabilities(self) -> Capabilities:
        return self._capabilities

    @property
    def model_name(self) -> str:
        return f"{self.router.edge.model_name}>{self.router.cloud.model_name}"

    @staticmethod
    def _options(options: GenerationOptions | None, tools: Any) -> dict[str, Any]:
        opts = options or GenerationOptions()
        left = seconds_left(opts.deadline)
        route: RouteOptions = {
            "max_new_tokens": opts.max_new_tokens,
            "stop": opts.stop or None,
            "tool_choice": opts.tool_choice,
            "response_format": opts.response_format,
            "deadline_s": None if left is None else max(left, 1e-3),
            "conversation_id": opts.conversation_id,
        }
        return {"tools": tools, **route}

    def generate(
        self,
        messages: Sequence[ChatMessage],
        options: GenerationOptions | None = None,
        tools: Sequence[dict[str, Any]] | None = None,
    ) -> Generation:
        return _generation(self.router.route(list(messages), **self._options(options, tools)))

    async def agenerate(
        self,
        messages: Sequence[ChatMessage],
        options: GenerationOptions | None = None,
        tools: Sequence[dict[str, Any]] | None = None,
    ) -> Generation:
        response = await self.router.aroute(list(messages), **self._options(options, tools))
        return _generation(response)

    def stream(
        self,
        messages: Sequence[ChatMessage],
        options: GenerationOptions | None = None,
        tools: Sequence[dict[str, Any]] | None = None,
    ) -> Iterator[StreamChunk]:
        for chunk in self.router.stream(list(messages), **self._options(options, tools)):
            yield _piece(chunk)

    async def astream(
        self,
        messages: Sequence[ChatMessage],
        options: GenerationOptions | None = None,
        tools: Sequence[dict[str, Any]] | None = None,
    ) -> AsyncIterator[StreamChunk]:
        async for chunk in self.router.astream(list(messages), **self._options(options, tools)):
            yield _piece(chunk)

    def secret_values(self) -> list[str]:
        return [*self.router.edge.secret_values(), *self.router.cloud.secret_values()]

    def close(self) -> None:
        self.router.close()

    def __repr__(self) -> str:
        return f"RouterTier({self.router!r})"


def _piece(chunk: RouteChunk) -> StreamChunk:
    if chunk.response is not None:
        return StreamChunk(generation=_generation(chunk.response))
    return StreamChunk(text=chunk.text)


def tiered(
    tiers: Sequence[ChatBackend],
    thresholds: Sequence[float | Decider],
    *,
    sticky: StickyRouting | None = None,
    **settings: Any,
) -> CascadeRouter:
    """An N-tier cascade: `tiers` from cheapest to strongest, one threshold (or rule, or
    controller) per tier but the last. `settings` go to every tier's `CascadeRouter`
    (estimator, token caps, failure policy, ...); each tier but the last must supply what the
    estimator needs (`CapabilityError` otherwise). `sticky`: each tier keeps its own table."""
    if len(tiers) < 2:
        raise ConfigurationError("tiers", f"need at least two tiers, got {len(tiers)}")
    if len(thresholds) != len(tiers) - 1:
        raise ConfigurationError(
            "thresholds", f"need one per tier but the last: {len(tiers) - 1}, got {len(thresholds)}"
        )
    next_tier: ChatBackend = tiers[-1]
    router: CascadeRouter | None = None
    for backend, threshold in zip(reversed(tiers[:-1]), reversed(thresholds), strict=True):
        table = None if sticky is None else sticky.fresh()
        router = CascadeRouter(backend, next_tier, threshold=threshold, sticky=table, **settings)
        next_tier = RouterTier(router)
    assert router is not None
    return router


def tier_routers(router: CascadeRouter) -> list[CascadeRouter]:
    """The router of each tier but the last, from the first (a two-tier router: itself)."""
    chain = [router]
    while isinstance(chain[-1].cloud, RouterTier):
        chain.append(chain[-1].cloud.router)
    return chain


def tier_models(router: CascadeRouter) -> list[str]:
    """Each tier's model name, from the first."""
    chain = tier_routers(router)
    return [r.edge.model_name for r in chain] + [chain[-1].cloud.model_name]
