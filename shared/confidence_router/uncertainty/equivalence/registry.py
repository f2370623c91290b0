"""Equivalences by name: `@register_equivalence` on an `Equivalence` subclass (with a class
attribute `name`) makes `get_equivalence(name)`, `SemanticEntropy(equivalence="name")` and the
CLI's `--equivalence` choices know it. The built-in ones register when
`confidence_router.uncertainty.equivalence` is imported (which importing this module does
first)."""

from __future__ import annotations

from typing import Any, TypeVar

from confidence_router.registry import Registry
from confidence_router.uncertainty.equivalence.base import Equivalence

Q = TypeVar("Q", bound=type[Equivalence])

EQUIVALENCES: Registry[Equivalence] = Registry(Equivalence, "name", "equivalence")


def register_equivalence(cls: Q) -> Q:
    """Class decorator: make `cls` available by its `name`."""
    return EQUIVALENCES.register(cls)


def get_equivalence(name: str, **settings: Any) -> Equivalence:
    """An equivalence by its registered name (`answer`, `embedding`, `llm`, `nli`), built with
    `settings` (e.g. `judge=` for `llm`, `model_path=` for `nli`; none: its defaults)."""
    return EQUIVALENCES.create(name, **settings)
