"""The routing server's settings: where it listens, who may call it, and its limits."""

from __future__ import annotations

import os

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from confidence_router.errors import ConfigurationError

LOOPBACK = ("127.0.0.1", "localhost", "::1")


class ServeSettings(BaseModel):
    """`host` is loopback unless `allow_remote`; `client_keys` (Bearer tokens, separate from the
    cloud's key; none: no check) may come from `$CONFIDENCE_ROUTER_CLIENT_KEYS` (comma
    separated). Limits: request body bytes, requests being answered at once (more get 429 with
    Retry-After), and each request's wall time (the router's deadline)."""

    model_config = ConfigDict(frozen=True)

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    allow_remote: bool = False
    model_name: str = "confidence-router"
    client_keys: tuple[SecretStr, ...] = ()
    max_body_bytes: int = Field(default=1_000_000, ge=1024)
    max_concurrency: int = Field(default=16, ge=1)
    retry_after_s: int = Field(default=1, ge=1)
    request_timeout_s: float = Field(default=300.0, gt=0)

    def checked(self) -> ServeSettings:
        """Refuses a non-loopback host unless `allow_remote`."""
        if self.host not in LOOPBACK and not self.allow_remote:
            raise ConfigurationError(
                "host", f"binds loopback only unless allow_remote is set, got {self.host!r}"
            )
        return self

    @classmethod
    def keys_from_env(
        cls, variable: str = "CONFIDENCE_ROUTER_CLIENT_KEYS"
    ) -> tuple[SecretStr, ...]:
        """Client keys from an environment variable (comma separated)."""
        raw = os.environ.get(variable, "")
        return tuple(SecretStr(k.strip()) for k in raw.split(",") if k.strip())
