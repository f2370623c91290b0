"""Load on the routing server (issue 20): 1,000 requests from 32 concurrent clients over HTTP,
through `confidence-router serve` (a subprocess: plain uvicorn, or `--ray --replicas 2`), with
the project's `FaultProxy` between the server and the cloud. Not run in CI.

Set-up: the cloud is the real local llama.cpp server (Qwen2.5-Coder-0.5B, or `--cloud-base-url`)
behind `FaultProxy` with `MIXED_SCHEDULE` (one cycle of 20 cloud calls: 500s, 429s with
Retry-After, a slow answer past the router's deadline, dropped connections, malformed JSON, the
rest forwarded). The server runs the default edge in-process (Qwen2.5-Coder-0.5B on llama.cpp;
with `--ray`, one per replica on one thread), threshold 0.5, `--request-timeout-s 30`, `--deadline-s
30`, `--fallback edge`, `--max-concurrency 64` (so 32 clients are not refused for load).

Requests: request i asks PROMPTS[i % 8] with max_tokens 16; even i also send `threshold: 1.0`
(always escalated, so half the traffic goes through the faults); i % 4 == 1 streams; i % 20 == 7
(5% of requests) streams, also at threshold 1.0, and its client disconnects after the first
event. Each request has a client deadline of `--deadline-s` (60 s). Eight unfaulted warm-up
requests (edge only) come first and are not counted.

Every counted request ends as exactly one of answered, errors, crashed, lost, or abandoned (the
5% that disconnect on purpose; on stderr only):

- requests: all requests sent (warm-up excluded).
- answered: HTTP 200 with a well-formed completion that has content (a stream: text, then
  `[DONE]`); `degraded` counts the answered ones whose routing metadata (`routing.degraded`) says
  a fallback tier answered because the cloud failed (a subset of answered).
- errors: a clean error in OpenAI's format: a 4xx/5xx whose JSON body has `error.message`, or a
  stream that ends with such an error event.
- crashed: a request that failed once the server process had died, a 4xx/5xx that is not
  OpenAI-format JSON (a traceback, Ray's plain-text 500), or a 200 that is malformed or empty.
- lost: no complete response by the request's deadline while the server lives (timed out, the
  connection broke, or a stream ended without `[DONE]` or an error event).
- p50_s, p95_s: wall seconds from sending to the full response, over answered + errors.
- rps: counted requests / wall seconds of the counted run.
- rss_growth: resident memory of the server's process tree (with `--ray`: the driver, Ray's
  daemons and the replicas) after the run / after the warm-up (Linux /proc).

Usage: python benchmarks/server_load.py [--ray --replicas 2] [--requests 1000] [--clients 32]
Prints diagnostics on stderr, then one line on stdout:
    requests= answered= degraded= errors= crashed= lost= p50_s= p95_s= rps= rss_growth=
Exit status 0 when crashed == lost == 0.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import httpx

PROMPTS = (
    "What is the capital of France?",
    "What is 12 plus 30?",
    "Name one primary colour.",
    "Translate 'thank you' into Spanish.",
    "Is 17 a prime number? Answer yes or no.",
    "Write a Python expression that reverses a string s.",
    "What is the boiling point of water in Celsius?",
    "Give a synonym for 'happy'.",
)
MAX_TOKENS = 16


def tree_rss(root: int) -> int:
    """Resident bytes of `root` and all its descendants (Linux /proc)."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                stat = Path(f"/proc/{entry}/stat").read_text()
                parents[int(entry)] = int(stat.rsplit(")", 1)[1].split()[1])
    tree, grown = {root}, True
    while grown:
        more = {pid for pid, parent in parents.items() if parent in tree} - tree
        tree |= more
        grown = bool(more)
    total = 0
    for pid in tree:
        with contextlib.suppress(OSError, IndexError, ValueError):
            total += int(Path(f"/proc/{pid}/statm").read_text().split()[1])
    return total * os.sysconf("SC_PAGE_SIZE")


