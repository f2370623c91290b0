"""Soak: 100 routed requests, 16 at once, every one escalated into a mixed fault schedule in
front of the real local cloud server. Nothing may crash, hang or be lost (issue 7)."""

from __future__ import annotations

import asyncio

import pytest

from confidence_router.models.llama_cpp import LlamaCppModel
from confidence_router.server import LlamaCppServer
from confidence_router.testing import MIXED_SCHEDULE, FaultProxy, run_soak, soak_routers

pytestmark = pytest.mark.integration


def test_soak_100_requests_mixed_faults(edge: LlamaCppModel, cloud_server: LlamaCppServer) -> None:
    with FaultProxy(cloud_server.base_url, MIXED_SCHEDULE, slow_s=10.0) as proxy:
        routers = soak_routers(edge, proxy.base_url, cloud_server.model_alias, cloud_server.n_ctx)
        result = asyncio.run(run_soak(routers, 100, concurrency=16, hang_s=180.0))
    print(result.line(), dict(proxy.counts), result.error_types)
    assert result.crashed == 0, result.crash_types
    assert result.hung == 0 and result.lost == 0 and result.mismatched == 0
    assert result.cloud + result.degraded + result.errors == 100
    assert result.cloud > 0  # the real server answered through the faults
    assert result.degraded + result.errors > 0  # and the faults were felt
    assert all(count > 0 for count in proxy.counts.values()) and len(proxy.counts) == 6
