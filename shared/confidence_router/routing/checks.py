"""Settings checks shared by the router, its policy and the calibrations: each names the field."""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence

from confidence_router.errors import ConfigurationError
from confidence_router.generation import MAX_NEW_TOKENS

Band = tuple[float, float]


def check_threshold(value: float, field: str = "threshold") -> float:
    """A threshold must be a real number in [0, 1] (NumPy scalars included)."""
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Real)
        or math.isnan(float(value))
        or not 0.0 <= float(value) <= 1.0
    ):
        raise ConfigurationError(field, f"must be a number in [0, 1], got {value!r}")
    return float(value)


def check_tokens(value: int | None, field: str, optional: bool = False) -> int | None:
    """A token cap: an integer in [1, MAX_NEW_TOKENS] (None allowed when `optional`)."""
    if value is None and optional:
        return None
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Integral)
        or not 1 <= int(value) <= MAX_NEW_TOKENS
    ):
        raise ConfigurationError(
            field, f"must be an integer in [1, {MAX_NEW_TOKENS}], got {value!r}"
        )
    return int(value)


def check_temperature(value: float) -> float:
    """A sampling temperature in (0, 5]."""
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Real)
        or not 0.0 < float(value) <= 5.0
    ):
        raise ConfigurationError("temperature", f"must be a number in (0, 5], got {value!r}")
    return float(value)


def check_band(value: Sequence[float] | None, field: str = "band") -> Band | None:
    """A band is None (no staging) or (low, high) with 0 <= low <= high <= 1."""
    if value is None:
        return None
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence) or len(value) != 2:
        raise ConfigurationError(field, f"must be a pair (low, high) or None, got {value!r}")
    low, high = (check_threshold(v, field) for v in value)
    if low > high:
        raise ConfigurationError(field, f"low must be <= high, got ({low}, {high})")
    return low, high