def request_body(i: int) -> tuple[dict[str, Any], bool, bool]:
    """Request i's body, whether it streams, whether its client disconnects mid-stream."""
    leaves = i % 20 == 7
    body: dict[str, Any] = {
        "model": "confidence-router",
        "messages": [{"role": "user", "content": PROMPTS[i % len(PROMPTS)]}],
        "max_tokens": MAX_TOKENS,
    }
    if i % 2 == 0 or leaves:
        body["threshold"] = 1.0
    stream = leaves or i % 4 == 1
    if stream:
        body["stream"] = True
    return body, stream, leaves


def _error_kind(text: bytes) -> str:
    """`errors` for an OpenAI-format error body, else `crashed`."""
    try:
        error = json.loads(text).get("error")
    except (ValueError, AttributeError):
        return "crashed"
    return "errors" if isinstance(error, dict) and error.get("message") else "crashed"


async def _plain(client: httpx.AsyncClient, url: str, body: dict[str, Any]) -> str:
    response = await client.post(url, json=body)
    if response.status_code != 200:
        return _error_kind(response.content)
    try:
        answer = response.json()
        message = answer["choices"][0]["message"]
        degraded = bool(answer.get("routing", {}).get("degraded"))
    except (ValueError, KeyError, IndexError, TypeError):
        return "crashed"
    if not (message.get("content") or message.get("tool_calls")):
        return "crashed"
    return "degraded" if degraded else "answered"


async def _streamed(client: httpx.AsyncClient, url: str, body: dict[str, Any], leaves: bool) -> str:
    async with client.stream("POST", url, json=body) as response:
        if response.status_code != 200:
            return _error_kind(await response.aread())
        content = degraded = False
        async for line in response.aiter_lines():
            if not line.startswith("data: "):
                continue
            if leaves:
                return "abandoned"  # leaving the block closes the connection mid-stream
            if line == "data: [DONE]":
                return ("degraded" if degraded else "answered") if content else "crashed"
            try:
                event = json.loads(line[6:])
            except ValueError:
                return "crashed"
            if "error" in event:
                error = event["error"]
                return "errors" if isinstance(error, dict) and error.get("message") else "crashed"
            for choice in event.get("choices", []):
                delta = choice.get("delta", {})
                content = content or bool(delta.get("content") or delta.get("tool_calls"))
            degraded = degraded or bool(event.get("routing", {}).get("degraded"))
    return "lost"  # the stream ended without [DONE] or an error event


async def one(
    client: httpx.AsyncClient, url: str, i: int, deadline_s: float, server: subprocess.Popen[bytes]
) -> tuple[str, float]:
    body, stream, leaves = request_body(i)
    started = time.perf_counter()
    try:
        async with asyncio.timeout(deadline_s):
            ask = _streamed(client, url, body, leaves) if stream else _plain(client, url, body)
            kind = await ask
    except (TimeoutError, httpx.HTTPError):
        kind = "lost" if server.poll() is None else "crashed"
    return kind, time.perf_counter() - started


async def load(
    url: str, requests: int, clients: int, deadline_s: float, server: subprocess.Popen[bytes]
) -> tuple[list[tuple[str, float]], float]:
    """`requests` requests from `clients` concurrent clients: each outcome and the wall time."""
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(requests):
        queue.put_nowait(i)
    results: list[tuple[str, float]] = []
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)

    async def client_loop(client: httpx.AsyncClient) -> None:
        while not queue.empty():
            results.append(await one(client, url, queue.get_nowait(), deadline_s, server))

    started = time.perf_counter()
    async with httpx.AsyncClient(timeout=deadline_s + 5, limits=limits) as client:
        await asyncio.gather(*(client_loop(client) for _ in range(clients)))
    return results, time.perf_counter() - started


async def warm_up(base: str) -> None:
    body = {
        "model": "m",
        "messages": [{"role": "user", "content": PROMPTS[0]}],
        "max_tokens": MAX_TOKENS,
        "threshold": 0.0,
    }
    async with httpx.AsyncClient(timeout=300) as client:
        await asyncio.gather(
            *(client.post(f"{base}/chat/completions", json=body) for _ in range(8))
        )


