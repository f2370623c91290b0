"""`confidence-router serve`: the router behind an OpenAI-compatible HTTP API (FastAPI, the
`[serve]` extra). `create_app(router, settings)` builds the app; `ServeSettings` holds its
limits and keys; the CLI command (`command.py`) builds the router from flags or a config file."""

from __future__ import annotations

from typing import Any

__all__ = ["ServeSettings", "create_app"]


def __getattr__(name: str) -> Any:
    # FastAPI loads only when a server is made: the CLI lists `serve` without it installed
    if name == "create_app":
        from confidence_router.serve.app import create_app

        return create_app
    if name == "ServeSettings":
        from confidence_router.serve.settings import ServeSettings

        return ServeSettings
    raise AttributeError(name)
