"""Soak: routed requests through one router into a mixed fault schedule (issue 7).

Every request escalates (threshold 1.0) to the real local cloud server (llama.cpp, Qwen2.5-Coder
0.5B) behind `FaultProxy` (500s, 429s with Retry-After, slow answers past the timeout, dropped
connections, malformed JSON), 16 at once, generations capped at 16 tokens; half the requests
fall back to the edge answer, half raise. It must end with 0 crashed, 0 hung, 0 lost, and prints

    requests=<n> cloud=<n> degraded=<n> errors=<n> crashed=<n> lost=<n> ...

Usage: python benchmarks/soak.py [--requests 300] [--concurrency 16]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from confidence_router.models.transformers import TransformersModel
from confidence_router.server import LlamaCppServer
from confidence_router.testing import MIXED_SCHEDULE, FaultProxy, run_soak, soak_routers


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--cloud-model", default="qwen2.5-coder-0.5b-instruct")
    args = parser.parse_args()
    started = time.perf_counter()
    edge = TransformersModel()
    with (
        LlamaCppServer(args.cloud_model, n_ctx=8192) as server,
        FaultProxy(server.base_url, MIXED_SCHEDULE, slow_s=10.0) as proxy,
    ):
        routers = soak_routers(edge, proxy.base_url, server.model_alias, server.n_ctx)
        result = asyncio.run(run_soak(routers, args.requests, concurrency=args.concurrency))
    print(f"faults served: {dict(proxy.counts)}")
    print(f"typed errors: {result.error_types}")
    if result.crash_types:
        print(f"crashes: {result.crash_types}")
    print(f"total wall time incl. model and server start: {time.perf_counter() - started:.1f} s")
    print(result.line())
    ok = result.crashed == result.hung == result.lost == result.mismatched == 0
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
