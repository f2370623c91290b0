"""`confidence-router serve`: the routing server from flags or a JSON config file.

With no flags it serves the embedded defaults on 127.0.0.1: the default edge in-process and the
bundled Qwen2.5-Coder-1.5B behind the local llama.cpp server (started and stopped with it).
A config file (`--config serve.json`) holds the same settings by their flag names
(`{"cloud_base_url": ..., "threshold": 0.4, ...}`); flags given on the command line win.
`--middle-models a,b` puts in-process tiers between the edge and the cloud (`tiered`), each with
its threshold from `--middle-thresholds 0.6,0.5`; `--sticky-ttl-s 1800` keeps a conversation on
the tier it escalated to (`StickyRouting`; a request's `conversation_id` body field names it).
`--controlled-cloud-share 0.3` puts a `BudgetController` in front (starting from the threshold,
rule or calibration given) that holds that cloud share under drift; `/metrics` shows its live
threshold.
`--ray --replicas 2` serves the same app as Ray Serve replicas, each with its own edge, over one
shared cloud (`serve/ray_app.py`, the `[ray]` extra).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from confidence_router.errors import ConfigurationError

DEFAULTS: dict[str, Any] = {
    "host": "127.0.0.1",
    "port": 8000,
    "allow_remote": False,
    "edge_model": None,
    "edge_runtime": "auto",
    "cloud_base_url": None,
    "cloud_model": None,
    "cloud_key_env": "CONFIDENCE_ROUTER_CLOUD_API_KEY",
    "estimator": "max_sequence_probability",
    "threshold": None,
    "rule": None,
    "target_cloud_share": None,
    "calibration_prompts": None,
    "controlled_cloud_share": None,
    "middle_models": None,
    "middle_thresholds": None,
    "sticky_ttl_s": None,
    "fallback": "edge",
    "deadline_s": None,
    "client_keys_env": "CONFIDENCE_ROUTER_CLIENT_KEYS",
    "max_concurrency": 16,
    "max_body_bytes": 1_000_000,
    "request_timeout_s": 300.0,
    "max_new_tokens": 512,
    "edge_threads": 0,  # 0: the runtime's default (all cores; under Ray one per reserved CPU)
    # Ray Serve (`--ray`, serve/ray_app.py): replicas, resources per replica, the cluster
    "ray": False,
    "replicas": 1,
    "ray_num_cpus": 0.5,
    "ray_num_gpus": 0.0,
    "ray_address": None,
    "autoscaling_config": None,  # a JSON object (Ray Serve's), instead of a fixed `replicas`
}
# Settings without a default that are numbers when given
FLOATS = ("threshold", "target_cloud_share", "controlled_cloud_share", "sticky_ttl_s", "deadline_s")


def add_command(sub: Any) -> None:
    serve = sub.add_parser("serve", help="an OpenAI-compatible routing server")
    serve.add_argument("--config", type=Path, help="a JSON file with these settings")
    for name, default in DEFAULTS.items():
        flag = "--" + name.replace("_", "-")
        if isinstance(default, bool):
            serve.add_argument(flag, action="store_true", default=None)
        else:
            kind = type(default) if default is not None and not isinstance(default, str) else str
            serve.add_argument(flag, type=float if name in FLOATS else kind, default=None)


def settings_of(args: argparse.Namespace) -> dict[str, Any]:
    """Defaults, then the config file, then the flags given."""
    merged = dict(DEFAULTS)
    if args.config is not None:
        try:
            loaded = json.loads(args.config.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise ConfigurationError("config", f"{args.config}: {exc}") from exc
        unknown = set(loaded) - set(DEFAULTS)
        if unknown:
            raise ConfigurationError("config", f"unknown settings: {', '.join(sorted(unknown))}")
        merged.update(loaded)
    merged.update({k: v for k, v in vars(args).items() if k in DEFAULTS and v is not None})
    return merged


def cloud_from_url(config: dict[str, Any]) -> Any:
    """The cloud client at `cloud_base_url`; its key from the variable `cloud_key_env` names (read
    here, so a config dict never holds it)."""
    from confidence_router.models.openai import OpenAIChatModel

    key = os.environ.get(config["cloud_key_env"] or "") or None
    model = config["cloud_model"] or "gpt-4o-mini"
    options = config.get("cloud_options") or {}
    return OpenAIChatModel(model, base_url=config["cloud_base_url"], api_key=key, **options)


@contextlib.contextmanager
def shared_cloud(config: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """`config` with a cloud URL: the one given, else the bundled cloud on the local llama.cpp
    server (started here, stopped on exit)."""
    if config["cloud_base_url"]:
        yield config
        return
    from confidence_router.models.bundled import DEFAULT_CLOUD
    from confidence_router.server import LlamaCppServer

    with LlamaCppServer(config["cloud_model"] or DEFAULT_CLOUD) as server:
        print(f"local cloud server at {server.base_url}", file=sys.stderr)
        options = {"timeout": 300, "context_window": server.n_ctx}
        yield {**config, "cloud_base_url": server.base_url, "cloud_model": server.model_alias,
               "cloud_key_env": None, "cloud_options": options}  # fmt: skip


def _decider(config: dict[str, Any], router: Any) -> Any:
    """The threshold, rule or (with `controlled_cloud_share`) the `BudgetController` that
    starts from it and holds that share online."""
    from confidence_router.routing.budget_controller import BudgetController

    start = _start(config, router)
    share = config["controlled_cloud_share"]
    if share is None:
        return start
    begin = start if isinstance(start, float) else float(start.threshold)
    return BudgetController(float(share), initial_threshold=begin)


def _start(config: dict[str, Any], router: Any) -> Any:
    from confidence_router.cli import load_prompts, load_rule
    from confidence_router.routing.calibration import calibrate_threshold

    if config["rule"]:
        return load_rule(Path(config["rule"]))
    if config["target_cloud_share"] is not None:
        if not config["calibration_prompts"]:
            raise ConfigurationError("calibration_prompts", "needed with target_cloud_share")
        prompts = load_prompts(Path(config["calibration_prompts"]))
        share = float(config["target_cloud_share"])
        print(f"calibrating on {len(prompts)} prompts for a {share:.0%} share", file=sys.stderr)
        return calibrate_threshold(router, prompts, share).rule
    return 0.5 if config["threshold"] is None else float(config["threshold"])


def _floats(text: str | None) -> list[float]:
    return [float(x) for x in (text or "").split(",") if x.strip()]


def build_router(
    config: dict[str, Any], edge: Any, cloud: Any, middles: list[Any], policy: Any
) -> Any:
    """The served router: edge, the middle tiers, cloud; the first tier's threshold from
    `_decider` (calibrated on the first two tiers), the others from `middle_thresholds`."""
    from confidence_router.routing.cascade import CascadeRouter
    from confidence_router.routing.sticky import StickyRouting
    from confidence_router.routing.tiers import tiered

    common = {"estimator": config["estimator"], "failure_policy": policy,
              "max_new_tokens": config["max_new_tokens"]}  # fmt: skip
    ttl = config["sticky_ttl_s"]
    sticky = None if ttl is None else StickyRouting(ttl_s=float(ttl))
    first = CascadeRouter(edge, middles[0] if middles else cloud, **common)
    decider = _decider(config, first)
    if not middles:
        return CascadeRouter(edge, cloud, threshold=decider, sticky=sticky, **common)
    thresholds = _floats(config["middle_thresholds"]) or [0.5] * len(middles)
    if len(thresholds) != len(middles):
        raise ConfigurationError("middle_thresholds", "one per middle model")
    return tiered([edge, *middles, cloud], [decider, *thresholds], sticky=sticky, **common)


def serve_settings(config: dict[str, Any]) -> Any:
    from confidence_router.serve.settings import ServeSettings

    return ServeSettings(
        host=config["host"],
        port=config["port"],
        allow_remote=config["allow_remote"],
        client_keys=ServeSettings.keys_from_env(config["client_keys_env"]),
        max_concurrency=config["max_concurrency"],
        max_body_bytes=config["max_body_bytes"],
        request_timeout_s=config["request_timeout_s"],
    ).checked()


def _edge(name: str | None, runtime: Any, threads: int) -> Any:
    """`load_edge`, on `threads` CPU threads when given (> 0)."""
    from confidence_router.models.default_edge import default_runtime, load_edge

    if threads > 0 and (default_runtime() if runtime == "auto" else runtime) == "llama_cpp":
        from confidence_router.models.bundled import DEFAULT_EDGE
        from confidence_router.models.llama_cpp import LlamaCppModel

        return LlamaCppModel(name or DEFAULT_EDGE, n_threads=threads)
    if threads > 0:
        import torch

        torch.set_num_threads(threads)
    return load_edge(name, runtime)


def serve_app(config: dict[str, Any], cloud: Any) -> tuple[Any, Any]:
    """The app and its router over `cloud`, the edge and middle tiers loaded here (a Ray
    replica calls this too, from the same plain config dict)."""
    from confidence_router.routing.failure import FailurePolicy
    from confidence_router.serve.app import create_app
    from confidence_router.serve.health import cloud_health

    threads = int(config["edge_threads"] or 0)
    edge = _edge(config["edge_model"], config["edge_runtime"], threads)
    names = [m.strip() for m in (config["middle_models"] or "").split(",") if m.strip()]
    middles = [_edge(name, config["edge_runtime"], threads) for name in names]
    policy = FailurePolicy(fallback=config["fallback"], deadline_s=config["deadline_s"])
    router = build_router(config, edge, cloud, middles, policy)
    return create_app(router, serve_settings(config), health=cloud_health(cloud)), router


def run_serve(args: argparse.Namespace) -> None:
    config = settings_of(args)
    if config["ray"]:
        from confidence_router.serve.ray_app import run_ray

        run_ray(config)
        return
    if config["replicas"] != 1 or config["autoscaling_config"] is not None:
        raise ConfigurationError("replicas", "several replicas need --ray (the [ray] extra)")
    import uvicorn

    settings = serve_settings(config)
    with shared_cloud(config) as shared:
        app, router = serve_app(shared, cloud_from_url(shared))
        print(
            f"serving on http://{settings.host}:{settings.port}/v1 (edge {router.edge.model_name}, "
            f"cloud {router.cloud.model_name}, threshold {router.threshold:.4f})",
            file=sys.stderr,
        )
        uvicorn.run(app, host=settings.host, port=settings.port, log_level="warning")
