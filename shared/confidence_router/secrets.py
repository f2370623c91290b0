"""Keeping API keys out of everything the library writes: reprs, logs, records, errors."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pydantic import SecretStr

MASK = "**********"
_MIN_SECRET_CHARS = 6  # shorter values ("none", "") are placeholders, not keys


_SECRET_NAMES = ("api_key", "secret", "token", "password")


def secret_values(obj: Any) -> list[str]:
    """The secret strings an object holds: its `SecretStr` attributes or pydantic fields, and
    plain strings in attributes named like a key (`api_key`, `*_token`, `*secret*`, ...)."""
    found: list[str] = []
    names = set(getattr(obj, "__dict__", {})) | set(getattr(type(obj), "model_fields", {}))
    for name in names:
        try:
            value = getattr(obj, name, None)
        except Exception:  # a property that fails holds no secret we can read
            continue
        secret = None
        if isinstance(value, SecretStr):
            secret = value.get_secret_value()
        elif isinstance(value, str) and any(part in name.lower() for part in _SECRET_NAMES):
            secret = value
        if secret is not None and len(secret) >= _MIN_SECRET_CHARS:
            found.append(secret)
    return found


def redact(text: str, secrets: Iterable[str]) -> str:
    """`text` with every occurrence of each secret replaced by a mask."""
    for secret in secrets:
        if len(secret) >= _MIN_SECRET_CHARS:
            text = text.replace(secret, MASK)
    return text
