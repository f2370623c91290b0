"""`GET /health`'s check that the cloud answers: its OpenAI-compatible `GET /models`, with a short
timeout, remembered for a few seconds so a busy health probe does not load the cloud."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

import httpx

from confidence_router.models.base import ChatBackend


def cloud_health(cloud: ChatBackend, ttl_s: float = 5.0) -> Callable[[], Awaitable[bool]]:
    """An async check for `create_app(health=...)`: True when the cloud's `/models` answers
    (a backend without a base URL is taken as up)."""
    base_url = getattr(cloud, "base_url", None)
    key = getattr(cloud, "api_key", None)
    seen: dict[str, float | bool] = {"at": -1e9, "ok": False}

    async def check() -> bool:
        if not base_url:
            return True
        if time.monotonic() - float(seen["at"]) < ttl_s:
            return bool(seen["ok"])
        headers = {}
        if key is not None and hasattr(key, "get_secret_value"):
            headers["Authorization"] = f"Bearer {key.get_secret_value()}"
        try:
            async with httpx.AsyncClient(timeout=3.0) as client:
                answer = await client.get(f"{str(base_url).rstrip('/')}/models", headers=headers)
            ok = answer.status_code == 200
        except httpx.HTTPError:
            ok = False
        seen.update(at=time.monotonic(), ok=ok)
        return ok

    return check
