"""Predictive routers on query embeddings (the paper's phase 3): each returns
P(cloud wins | query); saved as safetensors + JSON, never pickled.

A router is one class with `@register` (and a `kind`): `ROUTERS` maps kinds to classes for
`train_router`, `load_router`, `confidence-router train --router` and the benchmarks' grids.
Importing this package imports every module in it, so a new module here registers without
an edit anywhere else; a router defined elsewhere registers when its module is imported.
"""

# isort: off
# The built-in routers register in this order, the order the benchmarks' tables list them in.
from confidence_router.routers.knn import KNNRouter
from confidence_router.routers.mlp import MLPRouter
from confidence_router.routers.sw_ranking import SWRankingRouter
from confidence_router.routers.matrix_factorization import MatrixFactorizationRouter
from confidence_router.routers.random_router import RandomRouter

# isort: on
from confidence_router.registry import import_submodules
from confidence_router.routers.base import (
    ROUTERS,
    EmbeddingRouter,
    Provenance,
    load_router,
    register,
)

import_submodules(__name__, __path__)  # any other router module here registers too

__all__ = [
    "ROUTERS",
    "EmbeddingRouter",
    "KNNRouter",
    "MLPRouter",
    "MatrixFactorizationRouter",
    "Provenance",
    "RandomRouter",
    "SWRankingRouter",
    "load_router",
    "register",
]
