"""The hyper-parameter grids of the routers `paper_table1.py` trains (both parts), read from
the router registry: every registered router with a non-empty `grid`, in registration order;
each router's setting is picked from its grid inside the training data only."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from confidence_router.routers import ROUTERS, EmbeddingRouter


def grids() -> dict[str, list[Callable[[], EmbeddingRouter]]]:
    """Kind -> one constructor per setting of the router's `grid` (registered routers now)."""
    return {
        kind: [partial(cls, **settings) for settings in cls.grid]
        for kind, cls in ROUTERS.items()
        if cls.grid
    }


GRIDS = grids()