@contextlib.contextmanager
def routing_server(
    args: argparse.Namespace, cloud_url: str, cloud_model: str, log: Path
) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """`confidence-router serve` in a subprocess; yields it and its /v1 URL once it answers."""
    from confidence_router.server import free_port

    port = free_port()
    command = [
        sys.executable,
        "-m",
        "confidence_router.cli",
        "serve",
        "--port",
        str(port),
        "--cloud-base-url",
        cloud_url,
        "--cloud-model",
        cloud_model,
        "--threshold",
        "0.5",
        "--max-concurrency",
        "64",
        "--request-timeout-s",
        "30",
        "--deadline-s",
        "30",
        "--max-new-tokens",
        str(MAX_TOKENS),
        "--fallback",
        "edge",
    ]
    if args.ray:
        command += ["--ray", "--replicas", str(args.replicas)]
    with log.open("wb") as out:
        server = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}/v1"
    try:
        ready = time.monotonic() + 600
        while True:
            if server.poll() is not None:
                raise SystemExit(f"the server exited ({server.returncode}); log: {log}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{base}/models", timeout=5).status_code == 200:
                    break
            if time.monotonic() > ready:
                raise SystemExit(f"the server did not answer in 600 s; log: {log}")
            time.sleep(1.0)
        yield server, base
    finally:
        if server.poll() is None:
            server.send_signal(signal.SIGINT)  # uvicorn and the Ray path both stop on Ctrl-C
            try:
                server.wait(60)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait(10)


@contextlib.contextmanager
def cloud(args: argparse.Namespace) -> Iterator[tuple[str, str]]:
    """The cloud's URL and model: `--cloud-base-url`, else the local llama.cpp server."""
    if args.cloud_base_url:
        yield args.cloud_base_url, args.cloud_model
        return
    from confidence_router.server import LlamaCppServer

    with LlamaCppServer(args.cloud_model, n_ctx=8192) as server:
        yield server.base_url, server.model_alias


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--deadline-s", type=float, default=60.0, help="each request's limit")
    parser.add_argument("--ray", action="store_true", help="serve on Ray Serve (the [ray] extra)")
    parser.add_argument("--replicas", type=int, default=2, help="with --ray")
    parser.add_argument("--cloud-base-url", help="an OpenAI-compatible cloud (default: local)")
    parser.add_argument("--cloud-model", default="qwen2.5-coder-0.5b-instruct")
    args = parser.parse_args()

    from confidence_router.testing import MIXED_SCHEDULE, FaultProxy

    log = Path(tempfile.mkdtemp(prefix="server_load_")) / "server.log"
    with (
        cloud(args) as (cloud_url, cloud_model),
        FaultProxy(cloud_url, MIXED_SCHEDULE, slow_s=45.0) as proxy,
        routing_server(args, proxy.base_url, cloud_model, log) as (server, base),
    ):
        asyncio.run(warm_up(base))
        rss_warm = tree_rss(server.pid)
        results, wall = asyncio.run(
            load(f"{base}/chat/completions", args.requests, args.clients, args.deadline_s, server)
        )
        rss_after = tree_rss(server.pid)
        if server.poll() is not None:
            print(f"the server died ({server.returncode})", file=sys.stderr)
    kinds = Counter(kind for kind, _ in results)
    times = [s for kind, s in results if kind in ("answered", "degraded", "errors")]
    print(f"faults served: {dict(proxy.counts)}", file=sys.stderr)
    print(f"outcomes: {dict(kinds)} (abandoned on purpose: {kinds['abandoned']})", file=sys.stderr)
    mode = f"ray, {args.replicas} replicas" if args.ray else "plain"
    print(f"server log: {log}; mode: {mode}", file=sys.stderr)
    answered = kinds["answered"] + kinds["degraded"]
    print(
        f"requests={len(results)} answered={answered} degraded={kinds['degraded']} "
        f"errors={kinds['errors']} crashed={kinds['crashed']} lost={kinds['lost']} "
        f"p50_s={percentile(times, 0.5):.2f} p95_s={percentile(times, 0.95):.2f} "
        f"rps={len(results) / wall:.2f} rss_growth={rss_after / max(rss_warm, 1):.3f}"
    )
    return 0 if kinds["crashed"] == kinds["lost"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
