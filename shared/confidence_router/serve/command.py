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
}


def add_command(sub: Any) -> None:
    serve = sub.add_parser("serve", help="an OpenAI-compatible routing server")
    serve.add_argument("--config", type=Path, help="a JSON file with these settings")
    for name, default in DEFAULTS.items():
        flag = "--" + name.replace("_", "-")
        if isinstance(default, bool):
            serve.add_argument(flag, action="store_true", default=None)
        else:
            kind = type(default) if default is not None and not isinstance(default, str) else str
            serve.add_argument(flag, type=kind, default=None)


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


@contextlib.contextmanager
def _cloud(config: dict[str, Any]) -> Iterator[Any]:
    from confidence_router.models.bundled import DEFAULT_CLOUD
    from confidence_router.models.openai import OpenAIChatModel

    if config["cloud_base_url"]:
        key = os.environ.get(config["cloud_key_env"] or "") or None
        yield OpenAIChatModel(
            config["cloud_model"] or "gpt-4o-mini", base_url=config["cloud_base_url"], api_key=key
        )
        return
    from confidence_router.server import LlamaCppServer

    with LlamaCppServer(config["cloud_model"] or DEFAULT_CLOUD) as server:
        print(f"local cloud server at {server.base_url}", file=sys.stderr)
        yield OpenAIChatModel(
            server.model_alias, base_url=server.base_url, timeout=300, context_window=server.n_ctx
        )


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


def run_serve(args: argparse.Namespace) -> None:
    import uvicorn

    from confidence_router.models.default_edge import load_edge
    from confidence_router.routing.failure import FailurePolicy
    from confidence_router.serve.app import create_app
    from confidence_router.serve.health import cloud_health
    from confidence_router.serve.settings import ServeSettings

    config = settings_of(args)
    settings = ServeSettings(
        host=config["host"],
        port=config["port"],
        allow_remote=config["allow_remote"],
        client_keys=ServeSettings.keys_from_env(config["client_keys_env"]),
        max_concurrency=config["max_concurrency"],
        max_body_bytes=config["max_body_bytes"],
        request_timeout_s=config["request_timeout_s"],
    ).checked()
    edge = load_edge(config["edge_model"], config["edge_runtime"])
    names = [m.strip() for m in (config["middle_models"] or "").split(",") if m.strip()]
    middles = [load_edge(name, config["edge_runtime"]) for name in names]
    policy = FailurePolicy(fallback=config["fallback"], deadline_s=config["deadline_s"])
    with _cloud(config) as cloud:
        router = build_router(config, edge, cloud, middles, policy)
        app = create_app(router, settings, health=cloud_health(cloud))
        print(
            f"serving on http://{settings.host}:{settings.port}/v1 (edge {edge.model_name}, "
            f"cloud {cloud.model_name}, threshold {router.threshold:.4f})",
            file=sys.stderr,
        )
        uvicorn.run(app, host=settings.host, port=settings.port, log_level="warning")
