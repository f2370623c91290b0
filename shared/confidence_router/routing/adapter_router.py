"""What the LangChain and LlamaIndex adapters share: their settings (`RouterSettings`, one
pydantic mixin: fields, defaults, the router they build) and the per-call options they pass on
(`call_options`). The adapters keep only the translation to and from their framework's types."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr

from confidence_router.errors import ConfigurationError
from confidence_router.models.base import ChatBackend
from confidence_router.routing.cascade import CascadeRouter
from confidence_router.routing.decision import Pricing
from confidence_router.routing.failure import FailurePolicy
from confidence_router.routing.sticky import StickyRouting
from confidence_router.routing.tiers import tiered
from confidence_router.uncertainty import Estimator

# The adapter fields that mirror a prebuilt router's own settings.
ADOPTED_SETTINGS = ("threshold", "max_new_tokens", "cloud_max_new_tokens")
# Per-call options both adapters pass to the router (`route(..., **options)`).
CALL_OPTIONS = (
    "tools", "tool_choice", "threshold", "max_new_tokens", "stop", "deadline_s", "conversation_id",
)  # fmt: skip
# Keyword arguments the frameworks pass (bind_tools, agents, structured output) that the router
# does not act on; anything else unknown is an error, not silently dropped.
IGNORED_OPTIONS = frozenset(
    {
        "parallel_tool_calls",
        "ls_structured_output_format",
        "strict",
        "response_format",
        "stream_usage",
        "formatted",
    }
)


class RouterSettings(BaseModel):
    """The settings of an adapter's router (the same names and defaults as `CascadeRouter`'s):
    `edge` and `cloud` (core backends or the framework's models), `estimator`,
    `extra_estimators`, `threshold` (a number, a `DecisionRule` or a `BudgetController`), token
    caps, `prices`, `failure_policy`, `sticky` (`StickyRouting`); or `tiers=[...]` (more than
    two, cheapest first, instead of edge and cloud) with `threshold` one value per tier but the
    last (or one for all); or a prebuilt `router=` (`CascadeRouter`, `PredictiveRouter`,
    `HybridRouter`, `tiered`), whose settings the fields then mirror."""

    model_config = ConfigDict(arbitrary_types_allowed=True, populate_by_name=True)

    edge: Any = Field(default=None, description="edge backend or framework model")
    cloud: Any = Field(default=None, description="cloud backend or framework model")
    estimator: str | Estimator = "max_sequence_probability"
    extra_estimators: list[str | Estimator] = Field(default_factory=list)
    threshold: Any = 0.5
    max_new_tokens: int = 512
    cloud_max_new_tokens: int | None = None
    prices: dict[str, Pricing] | None = None
    failure_policy: FailurePolicy | None = None
    sticky: StickyRouting | None = None
    tiers: list[Any] | None = None
    router_: Any = Field(default=None, alias="router")
    _router: CascadeRouter = PrivateAttr()

    def _build_router(self, to_backend: Callable[[Any, str], ChatBackend]) -> None:
        """Build (or adopt) the router; called by the adapter's `__init__` (not a validator,
        so configuration errors keep their own type)."""
        common: dict[str, Any] = {
            "estimator": self.estimator,
            "extra_estimators": self.extra_estimators,
            "max_new_tokens": self.max_new_tokens,
            "cloud_max_new_tokens": self.cloud_max_new_tokens,
            "prices": self.prices,
            "failure_policy": self.failure_policy,
        }
        if self.tiers is not None and self.router_ is None:
            self._router = _tiered(self.tiers, self.threshold, self.sticky, to_backend, common)
            self.threshold = self._router.threshold
        else:
            self._router = adapter_router(
                self.router_, self.edge, self.cloud, to_backend, threshold=self.threshold,
                sticky=self.sticky, **common,
            )  # fmt: skip
        if self.router_ is not None:
            for name, value in adopted_settings(self._router).items():
                setattr(self, name, value)

    @property
    def router(self) -> CascadeRouter:
        """The core router every call goes through."""
        return self._router


def _tiered(
    tiers: list[Any],
    threshold: Any,
    sticky: StickyRouting | None,
    to_backend: Callable[[Any, str], ChatBackend],
    common: dict[str, Any],
) -> CascadeRouter:
    backends = [to_backend(t, "edge" if i == 0 else "cloud") for i, t in enumerate(tiers)]
    many = isinstance(threshold, list | tuple)
    thresholds = list(threshold) if many else [threshold] * (len(backends) - 1)
    return tiered(backends, thresholds, sticky=sticky, **common)


def call_options(kwargs: Mapping[str, Any], owner: str) -> dict[str, Any]:
    """The router's per-call options out of a framework call's keyword arguments."""
    unknown = set(kwargs) - set(CALL_OPTIONS) - IGNORED_OPTIONS
    if unknown:
        raise ConfigurationError(",".join(sorted(unknown)), f"not a {owner} call option")
    return {name: kwargs.get(name) for name in CALL_OPTIONS}


def adopted_settings(router: CascadeRouter) -> dict[str, Any]:
    """`ADOPTED_SETTINGS` of a prebuilt router: its threshold, or its whole decision rule (or
    budget controller) when that does more than compare with a threshold."""
    settings = {name: getattr(router, name) for name in ADOPTED_SETTINGS}
    if not router.rule.plain:
        settings["threshold"] = router.rule
    return settings


def adapter_router(
    router: object,
    edge: object,
    cloud: object,
    to_backend: Callable[[Any, str], ChatBackend],
    **settings: Any,
) -> CascadeRouter:
    """`router` when given (a `CascadeRouter` or subclass: `PredictiveRouter`, `HybridRouter`);
    otherwise a `CascadeRouter` over `to_backend(edge)` and `to_backend(cloud)` with `settings`."""
    if router is not None:
        if not isinstance(router, CascadeRouter):
            raise ConfigurationError("router", "expected a CascadeRouter (or a subclass)")
        return router
    if edge is None or cloud is None:
        raise ConfigurationError("edge", "edge and cloud are required unless router= is given")
    return CascadeRouter(to_backend(edge, "edge"), to_backend(cloud, "cloud"), **settings)
