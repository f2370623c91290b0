"""The adapters' shared `router=` / `edge=`+`cloud=` construction (`routing.adapter_router`)."""

from __future__ import annotations

from typing import Any

import pytest

from confidence_router import CascadeRouter
from confidence_router.errors import ConfigurationError
from confidence_router.routing.adapter_router import ADOPTED_SETTINGS, adapter_router

from .helpers import ScriptedBackend


def _backend(model: Any, role: str) -> ScriptedBackend:
    assert isinstance(model, ScriptedBackend), role
    return model


def test_prebuilt_router_is_used_as_is() -> None:
    prebuilt = CascadeRouter(ScriptedBackend([]), ScriptedBackend([]), threshold=0.8)
    out = adapter_router(prebuilt, None, None, _backend, threshold=0.1)
    assert out is prebuilt
    assert out.threshold == 0.8  # the adapter's own settings do not override a prebuilt router
    assert all(hasattr(out, name) for name in ADOPTED_SETTINGS)


def test_router_is_built_from_edge_cloud_and_settings() -> None:
    edge, cloud = ScriptedBackend([], name="e"), ScriptedBackend([], name="c")
    out = adapter_router(None, edge, cloud, _backend, threshold=0.3, max_new_tokens=7)
    assert (out.edge, out.cloud, out.threshold, out.max_new_tokens) == (edge, cloud, 0.3, 7)


def test_not_a_router_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="router"):
        adapter_router(object(), None, None, _backend)


@pytest.mark.parametrize("edge,cloud", [(None, ScriptedBackend([])), (ScriptedBackend([]), None)])
def test_missing_tier_without_router_is_refused(edge: Any, cloud: Any) -> None:
    with pytest.raises(ConfigurationError, match="edge and cloud are required"):
        adapter_router(None, edge, cloud, _backend)
