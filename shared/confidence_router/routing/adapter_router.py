"""The router behind a framework adapter: a prebuilt one (`router=`) or one built from the
adapter's `edge=` / `cloud=` and settings. Shared by the LangChain and LlamaIndex adapters."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from confidence_router.errors import ConfigurationError
from confidence_router.models.base import ChatBackend
from confidence_router.routing.cascade import CascadeRouter

# The adapter fields that mirror a prebuilt router's own settings.
ADOPTED_SETTINGS = ("threshold", "max_new_tokens", "cloud_max_new_tokens")


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
    otherwise a `CascadeRouter` over `to_backend(edge)` and `to_backend(cloud)` with `settings`.
    The adapter copies `ADOPTED_SETTINGS` from a prebuilt router so its fields tell the truth."""
    if router is not None:
        if not isinstance(router, CascadeRouter):
            raise ConfigurationError("router", "expected a CascadeRouter (or a subclass)")
        return router
    if edge is None or cloud is None:
        raise ConfigurationError("edge", "edge and cloud are required unless router= is given")
    return CascadeRouter(to_backend(edge, "edge"), to_backend(cloud, "cloud"), **settings)
