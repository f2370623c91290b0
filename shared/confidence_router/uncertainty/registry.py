"""Estimators by name: `@register_estimator` on an `Estimator` subclass (with a class attribute
`name`) makes `get_estimator(name)`, routers' `estimator="name"` and the CLI's `--estimator`
choices know it. The built-in estimators register when `confidence_router.uncertainty` is
imported (which importing this module does first)."""

from __future__ import annotations

from typing import Any, TypeVar

from confidence_router.registry import Registry
from confidence_router.uncertainty.base import Estimator

E = TypeVar("E", bound=type[Estimator])

# Estimators that can be built with no arguments (`PTrue` then gets the router's edge as its
# scorer, see `Estimator.bind`).
ESTIMATORS: Registry[Estimator] = Registry(Estimator, "name", "estimator")


def register_estimator(cls: E) -> E:
    """Class decorator: make `cls` available by its `name`."""
    return ESTIMATORS.register(cls)


def get_estimator(name: str, **settings: Any) -> Estimator:
    """An estimator by its registered name (`max_sequence_probability`, `perplexity`, ...),
    built with `settings` (none: its defaults)."""
    return ESTIMATORS.create(name, **settings)
