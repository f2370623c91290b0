"""Unit-test fixtures: registries restored after a test that registers extensions."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from confidence_router.routers import ROUTERS
from confidence_router.uncertainty import EQUIVALENCES, ESTIMATORS


@pytest.fixture
def clean_registries() -> Iterator[None]:
    """Whatever a test registers is forgotten after it (other tests see the built-ins only)."""
    saved = [(registry, dict(registry)) for registry in (ESTIMATORS, EQUIVALENCES, ROUTERS)]
    yield
    for registry, before in saved:
        registry.clear()
        registry.update(before)  # type: ignore[arg-type]
